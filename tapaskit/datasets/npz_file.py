"""User data as a NumPy ``.npz`` archive holding arrays ``x`` (images) and ``y`` (labels)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from tapaskit.datasets.layout import to_nchw
from tapaskit.errors import DataError

REQUIRED_KEYS = ("x", "y")


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``x`` and ``y`` from an ``.npz`` file.

    ``x`` may be ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` (see
    :func:`~tapaskit.datasets.layout.to_nchw`). ``y`` is ``(N,)`` labels, or ``(N, K)`` one-hot
    rows which are turned into class indices.

    Args:
        path: The archive.

    Returns:
        ``(x, y)``: images ``(N, C, H, W)`` in their stored dtype and labels ``(N,)``.

    Raises:
        DataError: If the file is not a readable ``.npz``, lacks ``x`` or ``y`` (the message lists
            the arrays found), or holds object arrays.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            found = list(archive.files)
            missing = [k for k in REQUIRED_KEYS if k not in found]
            if missing:
                raise DataError(
                    f"{path} has no array {', '.join(repr(k) for k in missing)}; a .npz needs "
                    f"arrays 'x' (images) and 'y' (labels), found: {', '.join(found) or 'none'}"
                )
            x, y = archive["x"], archive["y"]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} as a .npz archive: {exc}") from None
    except ValueError as exc:  # object arrays need pickle, which is never enabled for user files
        raise DataError(f"cannot read {path}: {exc}") from None
    return to_nchw(x, source=str(path)), _one_hot_to_index(y, source=str(path))


def _one_hot_to_index(y: np.ndarray, *, source: str) -> np.ndarray:
    if y.ndim != 2 or y.shape[1] < 2:
        return y
    rows_are_one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
    if not rows_are_one_hot:
        raise DataError(
            f"y has shape {y.shape} in {source}; 2-D labels must be one-hot rows (one 1 per row)"
        )
    return y.argmax(axis=1)
