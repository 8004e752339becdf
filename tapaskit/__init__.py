"""tapaskit: train-less accuracy prediction and architecture search for CNNs.

A re-creation of TAPAS (Istrate et al., AAAI 2019). The entry points a user needs are importable
from here; each loads its module (and torch, MLflow, LightGBM) only when first used, so
``import tapaskit`` stays light:

- :func:`open_lde`: the lifelong database of experiments (nothing: the user's default LDE, a path,
  or an open store);
- :func:`characterize_dataset`: a dataset's DCN, from a probe net (cached in the LDE);
- :func:`fit_predictor`: a predictor fitted on the LDE's experiments near a DCN, and the predictor
  classes (:class:`TAPRegressor`, :class:`EnsemblePredictor`, :class:`LightGBMPredictor`,
  :class:`RandomForestPredictor`, :func:`make_predictor`) with :func:`architecture_frame`, their
  input for candidate networks;
- :func:`run_search` with :class:`SearchConfig`: the whole loop, returning a :class:`SearchResult`;
- :func:`load_dataset`, :func:`parse_architecture`, :func:`train_architecture` and
  :class:`Hyperparameters` for the pieces.

Example (predict two networks' accuracy on ``digits`` without training them):
    >>> import tapaskit
    >>> store = tapaskit.open_lde()
    >>> dcn = tapaskit.characterize_dataset("digits", lde=store).dcn
    >>> predictor, fit = tapaskit.fit_predictor(store, dcn, name="ensemble")
    >>> nets = [tapaskit.parse_architecture(text) for text in ("[C(32,3,1), P(2,2), C(64,3,1), GAP(10), SM(10)]",
    ...                                                         "[C(8,3,1), SM(10)]")]
    >>> predictor.predict(tapaskit.architecture_frame(nets, input_shape=(1, 8, 8), num_classes=10, dcn=dcn))
    ...                                                                            # doctest: +SKIP
    array([0.97..., 0.90...])

The layout of the package is in ``docs/design.md``; the command line is ``tapas --help``.
"""

from __future__ import annotations

import importlib
from typing import Any

from tapaskit.errors import TapasError

__version__ = "0.1.0"

#: Public name -> module that defines it (imported on first access).
_ENTRY_POINTS: dict[str, str] = {
    "open_lde": "tapaskit.store",
    "characterize_dataset": "tapaskit.workflows.characterize",
    "fit_predictor": "tapaskit.predictor.cache",
    "make_predictor": "tapaskit.predictor",
    "architecture_frame": "tapaskit.predictor",
    "TAPRegressor": "tapaskit.predictor",
    "EnsemblePredictor": "tapaskit.predictor",
    "LightGBMPredictor": "tapaskit.predictor",
    "RandomForestPredictor": "tapaskit.predictor",
    "run_search": "tapaskit.workflows.search",
    "SearchConfig": "tapaskit.workflows.search",
    "SearchResult": "tapaskit.workflows.search",
    "load_dataset": "tapaskit.datasets",
    "parse_architecture": "tapaskit.space",
    "train_architecture": "tapaskit.training",
    "Hyperparameters": "tapaskit.training",
}


def __getattr__(name: str) -> Any:
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tapaskit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_ENTRY_POINTS])


__all__ = ["TapasError", "__version__", *_ENTRY_POINTS]
