"""Predictor files: JSON text plus plain tensors, read back without unpickling anything.

A savable predictor turns its fitted state into ``(meta, tensors)`` (:meth:`state`): ``meta`` a
JSON-able dict that names its ``format``, ``tensors`` a flat dict of tensors. :func:`write_state`
stores both with ``torch.save``; :func:`read_state` reads them with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers, and checks the format. The ensemble
nests its members' states under prefixes, so TAP, LightGBM and their mix share one file layout.

:class:`SavablePredictor` gives a predictor class ``save``/``load`` from its ``state``/
``from_state`` and its ``file_format``/``file_kind``, and keeps every such class by its format:
:func:`predictor_class` finds the class of a nested state (an ensemble's members) from its
``meta["format"]``, so a composite reads its parts without knowing their classes beforehand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tapaskit.errors import DataError
from tapaskit.paths import atomic_write

__all__ = ["SavablePredictor", "predictor_class", "read_state", "write_state"]

#: Every :class:`SavablePredictor` subclass by the ``file_format`` it writes.
_CLASSES: dict[str, type[SavablePredictor]] = {}


def write_state(path: str | Path, meta: dict[str, Any], tensors: dict[str, Any]) -> Path:
    """Write ``meta`` (as JSON text) and ``tensors`` to ``path`` (parents created), atomically."""
    import torch  # heavy: imported where used

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as partial:
        torch.save({"meta": json.dumps(meta), "tensors": tensors}, partial)
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


def predictor_class(fmt: object, source: str | Path = "the state") -> type[SavablePredictor]:
    """The predictor class that writes states of format ``fmt`` (a ``meta["format"]``).

    Raises:
        DataError: no class writes that format.
    """
    if not isinstance(fmt, str) or fmt not in _CLASSES:
        raise DataError(f"{source}: format must be one of {', '.join(sorted(_CLASSES))}, but got {fmt!r}")
    return _CLASSES[fmt]


class SavablePredictor:
    """Mixin: ``save``/``load`` for a predictor that implements ``state`` and ``from_state``.

    Subclasses set ``file_format`` (the ``meta["format"]`` they write) and ``file_kind`` (their
    name in messages) and implement ``state() -> (meta, tensors)`` and
    ``from_state(meta, tensors, source)``. Defining a subclass with a ``file_format`` registers
    it for :func:`predictor_class`; two classes cannot claim one format.
    """

    file_format: str
    file_kind: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fmt = cls.__dict__.get("file_format")
        if fmt is None:  # a subclass that inherits its parent's format is read as the parent
            return
        known = _CLASSES.get(fmt)
        same = known is not None and (known.__module__, known.__qualname__) == (cls.__module__, cls.__qualname__)
        if known is not None and not same:  # the same class defined again (a reload) replaces itself
            raise TypeError(f"file_format {fmt!r} of {cls.__qualname__} is already written by "
                            f"{known.__qualname__}")
        _CLASSES[fmt] = cls

    @property
    def can_save(self) -> bool:
        """Whether :meth:`save` can write this predictor (an ensemble depends on its members)."""
        return True

    def signature(self) -> dict[str, Any]:
        """Everything besides the data that decides what ``fit`` learns (a cache key): the
        hyperparameters."""
        # plain JSON data: tuples (the proxy names) as lists, as a saved file holds them
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in self.get_params().items()}  # type: ignore[attr-defined]

    def save(self, path: str | Path) -> Path:
        """Write the fitted predictor: JSON text and plain tensors, nothing pickled.

        Returns:
            The path written.

        Raises:
            NotFittedError: before ``fit``.
        """
        meta, tensors = self.state()  # type: ignore[attr-defined]
        names = getattr(self, "feature_names_in_", None)
        if names is not None:  # scikit-learn's record of the input columns, kept with the file
            meta = {**meta, "feature_names_in": [str(n) for n in names]}
        return write_state(path, meta, tensors)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Read a predictor written by :meth:`save` (``torch.load(weights_only=True)``).

        Raises:
            DataError: the file does not exist, is not a file of this predictor, or was written
                for another encoding or other features.
        """
        meta, tensors = read_state(path, cls.file_format, cls.file_kind)
        model = cls.from_state(meta, tensors, path)  # type: ignore[attr-defined]
        if isinstance(meta.get("feature_names_in"), list):
            model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
            model.n_features_in_ = len(model.feature_names_in_)
        return model
