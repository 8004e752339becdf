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
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from tapaskit.errors import DataError, NotFittedError
from tapaskit.predictor.encoding import EncodedFrame, encode_frame
from tapaskit.predictor.inputs import check_frame, check_targets

__all__ = ["BasePredictor", "EncodingPredictor", "from_chance_corrected", "to_chance_corrected"]


# Every predictor learns the chance-corrected accuracy (acc - 1/K) / (1 - 1/K), the same scale as
# the DCN, and reports plain accuracy again. Without it, a 2-class dataset next to 10-class ones in
# the DCN window is predicted at the 10-class level (measured: docs/predictor.md, "Baselines").
def to_chance_corrected(accuracy: np.ndarray, X: pd.DataFrame) -> np.ndarray:
    chance = 1.0 / X["num_classes"].to_numpy(dtype=np.float64)
    return (accuracy - chance) / (1.0 - chance)


def from_chance_corrected(kappa: np.ndarray, X: pd.DataFrame) -> np.ndarray:
    chance = 1.0 / X["num_classes"].to_numpy(dtype=np.float64)
    return chance + kappa * (1.0 - chance)


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
        self.is_fitted_ = True
        return self

    def predict(self, X: pd.DataFrame, *, encoded: EncodedFrame | None = None) -> np.ndarray:
        """Predicted accuracy of every row.

        Args:
            X: predictor input frame, one row per network to score.
            encoded: ``encode_frame(X)``, when the caller has it already (an ensemble encodes a
                frame once for all its members); predictors that read no encoding ignore it.

        Returns:
            A float64 array of shape ``(len(X),)``.

        Raises:
            NotFittedError: before :meth:`fit`.
            DataError: a missing column, an empty frame, or an encoding of another length.
        """
        self._check_fitted()
        X = check_frame(X)
        if encoded is None:
            raw = self._predict(X)
        else:
            if len(encoded.lengths) != len(X):
                raise DataError(
                    f"the encoding has {len(encoded.lengths)} rows but the frame has {len(X)}; "
                    "pass encode_frame(X) of the same frame"
                )
            raw = self._predict_with_encoding(X, encoded)
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


class EncodingPredictor(BasePredictor):
    """A predictor that reads the layer encoding of its input (:func:`encode_frame`).

    Subclasses implement :meth:`_predict_with_encoding`; :meth:`_predict` encodes the frame.
    """

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict_with_encoding(X, encode_frame(X))

    @abc.abstractmethod
    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        """Predict for a checked frame and its encoding (the estimator is fitted)."""
