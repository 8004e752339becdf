"""Warm refit against full refit between a search's rounds, on the default LDE. Prints JSON.

For each held-out dataset (its family out of the window, as scenario F), the default predictor is
fitted on the DCN window of the other families; then ``--trained`` of the dataset's networks are
"trained" (their measured accuracies added, each repeated ``TARGET_WEIGHT`` times, as a search's
refit does) and the predictor refits twice: in full, and warm (TAP kept from the first fit, trees
and level model refitted: ``EnsemblePredictor.refit``). Reported per dataset and on average: the
Kendall τ and MAE on the dataset's other networks after the first fit and after each refit, and
each refit's seconds.

    python benchmarks/warm_refit.py --datasets 4 --trained 6
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from tapaskit.predictor import family_of, select_training_set
from tapaskit.predictor.cache import TARGET_WEIGHT, weight_target_rows
from tapaskit.predictor.registry import DEFAULT_PREDICTOR, seeded_predictor
from tapaskit.store import open_lde


def _scores(model, rows: pd.DataFrame) -> dict[str, float]:
    predicted = model.predict(rows)
    truth = rows["peak_accuracy"].to_numpy()
    return {"kendall_tau": round(float(kendalltau(predicted, truth)[0]), 4),
            "mae": round(float(np.mean(np.abs(predicted - truth))), 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=4, help="held-out datasets (spread over the DCN range)")
    parser.add_argument("--trained", type=int, default=6, help="networks of the target 'trained' before the refit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = open_lde().query()
    frame = frame[frame["dcn"].notna()]
    names = frame.groupby("dataset_name")["dcn"].first().sort_values()
    names = names[frame.groupby("dataset_name").size().reindex(names.index) >= 30]
    chosen = names.index[np.linspace(0, len(names) - 1, args.datasets).round().astype(int)].unique()
    rng = np.random.default_rng(args.seed)
    runs = []
    for name in chosen:
        target = frame[frame["dataset_name"] == name].reset_index(drop=True)
        others = frame[frame["dataset_name"].map(family_of) != family_of(name)]
        window = select_training_set(others, float(names[name])).frame
        first = seeded_predictor(DEFAULT_PREDICTOR, args.seed).fit(window, window["peak_accuracy"].to_numpy())
        picked = rng.choice(len(target), size=args.trained, replace=False)
        rest = target.drop(index=picked)
        train = weight_target_rows(window, target.iloc[picked], TARGET_WEIGHT)
        y = train["peak_accuracy"].to_numpy()
        began = time.perf_counter()
        full = seeded_predictor(DEFAULT_PREDICTOR, args.seed).fit(train, y)
        full_seconds = time.perf_counter() - began
        began = time.perf_counter()
        warm = first.refit(train, y)
        warm_seconds = time.perf_counter() - began
        runs.append({"dataset": name, "first_fit": _scores(first, rest), "full_refit": _scores(full, rest),
                     "warm_refit": _scores(warm, rest), "full_refit_seconds": round(full_seconds, 2),
                     "warm_refit_seconds": round(warm_seconds, 2)})
    mean = {kind: {metric: round(float(np.mean([r[kind][metric] for r in runs])), 4) for metric in ("kendall_tau", "mae")}
            for kind in ("first_fit", "full_refit", "warm_refit")}
    mean.update({f"{kind}_seconds": round(float(np.mean([r[f"{kind}_seconds"] for r in runs])), 2)
                 for kind in ("full_refit", "warm_refit")})
    report = {"predictor": DEFAULT_PREDICTOR, "trained": args.trained, "target_weight": TARGET_WEIGHT,
              "mean": mean, "datasets": runs}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
