"""User data as a NumPy ``.npz`` archive holding arrays ``x`` (images) and ``y`` (labels), and
optionally ``x_test`` and ``y_test``: an official test set, kept apart from every selection."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from tapaskit.datasets.layout import to_nchw
from tapaskit.errors import DataError

REQUIRED_KEYS = ("x", "y")


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read ``x`` and ``y`` (and ``x_test``, ``y_test`` when present) from an ``.npz`` file.

    ``x`` may be ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` (see
    :func:`~tapaskit.datasets.layout.to_nchw`). ``y`` is ``(N,)`` labels, or ``(N, K)`` one-hot
    rows which are turned into class indices.

    Args:
        path: The archive.

    Returns:
        ``(x, y, test_mask)``: images ``(N, C, H, W)`` in their stored dtype and labels ``(N,)``,
        the test samples appended after the others and marked in ``test_mask`` (``None`` without
        a test set).

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
            test = [k for k in ("x_test", "y_test") if k in found]
            if len(test) == 1:
                raise DataError(f"{path} has {test[0]} without its pair; give both x_test and y_test, or neither")
            x_test, y_test = (archive["x_test"], archive["y_test"]) if test else (None, None)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} as a .npz archive: {exc}") from None
    except ValueError as exc:  # object arrays need pickle, which is never enabled for user files
        raise DataError(f"cannot read {path}: {exc}") from None
    x, y = to_nchw(x, source=str(path)), _one_hot_to_index(y, source=str(path))
    if x_test is None:
        return x, y, None
    x_test, y_test = to_nchw(x_test, source=f"{path} (x_test)"), _one_hot_to_index(y_test, source=f"{path} (y_test)")
    if x_test.shape[1:] != x.shape[1:] or len(x_test) != len(y_test) or y_test.ndim != y.ndim:
        raise DataError(f"x_test/y_test in {path} must match x/y in image shape and each other in length, "
                        f"but got {x_test.shape}, {y_test.shape} against {x.shape}, {y.shape}")
    mask = np.concatenate([np.zeros(len(y), dtype=bool), np.ones(len(y_test), dtype=bool)])
    return np.concatenate([x, x_test.astype(x.dtype, copy=False)]), np.concatenate([y, y_test]), mask


def _one_hot_to_index(y: np.ndarray, *, source: str) -> np.ndarray:
    if y.ndim != 2 or y.shape[1] < 2:
        return y
    rows_are_one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
    if not rows_are_one_hot:
        raise DataError(
            f"y has shape {y.shape} in {source}; 2-D labels must be one-hot rows (one 1 per row)"
        )
    return y.argmax(axis=1)
