"""Speed of TAP: fitting on an LDE-sized training set, and scoring many architectures.

Builds a synthetic LDE shaped like the default one (``--datasets`` x ``--archs`` experiments on
16x16 inputs, :func:`tapaskit.predictor.synthetic.synthetic_lde`), times ``TAPRegressor.fit`` on
all of it, then scores ``--score`` fresh random architectures (Architecture objects, as a search
controller hands them over) three ways: encoding only, prediction of an already encoded frame,
and the whole ``predict`` (encoding included). The toolkit's default predictor (the ensemble that
``tapas search`` fits) is timed the same way, fit and whole ``predict``. With ``--metaqnn PATH``
it also times the fit on the MetaQNN CSV and scoring its (longer) networks. Prints one JSON object
(and writes it to ``--out``).

Targets on 2 CPU cores: fit on 2,000-3,000 experiments <= 60 s; >= 20,000 architectures/s.
Wall times depend on what else runs on the machine, so the load average is reported too.

    python benchmarks/predictor_speed.py --out out/predictor_speed.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from bench_output import emit_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from tapaskit.predictor import (  # noqa: E402 - after the path set-up
    DEFAULT_PREDICTOR,
    TAPRegressor,
    architecture_frame,
    encode_frame,
    seeded_predictor,
)
from tapaskit.predictor.synthetic import synthetic_lde  # noqa: E402
from tapaskit.space.sampler import ArchitectureSampler  # noqa: E402


def _best(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        tick = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - tick)
    return best, result


def score_rates(tap: TAPRegressor, frame, repeats: int) -> dict[str, float]:
    """Architectures per second: encoding only, model only, both."""
    n = len(frame)
    t_encode, encoded = _best(lambda: encode_frame(frame), repeats)
    t_model, _ = _best(lambda: tap.predict_encoded(encoded), repeats)
    t_total, _ = _best(lambda: tap.predict(frame), repeats)
    return {"architectures": n, "mean_steps": float(encoded.lengths.mean()),
            "encode_per_s": n / t_encode, "predict_without_encoding_per_s": n / t_model,
            "predict_with_encoding_per_s": n / t_total, "predict_with_encoding_seconds": t_total}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=12)
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--score", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="TAP's torch threads (<= 2 here)")
    parser.add_argument("--metaqnn", type=Path, default=None, help="MetaQNN CSV to time as well")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    result: dict[str, object] = {"machine": platform.machine(), "cpus": os.cpu_count(),
                                 "torch": torch.__version__, "threads": args.threads}
    store = synthetic_lde(n_datasets=args.datasets, n_archs=args.archs, seed=args.seed)
    train = store.query()
    tap = TAPRegressor(seed=args.seed, n_threads=args.threads)
    tick = time.perf_counter()
    tap.fit(train, train["peak_accuracy"])
    result["synthetic"] = {"experiments": len(train), "fit_seconds": time.perf_counter() - tick,
                           "hyperparameters": tap.get_params()}
    archs = ArchitectureSampler(seed=args.seed + 1).sample_many(args.score, (1, 16, 16), 10)
    candidates = architecture_frame(archs, input_shape=(1, 16, 16), num_classes=10, dcn=0.4)
    result["synthetic"]["scoring"] = score_rates(tap, candidates, args.repeats)

    default = seeded_predictor(DEFAULT_PREDICTOR, args.seed)
    tick = time.perf_counter()
    default.fit(train, train["peak_accuracy"])
    fit_seconds = time.perf_counter() - tick
    t_total, _ = _best(lambda: default.predict(candidates), args.repeats)
    result["default_predictor"] = {"name": DEFAULT_PREDICTOR, "experiments": len(train),
                                   "fit_seconds": fit_seconds,
                                   "predict_with_encoding_per_s": len(candidates) / t_total,
                                   "hyperparameters": default.get_params()}

    if args.metaqnn is not None:
        from lde import MemoryStore

        from tapaskit.store.metaqnn_import import import_metaqnn

        meta_store = MemoryStore()
        import_metaqnn(meta_store, args.metaqnn)
        frame = meta_store.query()
        meta_tap = TAPRegressor(seed=args.seed, n_threads=args.threads)
        tick = time.perf_counter()
        meta_tap.fit(frame, frame["peak_accuracy"])
        fit_seconds = time.perf_counter() - tick
        from tapaskit.predictor import architecture_frame as frame_of
        from tapaskit.predictor.encoding import architecture_from_json

        nets = [architecture_from_json(t) for t in frame["arch_json"]]
        many = (nets * (args.score // len(nets) + 1))[: args.score]
        candidates = frame_of(many, input_shape=(3, 32, 32), num_classes=10)
        result["metaqnn"] = {"experiments": len(frame), "fit_seconds": fit_seconds,
                             "scoring": score_rates(meta_tap, candidates, args.repeats)}
    result["load_average"] = os.getloadavg()
    emit_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
