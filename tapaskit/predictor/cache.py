"""Fitted predictors cached in the data home, so a repeated search does not refit.

:func:`fit_predictor` selects the LDE experiments in the DCN window (widened when too small),
fits the named predictor on them and keeps it in ``<data home>/predictors/`` under a key made of
the window's experiments, their accuracies, the predictor's name, tau and its hyperparameters
(its members' included, so a toolkit whose defaults changed refits). Only predictors that can be
saved (:class:`~tapaskit.predictor.persistence.SavablePredictor`) are cached.

Refits between a search's rounds (``target_weight``) learn from the target dataset's own
experiments too, and give them more weight than the other datasets' (:func:`weight_target_rows`):
each of the target's rows is repeated ``target_weight`` times (:data:`TARGET_WEIGHT`, 10), at most
until the target's rows are half of the training set. Repetition works with every predictor (none
needs a ``sample_weight``), and with the default ensemble's rank target it also makes the target
one group of its own, ranked against itself. What the weight buys is measured by
``tapas benchmark search`` (docs/search.md, "Rounds").

A refit of an ensemble (the default predictor) is warm: it starts from the first fit of the same
window (cached) and keeps its TAP members (:data:`WARM_MEMBERS`), which take most of a fit's time
and learn a few more rows least, while its trees and level model refit with the target's rows
(:meth:`~tapaskit.predictor.ensemble.EnsemblePredictor.refit`): seconds instead of a full fit, so
a repeated search, whose rounds always bring new rows, does not refit for long.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lde import ExperimentStore

from tapaskit import paths
from tapaskit.errors import DataError
from tapaskit.predictor.base import BasePredictor
from tapaskit.predictor.persistence import SavablePredictor
from tapaskit.predictor.registry import DEFAULT_PREDICTOR, seeded_predictor
from tapaskit.predictor.training_set import DEFAULT_TAU, select_training_set

__all__ = ["TARGET_WEIGHT", "WARM_MEMBERS", "PredictorFit", "cache_key", "fit_predictor", "weight_target_rows"]

#: How many times a refit repeats each of the target dataset's own experiments (see above).
TARGET_WEIGHT = 10
#: The members of an ensemble that a refit between rounds keeps from the first fit (see above).
WARM_MEMBERS: tuple[str, ...] = ("tap",)


@dataclass(frozen=True)
class PredictorFit:
    """How a predictor was fitted: on which window, how many experiments, how long, cached or not."""

    predictor: str
    tau_requested: float
    tau_used: float
    widened: bool
    experiments: int
    datasets: tuple[str, ...]
    cached: bool
    fit_seconds: float
    key: str | None = None  # the cache key: what was fitted on what (None when not cachable)
    target_experiments: int = 0  # the target's own experiments in the fit (refits between rounds)
    regime: str | None = None  # the target's regime the window was drawn for (None: plain window)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["datasets"] = list(self.datasets)
        return out


def cache_key(frame: pd.DataFrame, predictor: str, tau: float | None, params: dict[str, Any]) -> str:
    """Cache key of a fitted predictor: the window's experiments and accuracies, the predictor and
    its hyperparameters."""
    ids = np.sort(frame["experiment_id"].to_numpy()) if "experiment_id" in frame else np.arange(len(frame))
    digest = hashlib.sha256(ids.tobytes())
    digest.update(np.ascontiguousarray(frame["peak_accuracy"].to_numpy(dtype=np.float64)).tobytes())
    digest.update(f"{predictor}|{tau}|{json.dumps(params, sort_keys=True, default=str)}".encode())
    return digest.hexdigest()[:20]


def weight_target_rows(frame: pd.DataFrame, target: pd.DataFrame, weight: int = TARGET_WEIGHT) -> pd.DataFrame:
    """``frame`` plus the target's rows, each repeated ``weight`` times (fewer when the target's
    rows would then be more than half of the result; at least once)."""
    if len(target) == 0:
        return frame
    repeats = max(1, min(int(weight), len(frame) // len(target))) if len(frame) else 1
    return pd.concat([frame, *([target] * repeats)], ignore_index=True)


def fit_predictor(store: ExperimentStore, dcn: float, *, name: str = DEFAULT_PREDICTOR, tau: float = DEFAULT_TAU,
                  seed: int = 0, exclude: tuple[str, ...] = (), target: str | None = None,
                  target_weight: int | None = None, regime: str | None = None) -> tuple[BasePredictor, PredictorFit]:
    """The predictor ``name`` fitted on the LDE experiments near ``dcn`` (cached in the data home).

    Args:
        store: the LDE.
        dcn: the target dataset's DCN.
        name: a registry name (:data:`~tapaskit.predictor.PREDICTORS`).
        tau: half-width of the DCN window (widened when it holds too little).
        seed: the predictor's seed.
        exclude: datasets (names or fingerprints) kept out of the window.
        target: the fingerprint of the dataset being searched: the rows earlier searches recorded
            for it (source ``search``) stay out of this fit, so that a repeated search finds the
            same window and its cached predictor instead of refitting for its predecessor's few rows.
        target_weight: refit between rounds: every ok experiment of ``target`` in the LDE joins
            the fit, each repeated this many times (:func:`weight_target_rows`).
        regime: the target's regime (``"large"``: the window is drawn from that regime first,
            :func:`~tapaskit.predictor.training_set.select_training_set`).

    Returns:
        The fitted predictor and a :class:`PredictorFit`.
    """
    selection = select_training_set(store, dcn, tau, exclude=exclude, regime=regime)
    frame = selection.frame
    target_rows = 0
    if target is not None and len(frame):
        mine = frame["dataset_fingerprint"].astype(str) == target
        if target_weight is None:
            frame = frame[~(mine & (frame["source"].astype(str) == "search")).to_numpy()]
        else:
            own = store.query(datasets=[target])
            target_rows = len(own)
            frame = weight_target_rows(frame[~mine.to_numpy()], own, target_weight)
    started = time.perf_counter()
    predictor = seeded_predictor(name, seed)
    base: BasePredictor | None = None
    extra: dict[str, Any] = {"target_weight": target_weight}
    if target_weight is not None and hasattr(predictor, "refit"):
        # a warm refit: the first fit's TAP, from the cache, with trees and level refitted
        base, base_fit = fit_predictor(store, dcn, name=name, tau=tau, seed=seed, exclude=exclude, target=target,
                                       regime=regime)
        extra["warm_from"] = base_fit.key
    cache: Path | None = None
    key: str | None = None
    if isinstance(predictor, SavablePredictor) and predictor.can_save:
        key = cache_key(frame, name, selection.tau, {**predictor.signature(), **extra})
        cache = paths.data_home() / "predictors" / f"{name}-{key}-{seed}.pt"
    cached = False
    if cache is not None and cache.is_file():
        try:
            predictor, cached = type(predictor).load(cache), True
        except DataError as exc:  # a damaged entry (a kill mid-write before writes were atomic): refit
            warnings.warn(f"ignoring an unreadable cached predictor ({exc}); refitting", stacklevel=2)
    if not cached:
        y = frame["peak_accuracy"].to_numpy()
        predictor = predictor.fit(frame, y) if base is None else base.refit(frame, y, keep=WARM_MEMBERS)
        if cache is not None:
            predictor.save(cache)
    fit = PredictorFit(predictor=name, tau_requested=tau, tau_used=selection.tau, widened=selection.widened,
                       experiments=len(frame), datasets=tuple(sorted(frame["dataset_name"].astype(str).unique())),
                       cached=cached, fit_seconds=time.perf_counter() - started, key=key,
                       target_experiments=target_rows, regime=regime)
    return predictor, fit
