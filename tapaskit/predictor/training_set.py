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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from lde import DCN_TOLERANCE, ExperimentStore

from tapaskit.checks import check_int, check_number
from tapaskit.errors import DataError, InvalidOptionError

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

    values = pd.to_numeric(frame["dcn"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    distance = np.abs(values - float(dcn))  # NaN for datasets without a DCN: never inside
    widest = max(float(dcn), 1.0 - float(dcn))
    current = float(tau)
    while True:
        inside = frame[distance <= current + DCN_TOLERANCE]
        enough = len(inside) >= min_experiments and _count_datasets(inside) >= min_datasets
        if enough or current >= widest:
            break
        current = min(current + tau_step, widest)
    if len(inside) == 0:
        raise DataError(
            f"no experiment on a dataset with a DCN to learn from for DCN {dcn:g} "
            f"(the LDE has {len(frame)} experiments after exclusions, none with a DCN)"
        )
    return TrainingSelection(inside.reset_index(drop=True), round(current, 10), current > tau)
