"""Predictor files: JSON text plus plain tensors, read back without unpickling anything.

A savable predictor turns its fitted state into ``(meta, tensors)`` (:meth:`state`): ``meta`` a
JSON-able dict that names its ``format``, ``tensors`` a flat dict of tensors. :func:`write_state`
stores both with ``torch.save``; :func:`read_state` reads them with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers, and checks the format. The ensemble
nests its members' states under prefixes, so TAP, LightGBM and their mix share one file layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tapaskit.errors import DataError

__all__ = ["read_state", "write_state"]


def write_state(path: str | Path, meta: dict[str, Any], tensors: dict[str, Any]) -> Path:
    """Write ``meta`` (as JSON text) and ``tensors`` to ``path`` (parents created)."""
    import torch  # heavy: imported where used

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": json.dumps(meta), "tensors": tensors}, path)
    return path


def read_state(path: str | Path, fmt: str, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a file of :func:`write_state` whose meta format is ``fmt``.

    Args:
        path: the file.
        fmt: the expected ``meta["format"]``.
        what: the kind of file, for messages (e.g. ``"TAP predictor"``).

    Raises:
        DataError: the file does not exist, cannot be read safely, or has another format.
    """
    import torch  # heavy: imported where used

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no {what} file at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        tensors = blob["tensors"]
    except Exception as exc:  # a foreign or damaged file: one clear message
        raise DataError(f"{path} is not a {what} file ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise DataError(f"{path}: format must be {fmt!r}, but got {found!r}")
    return meta, tensors
