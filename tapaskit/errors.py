"""The error hierarchy of tapaskit.

Every mistake a user can make (a bad dataset, an invalid network, a missing file) raises a
subclass of :class:`TapasError`. Leaves also subclass the matching builtin so callers can catch
``KeyError`` or ``ValueError`` as usual. The CLI catches :data:`USER_ERRORS` in one place, prints
one line and exits 1.

``lde`` and ``probenets`` never import tapaskit (imports point one way), so they have their own
roots, :class:`lde.LDEError` and :class:`probenets.ProbeError`; :data:`USER_ERRORS` gathers all three.

:class:`NotFittedError` also subclasses scikit-learn's ``sklearn.exceptions.NotFittedError``, so
code written for scikit-learn estimators (``except NotFittedError``) catches ours. Importing
``sklearn.exceptions`` loads scikit-learn itself (about a second), which every command would pay
at start-up; the class is therefore made on first access (a module ``__getattr__``, PEP 562) and
is the same class object ever after, so ``from tapaskit.errors import NotFittedError``, pickling
and ``isinstance`` behave as for any other class.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

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


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ makes it
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(TapasError, _SklearnNotFittedError, RuntimeError):
        """A predictor used before ``fit``."""


_LAZY_LOCK = threading.Lock()


def _make_not_fitted_error() -> type[Exception]:
    from sklearn.exceptions import NotFittedError as sklearn_not_fitted

    # RuntimeError stays a base: callers that caught it before keep working
    cls = type("NotFittedError", (TapasError, sklearn_not_fitted, RuntimeError), {
        "__doc__": "A predictor used before ``fit`` (also scikit-learn's ``NotFittedError``).",
        "__module__": __name__,
        "__qualname__": "NotFittedError",
    })
    return cls


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        with _LAZY_LOCK:  # two threads asking at once still get one class
            cls = globals().get(name)
            if cls is None:
                cls = globals()[name] = _make_not_fitted_error()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "NotFittedError"})


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
