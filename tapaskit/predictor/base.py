"""The interface every accuracy predictor implements: a scikit-learn regressor on LDE frames.

A predictor is a scikit-learn estimator (``sklearn/base.py`` conventions): ``__init__`` only
stores keyword-only hyperparameters, :meth:`~BasePredictor.fit` returns ``self``, learned
attributes end in ``_``, :meth:`~BasePredictor.predict` raises
:class:`~tapaskit.errors.NotFittedError` before ``fit``. ``get_params``/``set_params``,
:func:`sklearn.base.clone` and ``score`` (R², from :class:`sklearn.base.RegressorMixin`) come
from scikit-learn. ``X`` is always the predictor input frame of :mod:`tapaskit.predictor.inputs`
and ``y`` the accuracies in [0, 1].

Subclasses implement :meth:`~BasePredictor._fit` and :meth:`~BasePredictor._predict` on checked
inputs; the checks are written once here. Predictors that read the layer encoding of their input
(TAP, the flat-feature models) derive from :class:`EncodingPredictor` and implement
``_predict_with_encoding`` instead, so that a caller holding ``encode_frame(X)`` already (the
ensemble, for all its members) hands it over with ``predict(X, encoded=...)``.

Uncertainty is an opt-in return value (as in ``sklearn/dummy.py`` and Gaussian processes):
``predict(X, return_std=True)`` returns ``(mean, std)``, two float64 arrays of shape
``(len(X),)`` on the accuracy scale; ``mean`` is exactly what ``predict(X)`` returns. Subclasses
supply the spread in :meth:`~BasePredictor._predict_with_std` (chance-corrected scale, like
``_predict``); how each predictor estimates it, and how it is calibrated, is in
``docs/predictor.md``, "Uncertainty".
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from tapaskit.errors import DataError, NotFittedError
from tapaskit.predictor.encoding import EncodedFrame, encode_frame
from tapaskit.predictor.inputs import GROUP_COLUMN, HPARAM_COLUMNS, REQUIRED_COLUMNS, check_frame, check_targets

__all__ = [
    "BasePredictor",
    "EncodingPredictor",
    "INPUT_COLUMNS",
    "combined_std",
    "from_chance_corrected",
    "to_chance_corrected",
]


# Every predictor learns the chance-corrected accuracy (acc - 1/K) / (1 - 1/K), the same scale as
# the DCN, and reports plain accuracy again. Without it, a 2-class dataset next to 10-class ones in
# the DCN window is predicted at the 10-class level (measured: docs/predictor.md, "Baselines").
def to_chance_corrected(accuracy: np.ndarray, X: pd.DataFrame) -> np.ndarray:
    chance = 1.0 / X["num_classes"].to_numpy(dtype=np.float64)
    return (accuracy - chance) / (1.0 - chance)


def from_chance_corrected(kappa: np.ndarray, X: pd.DataFrame) -> np.ndarray:
    chance = 1.0 / X["num_classes"].to_numpy(dtype=np.float64)
    return chance + kappa * (1.0 - chance)


def combined_std(spread: np.ndarray, floor: float, scale: float) -> np.ndarray:
    """``scale * sqrt(spread**2 + floor**2)``: a model's spread (members, bags, trees) on top of
    the noise floor it cannot resolve (its training residuals), times a calibration factor."""
    return scale * np.sqrt(np.square(np.asarray(spread, dtype=np.float64)) + float(floor) ** 2)


#: Every column a predictor may read from its input frame; the others (an LDE frame's ids, curves,
#: timings ...) pass unread. ``feature_names_in_`` lists those of them a fit saw.
INPUT_COLUMNS: tuple[str, ...] = (
    "arch_json", "architecture", *REQUIRED_COLUMNS, "dcn", *HPARAM_COLUMNS, GROUP_COLUMN,
    "num_samples", "extra_hparams", "train_samples",
    "proxy_synflow", "proxy_snip", "proxy_grad_norm", "proxy_jacob_cov", "proxy_naswot",
)

#: The smallest standard deviation :meth:`BasePredictor.predict` returns (never exactly 0).
_MIN_STD = 1e-6


class BasePredictor(RegressorMixin, BaseEstimator, abc.ABC):
    """Abstract accuracy predictor. Read the module docstring for the contract.

    Every predictor has the hyperparameter ``use_dcn`` (whether the dataset's DCN is an input);
    scenario B of the benchmark turns it off.
    """

    use_dcn: bool

    def fit(self, X: pd.DataFrame, y: Any) -> BasePredictor:
        """Learn from experiments.

        Args:
            X: predictor input frame (e.g. ``store.query(...)``), one row per experiment.
            y: the accuracy of each row in [0, 1] (e.g. ``X["peak_accuracy"]``).

        Returns:
            self, fitted.

        Raises:
            DataError: a missing column, an empty frame, or targets outside [0, 1].
            InvalidArchitectureError: a network that cannot be built for its row's input.
        """
        X = check_frame(X)
        targets = check_targets(y, len(X))
        self._fit(X, to_chance_corrected(targets, X))
        self.n_train_ = len(X)
        # scikit-learn's convention for frame input: the columns seen at fit. The input is a frame
        # of named columns, so predict reads them by name and ignores the others (no count check).
        self.feature_names_in_ = np.asarray([c for c in X.columns if c in INPUT_COLUMNS], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.is_fitted_ = True
        return self

    def predict(self, X: pd.DataFrame, *, encoded: EncodedFrame | None = None,
                return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy of every row, and with ``return_std`` its standard deviation.

        Args:
            X: predictor input frame, one row per network to score.
            encoded: ``encode_frame(X)``, when the caller has it already (an ensemble encodes a
                frame once for all its members); predictors that read no encoding ignore it.
            return_std: also return the predictive standard deviation of every row (accuracy
                scale; calibrated so that about 68 % of true accuracies fall within one of it on
                unseen datasets, see docs/predictor.md, "Uncertainty").

        Returns:
            A float64 array of shape ``(len(X),)``; with ``return_std`` a pair ``(mean, std)``
            of such arrays, ``mean`` equal to the plain prediction and ``std`` > 0.

        Raises:
            NotFittedError: before :meth:`fit`.
            DataError: a missing column, an empty frame, or an encoding of another length.
        """
        self._check_fitted()
        X = check_frame(X)
        if encoded is not None and len(encoded.lengths) != len(X):
            raise DataError(
                f"the encoding has {len(encoded.lengths)} rows but the frame has {len(X)}; "
                "pass encode_frame(X) of the same frame"
            )
        if return_std:
            raw, raw_std = self._predict_with_std(X, encoded)
            chance = 1.0 / X["num_classes"].to_numpy(dtype=np.float64)
            std = np.asarray(raw_std, dtype=np.float64).reshape(-1) * (1.0 - chance)
            mean = from_chance_corrected(np.asarray(raw, dtype=np.float64).reshape(-1), X)
            return mean, np.maximum(std, _MIN_STD)
        raw = self._predict(X) if encoded is None else self._predict_with_encoding(X, encoded)
        return from_chance_corrected(np.asarray(raw, dtype=np.float64).reshape(-1), X)

    def _check_fitted(self) -> None:
        if not getattr(self, "is_fitted_", False):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) before predict"
            )

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "is_fitted_", False))

    @abc.abstractmethod
    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Learn from a checked frame and checked targets; set the ``*_`` attributes."""

    @abc.abstractmethod
    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict for a checked frame (the estimator is fitted)."""

    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        """Predict for a checked frame whose encoding is at hand; only readers of it use it."""
        return self._predict(X)

    def _predict_with_std(self, X: pd.DataFrame, encoded: EncodedFrame | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` on the chance-corrected scale for a checked frame (fitted); the mean
        must equal what ``_predict`` returns. Every predictor of the toolkit implements it."""
        raise NotImplementedError(f"{type(self).__name__} does not estimate its uncertainty")


class EncodingPredictor(BasePredictor):
    """A predictor that reads the layer encoding of its input (:func:`encode_frame`).

    Subclasses implement :meth:`_predict_with_encoding`; :meth:`_predict` encodes the frame.
    """

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict_with_encoding(X, encode_frame(X))

    @abc.abstractmethod
    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        """Predict for a checked frame and its encoding (the estimator is fitted)."""

    def _predict_with_std(self, X: pd.DataFrame, encoded: EncodedFrame | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        return self._predict_std_with_encoding(X, encode_frame(X) if encoded is None else encoded)

    def _predict_std_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)``, chance-corrected, for a checked frame and its encoding."""
        raise NotImplementedError(f"{type(self).__name__} does not estimate its uncertainty")
