"""Image array layouts: ``(N, H, W)``, ``(N, H, W, C)`` and ``(N, C, H, W)`` to ``(N, C, H, W)``."""

from __future__ import annotations

import numpy as np

from tapaskit.errors import DataError

CHANNEL_COUNTS = (1, 3, 4)


def to_nchw(x: np.ndarray, *, source: str) -> np.ndarray:
    """Bring an image array into ``(N, C, H, W)`` layout.

    A 3-D array is ``(N, H, W)`` (one channel). A 4-D array is channels-first when only axis 1
    has a size in ``1, 3, 4``, channels-last when only axis 3 has; when both do, square images
    decide (``(N, C, H, H)`` is channels-first, ``(N, H, H, C)`` channels-last).

    Args:
        x: The images.
        source: Named in errors.

    Returns:
        A view or copy of ``x`` with shape ``(N, C, H, W)``.

    Raises:
        DataError: If the shape fits none of the layouts or is ambiguous.
    """
    expected = "expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4"
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim != 4:
        raise DataError(f"x has shape {x.shape} in {source}; {expected}")
    first, last = x.shape[1] in CHANNEL_COUNTS, x.shape[3] in CHANNEL_COUNTS
    if first and last:
        if x.shape[2] == x.shape[3]:
            last = False
        elif x.shape[1] == x.shape[2]:
            first = False
    if first and not last:
        return x
    if last and not first:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    reason = "is ambiguous" if first and last else "fits no layout"
    raise DataError(f"x has shape {x.shape} in {source}, which {reason}; {expected}")
