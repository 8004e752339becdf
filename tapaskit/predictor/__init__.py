"""Train-less accuracy prediction: TAP (the TAPAS stacked LSTM), its baselines and metrics.

Every predictor is a scikit-learn regressor whose ``X`` is a frame of experiments (the LDE's
experiment frame, or :func:`architecture_frame` for candidates) and whose ``y`` is the accuracy.
See ``docs/predictor.md`` for the encoding, the training and the benchmark figures.

Example:
    >>> from tapaskit.predictor import make_predictor, select_training_set
    >>> selection = select_training_set(store, dcn=0.42)          # doctest: +SKIP
    >>> frame = selection.frame                                   # doctest: +SKIP
    >>> tap = make_predictor("tap").fit(frame, frame["peak_accuracy"])  # doctest: +SKIP
"""

from __future__ import annotations

from tapaskit.predictor.base import BasePredictor
from tapaskit.predictor.baselines import (
    DatasetMeanPredictor,
    LightGBMPredictor,
    ParamCountPredictor,
    RandomForestPredictor,
)
from tapaskit.predictor.encoding import (
    CONTEXT_FEATURES,
    STEP_FEATURES,
    EncodedFrame,
    encode_architecture,
    encode_frame,
)
from tapaskit.predictor.ensemble import EnsemblePredictor
from tapaskit.predictor.features import FLAT_FEATURES, flat_features
from tapaskit.predictor.holdout import (
    ARCHITECTURE_FOLDS,
    dataset_families,
    family_of,
    unseen_architecture_folds,
)
from tapaskit.predictor.inputs import REQUIRED_COLUMNS, architecture_frame
from tapaskit.predictor.metrics import (
    CALIBRATION_METRICS,
    METRICS,
    calibration_report,
    regression_report,
)
from tapaskit.predictor.registry import DEFAULT_PREDICTOR, PREDICTORS, make_predictor, seeded_predictor
from tapaskit.predictor.tap import TAPRegressor
from tapaskit.predictor.training_set import (
    DEFAULT_MIN_DATASETS,
    DEFAULT_MIN_EXPERIMENTS,
    DEFAULT_TAU,
    TrainingSelection,
    select_training_set,
)

__all__ = [
    "ARCHITECTURE_FOLDS",
    "BasePredictor",
    "CALIBRATION_METRICS",
    "CONTEXT_FEATURES",
    "DEFAULT_PREDICTOR",
    "DEFAULT_MIN_DATASETS",
    "DEFAULT_MIN_EXPERIMENTS",
    "DEFAULT_TAU",
    "DatasetMeanPredictor",
    "EncodedFrame",
    "EnsemblePredictor",
    "FLAT_FEATURES",
    "LightGBMPredictor",
    "METRICS",
    "PREDICTORS",
    "ParamCountPredictor",
    "REQUIRED_COLUMNS",
    "RandomForestPredictor",
    "STEP_FEATURES",
    "TAPRegressor",
    "TrainingSelection",
    "architecture_frame",
    "calibration_report",
    "dataset_families",
    "encode_architecture",
    "encode_frame",
    "family_of",
    "flat_features",
    "make_predictor",
    "seeded_predictor",
    "regression_report",
    "select_training_set",
    "unseen_architecture_folds",
]
