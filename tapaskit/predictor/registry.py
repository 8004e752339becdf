"""The predictors by name, as the benchmark and the command line refer to them."""

from __future__ import annotations

from typing import Any

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

#: Every predictor class by its registry name.
PREDICTORS: dict[str, type[BasePredictor]] = {
    "tap": TAPRegressor,
    "lightgbm": LightGBMPredictor,
    "random_forest": RandomForestPredictor,
    "dataset_mean": DatasetMeanPredictor,
    "params": ParamCountPredictor,
    "ensemble": EnsemblePredictor,
}

#: The predictor the toolkit uses when none is named: TAP (3 seeds) weighted 2 : 1 against LightGBM,
#: both trained on within-dataset ranks, mapped back to accuracies; it beats each alone on the
#: default LDE, scenario C, on the LDE's networks (Kendall tau 0.736 against 0.703 for TAP and 0.709
#: for LightGBM) and on unseen architectures (0.644 against 0.616 and 0.519); `tapas benchmark
#: predictor --scenario C [--unseen-architectures]`, docs/predictor.md.
DEFAULT_PREDICTOR = "ensemble"


def make_predictor(name: str = DEFAULT_PREDICTOR, **params: Any) -> BasePredictor:
    """A fresh, unfitted predictor by registry name.

    Args:
        name: a key of :data:`PREDICTORS`.
        **params: hyperparameters for its constructor.

    Raises:
        InvalidOptionError: an unknown name or hyperparameter.
    """
    if name not in PREDICTORS:
        raise InvalidOptionError(
            f"predictor must be one of {', '.join(PREDICTORS)}, but got {name!r}"
        )
    cls = PREDICTORS[name]
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
