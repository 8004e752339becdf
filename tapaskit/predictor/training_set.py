"""Which experiments TAP learns from: those on datasets whose DCN is near the target's.

TAPAS fits its predictor on the LDE experiments whose dataset has ``|DCN - DCN*| <= tau``
(``tau = 0.05``): datasets of similar difficulty say the most about how a network will fare on
the target. When the window holds fewer than ``min_experiments`` experiments or fewer than
``min_datasets`` datasets, :func:`select_training_set` widens it by ``tau_step`` until it does,
or until it spans the whole [0, 1] range, and reports the ``tau`` it ended with.

The window must hold at least :data:`DEFAULT_MIN_DATASETS` datasets by default, not just enough
experiments: a predictor that is to generalise to a new dataset must see the DCN vary (measured:
docs/predictor.md, "Which experiments TAP learns from").

Usage::

    selection = select_training_set(store, dcn=0.42)       # or an experiment frame
    model.fit(selection.frame, selection.frame["peak_accuracy"])
    print(selection.tau, selection.widened)                  # the window actually used

Datasets without a DCN never fall in a window. With no target DCN (``dcn=None``) every
experiment is used (``tau`` is then reported as ``None``).

**Regimes.** An experiment is of the *large* regime
(:func:`~tapaskit.predictor.holdout.dataset_regimes`) when it trained on at least 2,000 samples at
28 pixels or more (the scale users search at: the default LDE's ``large`` suite, 3,000 samples at 28×28 and 32×32),
else of the *small* one (the default suite: 1,000 samples at 8 to 16 pixels). With
``regime="large"`` (a search on a large-regime dataset) the window is drawn from that regime first:

1. the large-regime experiments within ``tau``, widened until they come from ``min_datasets``
   large-regime datasets (or from all there are), however few experiments that is;
2. plus the small-regime experiments of the usual window (``tau`` widened until
   ``min_experiments`` and ``min_datasets`` are met on them),

so the predictor always sees the target's regime, while the small regime, with ten times more
architectures, teaches it the ranking of networks it would not otherwise have seen; the predictor
tells the regimes apart by its inputs (resolution, training samples, epochs). The reported ``tau``
is the wider of the two. Without large-regime experiments the usual window is used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from lde import DCN_TOLERANCE, ExperimentStore

from tapaskit.checks import check_choice, check_int, check_number
from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor.holdout import REGIMES, dataset_regimes

__all__ = ["DEFAULT_MIN_DATASETS", "DEFAULT_MIN_EXPERIMENTS", "DEFAULT_TAU", "TrainingSelection",
           "check_min_datasets", "select_training_set"]

#: The window half-width of TAPAS.
DEFAULT_TAU = 0.05
#: The window widens until it holds at least this many experiments ...
DEFAULT_MIN_EXPERIMENTS = 200
#: ... and at least this many datasets (see the module docstring for the measurement).
DEFAULT_MIN_DATASETS = 6
class TrainingSelection(NamedTuple):
    """The experiments selected to fit a predictor (unpacks as ``frame, tau, widened``).

    Attributes:
        frame: the experiment frame (ok runs only), ordered as the LDE returns it.
        tau: the window half-width used (``None`` without a target DCN).
        widened: whether ``tau`` had to grow beyond the one asked for.
    """

    frame: pd.DataFrame
    tau: float | None
    widened: bool


def _names(frame: pd.DataFrame, exclude: Iterable[str]) -> pd.Series:
    exclude = {exclude} if isinstance(exclude, str) else set(exclude)
    if not exclude:
        return pd.Series(False, index=frame.index)
    hit = pd.Series(False, index=frame.index)
    for column in ("dataset_name", "dataset_fingerprint"):
        if column in frame.columns:
            hit |= frame[column].astype(object).isin(exclude)
    return hit


def _count_datasets(frame: pd.DataFrame) -> int:
    column = "dataset_fingerprint" if "dataset_fingerprint" in frame.columns else "dataset_name"
    return int(frame[column].nunique()) if column in frame.columns else int(len(frame) > 0)


def check_min_datasets(value: object) -> int:
    """``value`` as an ``int`` if it is an integer >= 1 (a ``min_datasets``).

    Raises:
        InvalidOptionError: otherwise.
    """
    return check_int("min_datasets", value, 1)


def select_training_set(
    source: ExperimentStore | pd.DataFrame,
    dcn: float | None,
    tau: float = DEFAULT_TAU,
    *,
    min_experiments: int = DEFAULT_MIN_EXPERIMENTS,
    min_datasets: int = DEFAULT_MIN_DATASETS,
    tau_step: float = 0.05,
    exclude: Iterable[str] | str = (),
    regime: str | None = None,
) -> TrainingSelection:
    """Experiments of datasets within ``tau`` of ``dcn``, widening the window when too few.

    Args:
        source: an LDE store (its ok experiments are read), or an experiment frame (used as
            given; it needs ``dcn`` and ``dataset_name`` or ``dataset_fingerprint`` columns).
        dcn: the target dataset's DCN in [0, 1], or ``None`` to use everything.
        tau: the window half-width asked for, >= 0.
        min_experiments: widen until the window holds at least this many experiments.
        min_datasets: ... and at least this many distinct datasets.
        tau_step: how much ``tau`` grows per widening, > 0.
        exclude: dataset names or fingerprints to leave out (e.g. the target itself).
        regime: the target's regime; ``"large"`` draws the window from that regime first (see
            the module docstring); ``None`` or ``"small"``: the plain window.

    Returns:
        The :class:`TrainingSelection`.

    Raises:
        InvalidOptionError: ``dcn`` outside [0, 1], a negative ``tau``, ``min_datasets`` < 1 or
            a non-positive ``tau_step``.
        DataError: not a single experiment can be selected (even with the widest window).
    """
    if dcn is not None:
        check_number("dcn", dcn, 0.0, 1.0)
    check_number("tau", tau, 0.0)
    check_min_datasets(min_datasets)
    check_number("tau_step", tau_step, 0.0, open_low=True)
    if regime is not None:
        check_choice("regime", regime, REGIMES)
    if isinstance(source, ExperimentStore):
        frame = source.query(exclude_datasets=exclude)
    elif isinstance(source, pd.DataFrame):
        frame = source[~_names(source, exclude)]
    else:
        raise InvalidOptionError(
            f"source must be an LDE store or an experiment frame, but got {type(source).__name__}"
        )
    if dcn is None:
        if len(frame) == 0:
            raise DataError("no experiments to learn from (the LDE is empty after exclusions)")
        return TrainingSelection(frame.reset_index(drop=True), None, False)

    if regime == "large":
        large = (dataset_regimes(frame) == "large").to_numpy()
        if large.any():
            wanted = min(min_datasets, _count_datasets(frame[large & frame["dcn"].notna().to_numpy()]) or 1)
            first, tau_large = _window(frame[large], float(dcn), tau, tau_step, 0, wanted)
            rest, tau_small = _window(frame[~large], float(dcn), tau, tau_step, min_experiments, min_datasets)
            used = max(tau_large, tau_small)
            if len(first) + len(rest):
                return TrainingSelection(pd.concat([first, rest]).reset_index(drop=True), round(used, 10), used > tau)
    inside, current = _window(frame, float(dcn), tau, tau_step, min_experiments, min_datasets)
    if len(inside) == 0:
        raise DataError(
            f"no experiment on a dataset with a DCN to learn from for DCN {dcn:g} "
            f"(the LDE has {len(frame)} experiments after exclusions, none with a DCN)"
        )
    return TrainingSelection(inside.reset_index(drop=True), round(current, 10), current > tau)


def _window(frame: pd.DataFrame, dcn: float, tau: float, tau_step: float, min_experiments: int,
            min_datasets: int) -> tuple[pd.DataFrame, float]:
    """The rows within ``tau`` of ``dcn``, ``tau`` widened until they are enough; and that ``tau``."""
    values = pd.to_numeric(frame["dcn"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    distance = np.abs(values - dcn)  # NaN for datasets without a DCN: never inside
    widest = max(dcn, 1.0 - dcn)
    current = float(tau)
    while True:
        inside = frame[distance <= current + DCN_TOLERANCE]
        enough = len(inside) >= min_experiments and _count_datasets(inside) >= min_datasets
        if enough or current >= widest:
            return inside, current
        current = min(current + tau_step, widest)
