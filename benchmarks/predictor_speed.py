"""Speed of the predictors: fitting on an LDE-sized training set, and scoring many architectures.

Builds a synthetic LDE shaped like the default one (``--datasets`` x ``--archs`` experiments on
16x16 inputs, :func:`tapaskit.predictor.synthetic.synthetic_lde`), fits TAP (one network) and the
toolkit's default predictor (the ensemble ``tapas search`` fits) on all of it, and fits the
default predictor once more on the default LDE's own DCN window (the shipped
``default_lde.parquet``, the window around the median DCN, as a search of such a dataset would).
Then it scores ``--score`` fresh random architectures (Architecture objects, as a search
controller hands them over): encoding only, TAP's networks on an encoded frame, TAP's whole
``predict`` and the default predictor's whole ``predict`` (encoding included), and both with
``return_std=True``. With ``--metaqnn PATH`` it also times TAP on the MetaQNN CSV's (longer)
networks. With ``--proxies N`` (40) it times the five zero-cost proxies of ``N`` sampled networks
on Fashion-MNIST at 28x28 (batch 64, ``--threads`` torch threads), all of them and those within
the ``cpu`` preset's 10M-FLOP budget (target: <= 30 ms a network). Prints one JSON object (and
writes it to ``--out``); the headline figures are under ``"headline"``.

Every rate is the best of ``--repeats`` runs, as wall-clock architectures per second and per
CPU-second of this process (``cpu_per_s``: the same count over ``time.process_time``, which
counts both threads): on a machine shared with other work the wall clock says more about the
neighbours than about the code, so the load average before and after is reported too.

Targets on 2 CPU cores (issue 18): scoring >= 100,000 architectures/s for the default predictor
and >= 150,000/s for TAP alone, encoding included; the default predictor fitted on the default
LDE in <= 15 s.

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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tapaskit.predictor import (  # noqa: E402 - after the path set-up
    DEFAULT_PREDICTOR,
    TAPRegressor,
    architecture_frame,
    encode_frame,
    seeded_predictor,
    select_training_set,
)
from tapaskit.predictor.synthetic import synthetic_lde  # noqa: E402
from tapaskit.space.sampler import ArchitectureSampler  # noqa: E402

DEFAULT_LDE = Path(__file__).resolve().parents[1] / "lde" / "default" / "default_lde.parquet"


def _best(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeats`` calls, and the last result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        tick, cpu_tick = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - tick)
        cpu = min(cpu, time.process_time() - cpu_tick)
    return wall, cpu, result


def _rate(n: int, fn, repeats: int) -> dict[str, float]:
    wall, cpu, _ = _best(fn, repeats)
    return {"per_s": n / wall, "cpu_per_s": n / cpu, "seconds": wall}


def _timed_fit(model, frame) -> dict[str, float]:
    tick, cpu_tick = time.perf_counter(), time.process_time()
    model.fit(frame, frame["peak_accuracy"])
    return {"fit_seconds": time.perf_counter() - tick,
            "fit_cpu_seconds": time.process_time() - cpu_tick, "experiments": len(frame)}


def score_rates(model, frame, repeats: int) -> dict[str, object]:
    """Architectures per second: encoding only, the model alone (TAP), both, and with the std."""
    n = len(frame)
    _, _, encoded = _best(lambda: encode_frame(frame), 1)
    out: dict[str, object] = {"architectures": n, "mean_steps": float(encoded.lengths.mean()),
                              "encode": _rate(n, lambda: encode_frame(frame), repeats)}
    if isinstance(model, TAPRegressor):
        out["predict_without_encoding"] = _rate(n, lambda: model.predict_encoded(encoded), repeats)
    model.predict(frame)  # the ensemble's reference networks are scored once per context
    out["predict_with_encoding"] = _rate(n, lambda: model.predict(frame), repeats)
    out["predict_with_std"] = _rate(n, lambda: model.predict(frame, return_std=True), repeats)
    return out


def proxy_cost(n: int, seed: int, threads: int) -> dict[str, object]:
    """Milliseconds per network of the five zero-cost proxies (batch 64, 28x28, CPU, ``threads``
    torch threads) on networks the sampler draws, all of them and those within the ``cpu``
    preset's FLOP budget (10M)."""
    from tapaskit.datasets import load_dataset
    from tapaskit.space.shapes import infer_shapes
    from tapaskit.training.zero_cost import compute_proxies, proxy_batch

    dataset = load_dataset("fashion-mnist[n=4500]")
    batch = proxy_batch(dataset)
    nets = ArchitectureSampler(seed=seed + 2).sample_many(n, dataset.input_shape, dataset.num_classes)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        compute_proxies(nets[0], batch=batch)  # warm-up
        ms = np.array([1000 * compute_proxies(a, batch=batch).seconds for a in nets])
    finally:
        torch.set_num_threads(before)
    flops = np.array([infer_shapes(a, dataset.input_shape, dataset.num_classes).flops for a in nets])

    def summary(values: np.ndarray) -> dict[str, float]:
        return {"networks": int(len(values)), "median_ms": round(float(np.median(values)), 1),
                "mean_ms": round(float(np.mean(values)), 1), "p90_ms": round(float(np.quantile(values, 0.9)), 1)}

    return {"dataset": "fashion-mnist[n=4500]", "batch": int(batch.x.shape[0]), "threads": threads,
            "all_sampled": summary(ms),
            "within_10M_flops": summary(ms[flops <= 10_000_000]) if np.any(flops <= 10_000_000) else None}


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
    parser.add_argument("--proxies", type=int, default=40,
                        help="networks whose zero-cost proxies are timed on Fashion-MNIST at 28x28 (0: skip)")
    args = parser.parse_args(argv)

    result: dict[str, object] = {"machine": platform.machine(), "cpus": os.cpu_count(),
                                 "torch": torch.__version__, "threads": args.threads,
                                 "load_average_before": os.getloadavg()}
    store = synthetic_lde(n_datasets=args.datasets, n_archs=args.archs, seed=args.seed)
    train = store.query()
    archs = ArchitectureSampler(seed=args.seed + 1).sample_many(args.score, (1, 16, 16), 10)
    candidates = architecture_frame(archs, input_shape=(1, 16, 16), num_classes=10, dcn=0.4)

    tap = TAPRegressor(seed=args.seed, n_threads=args.threads)
    result["tap"] = {**_timed_fit(tap, train), "hyperparameters": tap.get_params(),
                     "scoring": score_rates(tap, candidates, args.repeats)}

    default = seeded_predictor(DEFAULT_PREDICTOR, args.seed)
    result["default_predictor"] = {"name": DEFAULT_PREDICTOR, **_timed_fit(default, train),
                                   "hyperparameters": default.signature(),
                                   "scoring": score_rates(default, candidates, args.repeats)}
    if DEFAULT_LDE.is_file():
        import pandas as pd

        frame = pd.read_parquet(DEFAULT_LDE)
        frame = frame[(frame["status"] == "ok") & frame["peak_accuracy"].notna()]
        dcn = float(frame.groupby("dataset_name")["dcn"].first().median())
        window = select_training_set(frame, dcn)
        fitted = seeded_predictor(DEFAULT_PREDICTOR, args.seed)
        result["default_predictor"]["default_lde"] = {
            "dcn": dcn, "tau_used": window.tau,
            "datasets": int(window.frame["dataset_name"].nunique()), **_timed_fit(fitted, window.frame)}

    if args.metaqnn is not None:
        from lde import MemoryStore

        from tapaskit.predictor.encoding import architecture_from_json
        from tapaskit.store.metaqnn_import import import_metaqnn

        meta_store = MemoryStore()
        import_metaqnn(meta_store, args.metaqnn)
        frame = meta_store.query()
        meta_tap = TAPRegressor(seed=args.seed, n_threads=args.threads)
        fit = _timed_fit(meta_tap, frame)
        nets = [architecture_from_json(t) for t in frame["arch_json"]]
        many = (nets * (args.score // len(nets) + 1))[: args.score]
        meta_candidates = architecture_frame(many, input_shape=(3, 32, 32), num_classes=10)
        result["metaqnn"] = {**fit, "scoring": score_rates(meta_tap, meta_candidates, args.repeats)}

    if args.proxies:
        result["proxies"] = proxy_cost(args.proxies, args.seed, args.threads)

    default_info = result["default_predictor"]
    result["headline"] = {
        "default_predictor_scoring_per_s": default_info["scoring"]["predict_with_encoding"]["per_s"],
        "default_predictor_scoring_cpu_per_s":
            default_info["scoring"]["predict_with_encoding"]["cpu_per_s"],
        "tap_scoring_per_s": result["tap"]["scoring"]["predict_with_encoding"]["per_s"],
        "tap_scoring_cpu_per_s": result["tap"]["scoring"]["predict_with_encoding"]["cpu_per_s"],
        "encode_per_s": result["tap"]["scoring"]["encode"]["per_s"],
        "default_predictor_fit_seconds": default_info["fit_seconds"],
        "default_predictor_fit_seconds_default_lde": default_info.get("default_lde", {}).get(
            "fit_seconds"),
    }
    result["load_average_after"] = os.getloadavg()
    emit_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
