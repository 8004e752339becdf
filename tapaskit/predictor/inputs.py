"""The one input form every predictor takes: a pandas frame of experiments (or candidates).

A predictor's ``X`` is a :class:`pandas.DataFrame` with one row per (architecture, dataset,
hyperparameters) to score. The LDE's experiment frame (``store.query(...)``) has every column
already, so ``predictor.fit(frame, frame["peak_accuracy"])`` just works. To score architectures
that are not in an LDE, build the frame with :func:`architecture_frame`.

Columns (:data:`REQUIRED_COLUMNS` must be there, the others may be missing or hold NaN):

- ``arch_json`` (canonical JSON text) or ``architecture``
  (:class:`~tapaskit.space.architecture.Architecture` objects, faster: no parsing); ``architecture``
  wins when both exist;
- ``num_classes``: classes of the dataset (>= 2);
- ``in_channels``, ``in_height``, ``in_width``: input shape (C, H, W) of one sample;
- ``dcn``: the dataset's DCN in [0, 1]; NaN when unknown (optional);
- ``lr``, ``epochs``, ``batch_size``: training hyperparameters of the experiment (optional);
- ``dataset_name``: optional; groups rows for ranking losses and per-dataset means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tapaskit.space.architecture import Architecture
from tapaskit.errors import DataError

#: Columns every predictor input needs (besides ``arch_json`` or ``architecture``).
REQUIRED_COLUMNS: tuple[str, ...] = ("num_classes", "in_channels", "in_height", "in_width")
#: Training hyperparameters a predictor reads when the column is present.
HPARAM_COLUMNS: tuple[str, ...] = ("lr", "epochs", "batch_size")
#: Column naming the dataset of a row (for grouping); optional.
GROUP_COLUMN = "dataset_name"

__all__ = [
    "GROUP_COLUMN",
    "HPARAM_COLUMNS",
    "REQUIRED_COLUMNS",
    "architecture_frame",
    "check_frame",
    "check_targets",
    "group_codes",
]


def check_frame(X: Any) -> pd.DataFrame:
    """Check that ``X`` is a predictor input frame and return it (not copied).

    Raises:
        DataError: ``X`` is not a DataFrame, is empty, lacks a required column, or a required
            column holds a missing or non-positive value.
    """
    if not isinstance(X, pd.DataFrame):
        raise DataError(
            "predictor input must be a pandas DataFrame of experiments (see "
            f"tapaskit.predictor.architecture_frame), but got {type(X).__name__}"
        )
    if len(X) == 0:
        raise DataError("predictor input must have at least one row, but got an empty frame")
    missing = [c for c in REQUIRED_COLUMNS if c not in X.columns]
    if "arch_json" not in X.columns and "architecture" not in X.columns:
        missing.insert(0, "arch_json (or architecture)")
    if missing:
        raise DataError(f"predictor input is missing columns: {', '.join(missing)}")
    for column in REQUIRED_COLUMNS:
        values = pd.to_numeric(X[column], errors="coerce")
        if values.isna().any() or (values < 1).any():
            bad = X[column][values.isna() | (values < 1)].iloc[0]
            raise DataError(
                f"predictor input column {column} must hold positive integers, but got {bad!r}"
            )
    return X


def check_targets(y: Any, n_rows: int) -> np.ndarray:
    """Targets as a float64 array of accuracies.

    Raises:
        DataError: wrong length, NaN, or a value outside [0, 1].
    """
    values = np.asarray(y, dtype=np.float64).reshape(-1)
    if values.shape[0] != n_rows:
        raise DataError(
            f"y must have one accuracy per row of X ({n_rows}), but got {values.shape[0]}"
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values)))
        raise DataError(f"y must hold finite accuracies, but {bad} are NaN/inf")
    if values.min() < 0.0 or values.max() > 1.0:
        raise DataError(
            "y must hold accuracies in [0, 1], but got values in "
            f"[{values.min():g}, {values.max():g}]"
        )
    return values


def group_codes(X: pd.DataFrame) -> np.ndarray:
    """Integer group of each row: its dataset when ``dataset_name`` is present, else 0."""
    if GROUP_COLUMN not in X.columns:
        return np.zeros(len(X), dtype=np.int64)
    codes, _ = pd.factorize(X[GROUP_COLUMN].astype(object), use_na_sentinel=False)
    return codes.astype(np.int64)


def architecture_frame(
    architectures: Sequence[Architecture],
    *,
    input_shape: Sequence[int],
    num_classes: int,
    dcn: float | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    dataset_name: str | None = None,
) -> pd.DataFrame:
    """The predictor input frame for candidate architectures on one dataset.

    Args:
        architectures: the candidates.
        input_shape: ``(C, H, W)`` of the dataset.
        num_classes: its class count.
        dcn: its DCN, or ``None`` when unknown.
        lr, epochs, batch_size: the schedule the candidates would be trained with (``None``: the
            predictor uses the values it saw most in training).
        dataset_name: optional name, kept in ``dataset_name``.

    Returns:
        One row per architecture with the columns of the module docstring.

    Raises:
        DataError: ``input_shape`` is not three positive integers or an item is no Architecture.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(
            f"input_shape must be (C, H, W) with positive sizes, but got {input_shape!r}"
        )
    archs = list(architectures)
    for i, arch in enumerate(archs):
        if not isinstance(arch, Architecture):
            raise DataError(
                f"architectures[{i}] must be an Architecture, but got {type(arch).__name__}"
            )
    n = len(archs)
    column = pd.Series(archs, dtype=object)

    def filled(value: float | None) -> np.ndarray:
        return np.full(n, np.nan if value is None else float(value))

    return pd.DataFrame({
        "architecture": column,
        "num_classes": np.full(n, int(num_classes), dtype=np.int64),
        "in_channels": np.full(n, shape[0], dtype=np.int64),
        "in_height": np.full(n, shape[1], dtype=np.int64),
        "in_width": np.full(n, shape[2], dtype=np.int64),
        "dcn": filled(dcn),
        "lr": filled(lr),
        "epochs": filled(epochs),
        "batch_size": filled(batch_size),
        "dataset_name": pd.Series([dataset_name] * n, dtype=object),
    })
