"""User data as a CSV table: one row per image, a label column and one column per pixel."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from tapaskit.errors import DataError

LABEL_COLUMNS = ("label", "y", "class", "target")


def load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV file with a header row.

    The label column is the first column named (case-insensitively) ``label``, ``y``, ``class``
    or ``target``; every other column is a pixel. ``P`` pixel columns make a ``1 × H × W`` image
    when ``P = H * W`` with ``H = W``, or a ``3 × H × W`` image when ``P = 3 * H * W`` (channel
    planes one after the other: all red values, then green, then blue).

    Args:
        path: The CSV file (``.csv`` or ``.csv.gz``).

    Returns:
        ``(x, y)``: images ``(N, C, H, W)`` as float64 and labels ``(N,)`` (numbers or strings).

    Raises:
        DataError: If there is no label column, the pixel count is neither a square nor three
            times a square, or a pixel is missing or not a number (the message gives the line).
    """
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from None
    lowered = {str(c).strip().lower(): c for c in table.columns}
    label_column = next((lowered[n] for n in LABEL_COLUMNS if n in lowered), None)
    if label_column is None:
        shown = ", ".join(str(c) for c in table.columns[:8]) + (
            ", ..." if len(table.columns) > 8 else ""
        )
        raise DataError(
            f"{path} has no label column; name it one of {', '.join(LABEL_COLUMNS)} "
            f"(found columns: {shown})"
        )
    if table.empty:
        raise DataError(f"{path} has a header but no rows")
    pixels = table.drop(columns=[label_column])
    shape = _image_shape(pixels.shape[1], path)
    x = _numeric(pixels, path).reshape(len(table), *shape)
    y = _labels(table[label_column].to_numpy(), path)
    return x, y


def _image_shape(count: int, path: Path) -> tuple[int, int, int]:
    side = math.isqrt(count)
    if count and side * side == count:
        return 1, side, side
    side = math.isqrt(count // 3)
    if count and count % 3 == 0 and side * side * 3 == count:
        return 3, side, side
    raise DataError(
        f"{path} has {count} pixel columns; expected H*W (a square number, e.g. 784 = 28*28) "
        f"or 3*H*W for RGB (e.g. 3072 = 3*32*32)"
    )


def _numeric(pixels: pd.DataFrame, path: Path) -> np.ndarray:
    for col, dtype in enumerate(pixels.dtypes):
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            column = pixels.iloc[:, col]
            bad = np.flatnonzero(pd.to_numeric(column, errors="coerce").isna().to_numpy())
            row = int(bad[0]) if len(bad) else 0
            _raise_bad_pixel(path, row, pixels.columns[col], column.iloc[row])
    values = pixels.to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        row, col = divmod(int(np.argmax(missing)), values.shape[1])
        _raise_bad_pixel(path, row, pixels.columns[col], None)
    return values


def _raise_bad_pixel(path: Path, row: int, column: object, value: object) -> None:
    what = (
        "missing or NaN pixel value"
        if value is None or pd.isna(value)
        else f"non-numeric pixel value '{value}'"
    )
    raise DataError(f"{what} in {path} at row {row + 1} (line {row + 2}), column '{column}'")


def _labels(column: np.ndarray, path: Path) -> np.ndarray:
    missing = np.flatnonzero(pd.isna(column))
    if len(missing):
        raise DataError(f"missing label in {path} at row {missing[0] + 1} (line {missing[0] + 2})")
    if column.dtype == object:
        return np.array([str(v).strip() for v in column])  # class names
    return column
