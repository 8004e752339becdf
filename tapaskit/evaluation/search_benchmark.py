"""``tapas benchmark search``: does TAP pick good networks on a dataset it has never seen?

For each dataset of the LDE (held out in turn, as in predictor scenario C):

1. the predictor is fitted on the experiments of the *other* datasets whose DCN lies within τ of
   the held-out one (widened when too few);
2. the candidates are restricted to the held-out dataset's trained pool, so the truth is known;
3. TAP's picks: the ``picks`` pool networks with the highest predicted accuracy. On a finite pool
   the exhaustive ranking is what every strategy (REINFORCE, evolution, random search) converges
   to when it maximises the same predictor, so it is the strategy-independent measure of how good
   the reward is; the strategies themselves are compared in the open space by ``tapas search``'s
   summary (last-quarter reward against random sampling at equal budget);
4. the score: the best *true* accuracy among the picks as a percentile of the pool (100 = the
   pool's best), against ``picks`` random picks (the expectation over many draws).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lde import ExperimentStore

from tapaskit.checks import check_int, check_number
from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor import (
    DEFAULT_PREDICTOR,
    DEFAULT_TAU,
    make_predictor,
    seeded_predictor,
    select_training_set,
    unseen_architecture_folds,
)
from tapaskit.tracking import Tracker


def percentile_of(pool: np.ndarray, value: float) -> float:
    """Share of the pool (in %) whose accuracy is at most ``value``."""
    return float(np.mean(pool <= value) * 100.0)


def random_picks_percentile(pool: np.ndarray, picks: int, rng: np.random.Generator, draws: int = 2000) -> float:
    """Expected percentile of the best of ``picks`` random pool networks (Monte Carlo)."""
    order = np.sort(pool)
    ranks = np.searchsorted(order, pool, side="right") / len(pool) * 100.0
    choice = np.argsort(rng.random((draws, len(pool))), axis=1)[:, :picks]
    return float(ranks[choice].max(axis=1).mean())


def _pick(predictor: str, seed: int, train: Any, pool: Any, picks: int,
          rng: np.random.Generator) -> dict[str, float]:
    """Fit on ``train``, pick the ``picks`` best-predicted networks of ``pool``, score them."""
    model = seeded_predictor(predictor, seed)
    model.fit(train, train["peak_accuracy"].to_numpy())
    truth = pool["peak_accuracy"].to_numpy(dtype=float)
    predicted = np.asarray(model.predict(pool), dtype=float)
    best = float(truth[np.argsort(-predicted, kind="stable")[:picks]].max())
    return {"pool": len(pool), "train_experiments": len(train), "tap_best_true_accuracy": best,
            "pool_best_accuracy": float(truth.max()),
            "tap_best_percentile": percentile_of(truth, best),
            "random_best_percentile": random_picks_percentile(truth, picks, rng)}


def run_search_benchmark(
    store: ExperimentStore,
    *,
    predictor: str = DEFAULT_PREDICTOR,
    tau: float = DEFAULT_TAU,
    picks: int = 5,
    min_pool: int = 20,
    seed: int = 0,
    unseen_architectures: bool = False,
    track: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-dataset-out pick quality of a predictor; see the module docstring.

    Args:
        unseen_architectures: pick from pools of architectures the predictor never saw.

    Returns:
        ``{"per_dataset": {name: {...}}, "tap_best_percentile_mean", "random_best_percentile_mean", ...}``.

    Raises:
        DataError: fewer than 2 datasets with a DCN and at least ``min_pool`` experiments.
        InvalidOptionError: ``picks`` or ``min_pool`` below 1, ``picks`` above every pool, or a
            negative ``tau``.
    """
    picks, min_pool = check_int("picks", picks), check_int("min_pool", min_pool)
    check_number("tau", tau, 0.0)
    make_predictor(predictor)  # an unknown name fails before any fit
    started = time.perf_counter()
    frame = store.query()
    frame = frame[frame["dcn"].notna()]
    sizes = frame.groupby("dataset_fingerprint").size()
    held_out = [fp for fp, n in sizes.items() if n >= min_pool]
    if len(held_out) < 2:
        raise DataError(f"the search benchmark needs >= 2 datasets with a DCN and >= {min_pool} "
                        f"experiments each, but the LDE has {len(held_out)}")
    largest = max(held_out, key=lambda fp: sizes[fp])
    if picks > sizes[largest]:  # every pick list would be its whole pool: refuse before any fit
        name = frame.loc[frame["dataset_fingerprint"] == largest, "dataset_name"].iloc[0]
        raise InvalidOptionError(
            f"picks must be at most the largest pool, the {sizes[largest]} trained networks of "
            f"{name}, but got {picks}")
    rng = np.random.default_rng(seed)
    per_dataset: dict[str, dict[str, Any]] = {}
    for i, fingerprint in enumerate(held_out):
        pool = frame[frame["dataset_fingerprint"] == fingerprint]
        name = str(pool["dataset_name"].iloc[0])
        if progress:
            progress(name, i, len(held_out))
        others = frame[frame["dataset_fingerprint"] != fingerprint]
        dcn = float(pool["dcn"].iloc[0])
        selection = select_training_set(others, dcn, tau)
        pairs = (unseen_architecture_folds(selection.frame, pool, seed=seed)
                 if unseen_architectures else [(selection.frame, pool)])
        folds = [_pick(predictor, seed, train, part, picks, rng) for train, part in pairs]
        per_dataset[name] = {
            "dcn": dcn, "pool": int(np.mean([f["pool"] for f in folds])), "tau_used": selection.tau,
            "train_experiments": int(np.mean([f["train_experiments"] for f in folds])),
            **{key: float(np.mean([f[key] for f in folds]))
               for key in ("tap_best_true_accuracy", "pool_best_accuracy", "tap_best_percentile",
                           "random_best_percentile")},
        }
    tap = [d["tap_best_percentile"] for d in per_dataset.values()]
    rand = [d["random_best_percentile"] for d in per_dataset.values()]
    report = {
        "predictor": predictor, "picks": picks, "tau": tau, "datasets": len(per_dataset),
        "unseen_architectures": unseen_architectures,
        "tap_best_percentile_mean": float(np.mean(tap)), "random_best_percentile_mean": float(np.mean(rand)),
        "tap_at_or_above_95th": int(sum(p >= 95 for p in tap)),
        "per_dataset": per_dataset, "seconds": time.perf_counter() - started,
    }
    if track:
        with Tracker().run("benchmark", "benchmark search", {"predictor": predictor, "picks": picks, "tau": tau,
                                                              "seed": seed,
                                                              "unseen_architectures": unseen_architectures}) as run:
            run.log_metrics({"tap_best_percentile_mean": report["tap_best_percentile_mean"],
                             "random_best_percentile_mean": report["random_best_percentile_mean"]})
            run.log_dict(report, "search_benchmark.json")
        report["mlflow_run_id"] = run.run_id
    return report

