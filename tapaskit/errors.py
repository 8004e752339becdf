"""The error hierarchy of tapaskit.

Every mistake a user can make (a bad dataset, an invalid network, a missing file) raises a
subclass of :class:`TapasError`. Leaves also subclass the matching builtin so callers can catch
``KeyError`` or ``ValueError`` as usual. The CLI catches :data:`USER_ERRORS` in one place, prints
one line and exits 1.

``lde`` and ``probenets`` never import tapaskit (imports point one way), so they have their own
roots, :class:`lde.LDEError` and :class:`probenets.ProbeError`; :data:`USER_ERRORS` gathers all three.
"""

from __future__ import annotations

from lde.errors import LDEError
from probenets.errors import ProbeError


class TapasError(Exception):
    """Root of every error tapaskit raises for bad input or an unusable environment."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownDatasetError(TapasError, KeyError):
    """A dataset name or path that matches no built-in dataset and no file."""


class DatasetUnavailableError(TapasError, RuntimeError):
    """A built-in dataset whose files or package are not installed on this machine."""


class DataError(TapasError, ValueError):
    """User data that cannot be used: empty, one class only, NaN values, mismatched lengths..."""


class InvalidArchitectureError(TapasError, ValueError):
    """A network description that is malformed or cannot be built for the given input."""


class InvalidOptionError(TapasError, ValueError):
    """An option value outside its allowed range."""


class NotFittedError(TapasError, RuntimeError):
    """A predictor used before ``fit``."""


USER_ERRORS: tuple[type[Exception], ...] = (TapasError, LDEError, ProbeError)

__all__ = [
    "TapasError",
    "UnknownDatasetError",
    "DatasetUnavailableError",
    "DataError",
    "InvalidArchitectureError",
    "InvalidOptionError",
    "NotFittedError",
    "USER_ERRORS",
]
