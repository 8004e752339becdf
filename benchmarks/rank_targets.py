"""Do predictors rank held-out datasets' networks better when trained on within-dataset ranks?

Scenario C of `tapas benchmark predictor` (each dataset held out in turn, the DCN window around it
as training set), on the LDE's own networks (``seen``) and on architectures the predictor never
saw (``unseen``, the benchmark's two architecture folds). Each of TAP and LightGBM is fitted twice
on the same rows: on the accuracy (as shipped) and on each network's percentile rank within its
own dataset (``rank``), which drops every dataset's level and spread from the target.

A rank model says nothing of the accuracy level, so ``mix_rank_mapped`` turns the 2 : 1 TAP :
LightGBM mix of rank scores back into accuracies without depending on the batch: the window's
distinct architectures, put in the held-out dataset's context, are scored by both mixes; a test
network's rank score is placed in the reference networks' rank scores (empirical CDF) and given
the accuracy of that quantile of the reference networks' predicted accuracies (``mix_acc``, the
2 : 1 mix of the accuracy models, as the default ensemble with one TAP seed).
``mix_rank_mapped_by_lightgbm`` takes the levels from LightGBM's accuracy model alone, which
would spare fitting the TAP networks twice.

    python benchmarks/rank_targets.py --out out/rank_targets.json

Prints one JSON object with mean Kendall tau and MAE per regime and variant, and per dataset.
About 12 minutes on 2 CPU cores (78 TAP fits); ``--quick`` fits LightGBM only (seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_output import emit_json  # noqa: E402

from tapaskit.store import open_lde  # noqa: E402 - after the path set-up
from tapaskit.predictor import make_predictor, select_training_set, unseen_architecture_folds  # noqa: E402
from tapaskit.predictor.metrics import kendall_tau  # noqa: E402

CONTEXT = ("dcn", "num_classes", "in_channels", "in_height", "in_width", "dataset_name")


def percentile_ranks(frame: pd.DataFrame) -> np.ndarray:
    """Each row's accuracy as a percentile rank (0, 1] within its own dataset."""
    return frame["peak_accuracy"].groupby(frame["dataset_name"].to_numpy()).rank(pct=True).to_numpy()


def quantile_map(score: np.ndarray, reference_score: np.ndarray, reference_value: np.ndarray) -> np.ndarray:
    """The ``reference_value`` quantile at each score's position among ``reference_score``."""
    position = np.searchsorted(np.sort(reference_score), score, side="right") / len(reference_score)
    return np.quantile(reference_value, np.clip(position, 0.0, 1.0))


def fold_predictions(train: pd.DataFrame, test: pd.DataFrame, models: list[str], seed: int) -> dict[str, np.ndarray]:
    reference = train.drop_duplicates("arch_hash").copy()
    for column in CONTEXT:
        reference[column] = test[column].iloc[0]
    y_acc, y_rank = train["peak_accuracy"].to_numpy(), percentile_ranks(train)
    out: dict[str, np.ndarray] = {}
    for name in models:
        for target, y in (("", y_acc), ("_rank", y_rank)):
            model = make_predictor(name, seed=seed).fit(train, y)
            out[name + target] = model.predict(test)
            out[f"ref:{name}{target}"] = model.predict(reference)
    if len(models) == 2:
        weights = {"tap": 2.0, "lightgbm": 1.0}
        for target in ("", "_rank"):
            for prefix in ("", "ref:"):
                out[f"{prefix}mix{target or '_acc'}"] = sum(
                    weights[m] * out[f"{prefix}{m}{target}"] for m in models) / 3.0
        out["mix_rank_mapped"] = quantile_map(out["mix_rank"], out["ref:mix_rank"], out["ref:mix_acc"])
        # the same with LightGBM alone for the level: half the fitting time of two full mixes
        out["mix_rank_mapped_by_lightgbm"] = quantile_map(out["mix_rank"], out["ref:mix_rank"],
                                                          out["ref:lightgbm"])
    for name in models:
        out[f"{name}_rank_mapped"] = quantile_map(out[f"{name}_rank"], out[f"ref:{name}_rank"], out[f"ref:{name}"])
    return {k: v for k, v in out.items() if not k.startswith("ref:")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lde", type=Path, default=None, help="LDE file (default: the data home's)")
    parser.add_argument("--regimes", default="seen,unseen")
    parser.add_argument("--quick", action="store_true", help="LightGBM only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    models = ["lightgbm"] if args.quick else ["tap", "lightgbm"]
    frame = open_lde(args.lde).query()
    frame = frame[(frame["status"].astype(object) == "ok") & frame["dcn"].notna()]
    names = sorted(frame["dataset_name"].unique())
    started, report = time.perf_counter(), {}
    for regime in args.regimes.split(","):
        per_dataset: dict[str, dict[str, dict[str, float | None]]] = {}
        for name in names:
            test = frame[frame["dataset_name"] == name]
            train = select_training_set(frame, float(test["dcn"].iloc[0]), exclude=name).frame
            pairs = [(train, test)] if regime == "seen" else unseen_architecture_folds(train, test, seed=args.seed)
            scores: dict[str, list[tuple[float, float]]] = {}
            for fold_train, fold_test in pairs:
                truth = fold_test["peak_accuracy"].to_numpy()
                for variant, pred in fold_predictions(fold_train, fold_test, models, args.seed).items():
                    scores.setdefault(variant, []).append(
                        (kendall_tau(truth, pred), float(np.mean(np.abs(pred - truth)))))
            per_dataset[name] = {
                variant: {"kendall_tau": float(np.mean([t for t, _ in s])),
                          # a raw rank score is no accuracy: its MAE means nothing
                          "mae": None if variant.endswith("_rank") else float(np.mean([m for _, m in s]))}
                for variant, s in scores.items()}
            print(f"{regime} {name}: " + ", ".join(f"{v} {d['kendall_tau']:.3f}" for v, d in per_dataset[name].items()),
                  file=sys.stderr, flush=True)
        variants = list(next(iter(per_dataset.values())))
        report[regime] = {
            "mean": {v: {"kendall_tau": round(float(np.mean([per_dataset[n][v]["kendall_tau"] for n in names])), 4),
                         "mae": None if v.endswith("_rank") else
                         round(float(np.mean([per_dataset[n][v]["mae"] for n in names])), 4)} for v in variants},
            "per_dataset": per_dataset}
    emit_json({"lde": str(args.lde or "default"), "datasets": len(names), "models": models, "seed": args.seed,
               "results": report, "seconds": round(time.perf_counter() - started, 1)}, args.out)


if __name__ == "__main__":
    main()
