"""The one place where arrays become a valid dataset.

Every loader (built-in, user file, variant) ends in :class:`~tapaskit.datasets.dataset.Dataset`,
whose constructor calls :func:`validate_arrays`. The rules live here and nowhere else:

* ``x`` is 4-D ``(N, C, H, W)``, numeric and finite; it is returned as float32 in ``[0, 1]``
  (integer pixels are divided by 255, or by 65535 when they exceed 255; float values outside
  ``[0, 1]`` are min-max scaled to ``[0, 1]``).
* ``y`` holds one integer-valued or string label per sample; labels are relabelled to ``0..K-1``
  (sorted) and their original values become the class names.
* There are at least 2 classes and every class has at least 2 samples (a stratified split needs one
  sample of each class on each side).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tapaskit.errors import DataError

MIN_CLASSES = 2
MIN_SAMPLES_PER_CLASS = 2
_UNIT_TOLERANCE = 1e-3  # float pixels this far outside [0, 1] are still taken as unit-range


def validate_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    source: str,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Check and normalise the arrays of a dataset.

    Args:
        x: Images, shape ``(N, C, H, W)``, any real numeric dtype.
        y: Labels, shape ``(N,)``: integers (or integer-valued floats) or strings.
        source: Where the data came from (a file path or a package), named in every error.
        class_names: Names of classes ``0..K-1`` when ``y`` already holds those indices; when
            ``None`` the distinct values of ``y`` (sorted) become the classes and their names.

    Returns:
        ``(x, y, class_names)``: ``x`` float32 ``(N, C, H, W)`` in ``[0, 1]``, ``y`` int64 in
        ``0..K-1`` with every class present, and ``K`` class names.

    Raises:
        DataError: When any rule above is broken; the one-line message names ``source``.
    """
    y, names = _normalise_labels(np.asarray(y), source=source, class_names=class_names)
    x = _normalise_images(np.asarray(x), source=source)
    if len(x) != len(y):
        raise DataError(
            f"x has {len(x)} samples but y has {len(y)} labels in {source}; they must match"
        )
    _check_class_counts(y, names, source=source)
    return x, y, names


def _normalise_images(x: np.ndarray, *, source: str) -> np.ndarray:
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"x must hold numbers, got dtype {x.dtype} in {source}")
    if x.ndim != 4:
        raise DataError(f"x must be 4-D (N, C, H, W), got shape {x.shape} in {source}")
    if x.shape[0] == 0 or 0 in x.shape[1:]:
        raise DataError(f"x has an empty dimension, shape {x.shape} in {source}")
    if np.issubdtype(x.dtype, np.integer):
        return _scale_integers(x, source=source)
    return _scale_floats(x, source=source)


def _scale_integers(x: np.ndarray, *, source: str) -> np.ndarray:
    low, high = int(x.min()), int(x.max())
    scaled = x.astype(np.float32)  # then divide in place: much faster than a casting multiply
    if low >= 0 and high <= 255:
        scaled /= np.float32(255)
        return scaled
    if low >= 0 and high <= 65535:
        scaled /= np.float32(65535)
        return scaled
    return _min_max(scaled, low, high)


def _scale_floats(x: np.ndarray, *, source: str) -> np.ndarray:
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x)
    if not finite.all():
        bad = ~finite
        nan = int(np.isnan(x).sum())
        if nan:
            raise DataError(
                f"x contains NaN values ({nan} of {x.size}) in {source}; remove or impute them"
            )
        raise DataError(f"x contains infinite values ({int(bad.sum())} of {x.size}) in {source}")
    low, high = float(x.min()), float(x.max())
    if low >= -_UNIT_TOLERANCE and high <= 1 + _UNIT_TOLERANCE:
        if low < 0 or high > 1:
            return np.clip(x, 0.0, 1.0)
        return x
    return _min_max(x, low, high)


def _min_max(x: np.ndarray, low: float, high: float) -> np.ndarray:
    if high == low:
        return np.zeros_like(x, dtype=np.float32)
    return ((x - np.float32(low)) * np.float32(1 / (high - low))).astype(np.float32, copy=False)


def _normalise_labels(
    y: np.ndarray, *, source: str, class_names: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"y must be 1-D (one label per sample), got shape {y.shape} in {source}")
    if y.size == 0:
        raise DataError(f"no samples in {source}")
    if class_names is not None:
        return _indices_with_names(y, tuple(str(n) for n in class_names), source=source)
    if y.dtype.kind in "USO":
        return _relabel_strings(y, source=source)
    labels = _as_integers(y, source=source)
    values, y_idx = np.unique(labels, return_inverse=True)
    return y_idx.astype(np.int64), tuple(str(v) for v in values)


def _as_integers(y: np.ndarray, *, source: str) -> np.ndarray:
    if y.dtype == np.bool_:
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64, copy=False)
    if not np.issubdtype(y.dtype, np.floating):
        raise DataError(f"labels must be integers or strings, got dtype {y.dtype} in {source}")
    if not np.isfinite(y).all():
        raise DataError(f"labels must be integers, got a NaN or infinite label in {source}")
    fractional = y != np.round(y)
    if fractional.any():
        first = y[np.argmax(fractional)]
        raise DataError(f"labels must be integers, got {first:g} in {source}")
    return y.astype(np.int64)


def _relabel_strings(y: np.ndarray, *, source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    as_text = np.array([str(v).strip() for v in y.tolist()], dtype=object)
    if any(v in ("", "nan", "None") for v in as_text):
        raise DataError(f"labels must not be empty, found an empty label in {source}")
    values, y_idx = np.unique(as_text.astype(str), return_inverse=True)
    return y_idx.astype(np.int64), tuple(str(v) for v in values)


def _indices_with_names(
    y: np.ndarray, names: tuple[str, ...], *, source: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    labels = _as_integers(y, source=source)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= len(names):
        bad = low if low < 0 else high
        raise DataError(
            f"label {bad} is outside 0..{len(names) - 1} for the {len(names)} class names "
            f"in {source}"
        )
    if len(set(names)) != len(names):
        raise DataError(f"class names must be distinct, got {names} in {source}")
    return labels, names


def _check_class_counts(y: np.ndarray, names: tuple[str, ...], *, source: str) -> None:
    counts = np.bincount(y, minlength=len(names))
    present = np.flatnonzero(counts)
    if len(present) < MIN_CLASSES:
        only = names[present[0]] if len(present) else "none"
        raise DataError(
            f"only one class ({only}) found in {source}; a classifier needs at least {MIN_CLASSES}"
        )
    small = np.flatnonzero(counts < MIN_SAMPLES_PER_CLASS)
    if len(small):
        k = small[0]
        noun = "sample" if counts[k] == 1 else "samples"
        raise DataError(
            f"class '{names[k]}' has {counts[k]} {noun} in {source}; "
            f"each class needs at least {MIN_SAMPLES_PER_CLASS}"
        )
