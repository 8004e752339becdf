"""The predictors by name, as the benchmark, the search cache and the command line refer to them.

Usage::

    from tapaskit.predictor import make_predictor, seeded_predictor
    tap = make_predictor("tap", hidden_size=16)        # a fresh, unfitted TAPRegressor
    default = seeded_predictor("ensemble", seed=3)     # the default predictor, seeded

A name stands for a predictor class with its default hyperparameters: ``"ensemble"`` is
``EnsemblePredictor()``, the default configured ensemble (its members are built in
``ensemble.py``, which never looks names up here). Composites take estimator objects, not names.
"""

from __future__ import annotations

from typing import Any

from tapaskit.checks import check_choice
from tapaskit.errors import InvalidOptionError
from tapaskit.predictor.base import BasePredictor
from tapaskit.predictor.baselines import (
    DatasetMeanPredictor,
    LightGBMPredictor,
    ParamCountPredictor,
    RandomForestPredictor,
)
from tapaskit.predictor.ensemble import EnsemblePredictor
from tapaskit.predictor.tap import TAPRegressor

__all__ = ["DEFAULT_PREDICTOR", "PREDICTORS", "make_predictor", "seeded_predictor"]

#: The predictors by name; a name stands for its class with the default hyperparameters.
PREDICTORS: dict[str, type[BasePredictor]] = {
    "tap": TAPRegressor,
    "lightgbm": LightGBMPredictor,
    "random_forest": RandomForestPredictor,
    "dataset_mean": DatasetMeanPredictor,
    "params": ParamCountPredictor,
    "ensemble": EnsemblePredictor,
}

#: The predictor the toolkit uses when none is named: the default ensemble, which ranks best on the
#: default LDE (docs/predictor.md, "History of the default").
DEFAULT_PREDICTOR = "ensemble"


def make_predictor(name: str = DEFAULT_PREDICTOR, **params: Any) -> BasePredictor:
    """A fresh, unfitted predictor by registry name.

    Args:
        name: a key of :data:`PREDICTORS`.
        **params: hyperparameters for its constructor.

    Raises:
        InvalidOptionError: an unknown name or hyperparameter.
    """
    cls = PREDICTORS[check_choice("predictor", name, tuple(PREDICTORS))]
    known = cls().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidOptionError(
            f"{name} has no hyperparameter {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    return cls(**params)


def seeded_predictor(name: str, seed: int, **params: Any) -> BasePredictor:
    """:func:`make_predictor` with ``seed`` set when the predictor has one (the baselines without
    randomness have none)."""
    predictor = make_predictor(name, **params)
    if "seed" in predictor.get_params():
        predictor.set_params(seed=seed)
    return predictor
