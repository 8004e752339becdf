"""Would a larger LightGBM (more leaves, more trees) rank held-out datasets' networks better?

LightGBM is a baseline of `tapas benchmark predictor` and a member of the default ensemble, where
it learns each network's percentile rank within its dataset. This script fits each LightGBM
variant both ways, on the accuracy (``acc:<variant>``, the baseline) and on ranks
(``rank:<variant>``: an ``EnsemblePredictor(members=[("lightgbm", variant)], target="rank")``, i.e. the
ensemble's LightGBM member alone, mapped back to accuracies as the ensemble does), through the
benchmark itself:

- scenario C on the default LDE, on the LDE's own networks (``seen``) and on architectures the
  predictor never saw (``unseen``, the benchmark's two architecture folds);
- with ``--metaqnn CSV``: scenario A on that file, 50/50 splits with seeds 0, 1, 2.

    python benchmarks/lightgbm_capacity.py --metaqnn ../shared/data/metaqnn_cifar10.csv --out out/lgb.json

Prints one JSON object: mean Kendall tau and MAE per regime and variant (and per seed for
MetaQNN). About 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_output import emit_json  # noqa: E402

from lde import MemoryStore  # noqa: E402 - after the path set-up
from tapaskit.store import open_lde  # noqa: E402
from tapaskit.store.metaqnn_import import import_metaqnn  # noqa: E402
from tapaskit.predictor import EnsemblePredictor  # noqa: E402
from tapaskit.predictor.baselines import LightGBMPredictor  # noqa: E402
from tapaskit.evaluation.predictor_benchmark import run_predictor_benchmark  # noqa: E402

#: LightGBM parameters of each variant, over the toolkit's defaults (500 trees, 15 leaves).
VARIANTS: dict[str, dict[str, int]] = {
    "default": {},
    "leaves_7": {"num_leaves": 7},
    "leaves_31": {"num_leaves": 31},
    "leaves_63": {"num_leaves": 63},
    "trees_1500": {"n_estimators": 1500},
}


def predictors() -> dict:
    out = {}
    for name, params in VARIANTS.items():
        out[f"acc:{name}"] = LightGBMPredictor(**params)
        out[f"rank:{name}"] = EnsemblePredictor(members=[("lightgbm", LightGBMPredictor(**params))],
                                                weights=(1.0,), target="rank")
    return out


def summary(report: dict, scenario: str) -> dict[str, dict[str, float]]:
    return {name: {"kendall_tau": round(v["kendall_tau_mean"], 4), "mae": round(v["mae_mean"], 4)}
            for name, v in report["scenarios"][scenario]["predictors"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lde", type=Path, default=None, help="LDE file (default: the data home's)")
    parser.add_argument("--regimes", default="seen,unseen", help="of scenario C on the LDE; '' for none")
    parser.add_argument("--metaqnn", type=Path, default=None, help="MetaQNN CSV for scenario A")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    started, results = time.perf_counter(), {}
    regimes = [r for r in args.regimes.split(",") if r]
    if regimes:
        store = open_lde(args.lde)
        for regime in regimes:
            report = run_predictor_benchmark(store, scenarios="C", predictors=predictors(),
                                             unseen_architectures=regime == "unseen", track=False)
            results[f"C_{regime}"] = summary(report, "C")
            print(f"C {regime} done", file=sys.stderr, flush=True)
    if args.metaqnn is not None:
        store = MemoryStore()
        import_metaqnn(store, args.metaqnn)
        per_seed = {seed: summary(run_predictor_benchmark(store, scenarios="A", predictors=predictors(),
                                                          seed=seed, track=False), "A")
                    for seed in (0, 1, 2)}
        names = list(per_seed[0])
        results["metaqnn_A"] = {
            "mean": {n: {m: round(sum(per_seed[s][n][m] for s in per_seed) / len(per_seed), 4)
                         for m in ("kendall_tau", "mae")} for n in names},
            "per_seed": per_seed}
    emit_json({"lde": str(args.lde or "default"), "variants": VARIANTS, "results": results,
               "seconds": round(time.perf_counter() - started, 1)}, args.out)


if __name__ == "__main__":
    main()
