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
- ``train_samples``: the number of samples the network was (or would be) trained on (optional).
  Where the frame has no finite value, :func:`train_samples` derives it from ``num_samples`` (the
  dataset's size) and the ``extra_hparams`` JSON of an LDE row (``max_train``, ``val_fraction``):
  ``min(max_train, round(num_samples * (1 - val_fraction)))``; NaN when neither is known;
- ``num_samples``, ``extra_hparams``: see ``train_samples`` (optional);
- ``proxy_synflow``, ``proxy_snip``, ``proxy_grad_norm``, ``proxy_jacob_cov``, ``proxy_naswot``
  (:data:`PROXY_COLUMNS`): zero-cost proxies of the (network, dataset) at initialisation, log-scaled
  where the raw values span magnitudes (optional; NaN or absent where not computed: predictors
  treat them as missing, never as an error);
- ``dataset_name``: optional; groups rows for ranking losses and per-dataset means.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
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
#: Zero-cost proxy columns a predictor reads when present (NaN: not computed for that row).
PROXY_COLUMNS: tuple[str, ...] = (
    "proxy_synflow", "proxy_snip", "proxy_grad_norm", "proxy_jacob_cov", "proxy_naswot",
)
#: Explicit training-set size column; wins over what ``num_samples`` and ``extra_hparams`` imply.
TRAIN_SAMPLES_COLUMN = "train_samples"

__all__ = [
    "GROUP_COLUMN",
    "HPARAM_COLUMNS",
    "PROXY_COLUMNS",
    "REQUIRED_COLUMNS",
    "TRAIN_SAMPLES_COLUMN",
    "architecture_frame",
    "check_frame",
    "check_targets",
    "group_codes",
    "train_samples",
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


def _numeric(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X.columns:
        return np.full(len(X), np.nan)
    return pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@lru_cache(maxsize=4096)
def _schedule(text: str) -> tuple[float, float]:
    """``(max_train, val_fraction)`` of one ``extra_hparams`` JSON text: ``max_train`` is inf when
    the key holds null or is absent (no cap), ``val_fraction`` NaN when absent or not a number."""
    try:
        extra = json.loads(text)
    except (TypeError, ValueError):
        return math.inf, math.nan
    if not isinstance(extra, dict):
        return math.inf, math.nan

    def number(key: str, default: float) -> float:
        value = extra.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return default
        return float(value) if math.isfinite(value) else default

    max_train = number("max_train", math.inf)
    val_fraction = number("val_fraction", math.nan)
    if max_train <= 0:  # 0 means "all" in the search presets
        max_train = math.inf
    if not 0.0 <= val_fraction < 1.0:
        val_fraction = math.nan
    return max_train, val_fraction


def train_samples(X: pd.DataFrame) -> np.ndarray:
    """The number of training samples behind every row (float64, NaN where unknown).

    An explicit, finite, positive ``train_samples`` value wins. Otherwise an LDE row's own record
    decides: ``min(max_train, round(num_samples * (1 - val_fraction)))`` with ``max_train`` and
    ``val_fraction`` from its ``extra_hparams`` JSON (the trainer's split; a null or missing
    ``max_train`` means no cap). A row without ``num_samples`` or without a ``val_fraction`` in
    ``extra_hparams`` (e.g. an imported MetaQNN record) is NaN: predictors then fill it with the
    value of their training data. The test part a dataset keeps aside is not subtracted: the figure
    is the trainer's arithmetic, exact to a few percent, which on the log2 scale predictors read
    is well inside the gap between regimes (1,000 against 3,000 samples on the default LDE).
    """
    explicit = _numeric(X, TRAIN_SAMPLES_COLUMN)
    explicit = np.where(explicit > 0, explicit, np.nan)
    if np.all(np.isfinite(explicit)) or "extra_hparams" not in X.columns:
        return explicit
    num_samples = _numeric(X, "num_samples")
    texts = X["extra_hparams"]
    codes, uniques = pd.factorize(texts.astype(object), use_na_sentinel=True)
    schedule = np.array([_schedule(t) if isinstance(t, str) else (math.inf, math.nan)
                         for t in uniques] + [(math.inf, math.nan)], dtype=np.float64)
    max_train, val_fraction = schedule[codes].T  # code -1 (missing) reads the last row
    derived = np.minimum(max_train, np.round(num_samples * (1.0 - val_fraction)))
    derived = np.where(np.isfinite(derived) & (derived > 0), derived, np.nan)
    return np.where(np.isfinite(explicit), explicit, derived)


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
    train_samples: int | None = None,
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
        train_samples: the number of samples the candidates would be trained on (the training
            split, after any ``max_train`` cap); ``None``: unknown, the predictor uses the value
            of its training data. Zero-cost proxies, where computed, go into ``proxy_*`` columns
            (:data:`PROXY_COLUMNS`) the caller adds to the returned frame.

    Returns:
        One row per architecture with the columns of the module docstring.

    Raises:
        DataError: ``input_shape`` is not three positive integers, an item is no Architecture,
            or ``train_samples`` is not a positive integer.
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
    if train_samples is not None and not (isinstance(train_samples, (int, np.integer))
                                          and not isinstance(train_samples, bool)
                                          and train_samples >= 1):
        raise DataError(
            f"train_samples must be a positive integer or None, but got {train_samples!r}"
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
        "train_samples": filled(train_samples),
        "dataset_name": pd.Series([dataset_name] * n, dtype=object),
    })
