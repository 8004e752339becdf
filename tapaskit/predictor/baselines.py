"""Baseline predictors TAP is compared against, behind the same estimator interface.

- :class:`LightGBMPredictor` and :class:`RandomForestPredictor`: gradient-boosted trees and a
  random forest on the flat features of :mod:`tapaskit.predictor.features` (network counts and
  statistics + DCN + dataset shape + hyperparameters and training samples), plus the zero-cost
  proxies where the frame has them (:mod:`tapaskit.predictor.proxies`: LightGBM reads a missing
  proxy as NaN, natively; the forest reads the training mean and a presence flag; both see a
  ``proxy_dropout`` share of their training rows without proxies).
- :class:`DatasetMeanPredictor`: the mean accuracy of the ``k_nearest`` training datasets nearest
  to the row's DCN (the overall training mean when DCNs are unknown or ``use_dcn=False``). It
  knows nothing of the network: its ranking metrics are 0 by construction, its errors show what
  knowing the dataset's difficulty alone is worth.
- :class:`ParamCountPredictor`: a least-squares line in ``log10(params)`` (plus the DCN when
  ``use_dcn``): within one dataset it ranks networks by size only, the classic "bigger is better"
  baseline for ranking metrics.

Uncertainty (``predict(X, return_std=True)``, docs/predictor.md, "Uncertainty"): LightGBM, the
spread of ``n_bags`` small boosters each fitted on a seeded half of the training datasets (of the
rows, with one dataset); the random forest, the spread of its trees; both on top of their
training residuals' scale. The dataset mean: the spread of the nearest datasets' means on top of
the networks' spread within a dataset. The parameter-count line: its least-squares prediction
interval, wider the further a network's size is from the training networks'.

All are deterministic given ``seed``; the tree models fit with ``n_jobs`` threads (1 by default:
the toolkit shares small machines), and LightGBM predicts with ``predict_threads`` (2).
:class:`LightGBMPredictor` saves to and loads from a file like TAP (its booster as LightGBM's own
model text, see ``persistence.py``), so the default ensemble can be cached by ``tapas search``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tapaskit.checks import check_int, check_number
from tapaskit.errors import DataError
from tapaskit.predictor.base import BasePredictor, EncodingPredictor, combined_std
from tapaskit.predictor.encoding import EncodedFrame, encode_frame
from tapaskit.predictor.features import FLAT_FEATURES, flat_features
from tapaskit.predictor.inputs import GROUP_COLUMN, PROXY_COLUMNS, group_codes
from tapaskit.predictor.persistence import SavablePredictor
from tapaskit.predictor.proxies import (
    check_proxy_params,
    hidden_rows,
    proxy_block,
    proxy_matrix,
    used_proxies,
)

__all__ = [
    "DatasetMeanPredictor",
    "LightGBMPredictor",
    "ParamCountPredictor",
    "RandomForestPredictor",
]

_PARAMS = FLAT_FEATURES.index("log10_params")
#: ``format`` of a saved :class:`LightGBMPredictor`.
LIGHTGBM_FORMAT = "tapaskit.lightgbm/1"


def _dcn(X: pd.DataFrame) -> np.ndarray:
    if "dcn" not in X.columns:
        return np.full(len(X), np.nan)
    return pd.to_numeric(X["dcn"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class _FlatFeaturePredictor(EncodingPredictor):
    """Shared plumbing: flat features with NaN filled by the training column means, then the
    zero-cost proxies the training rows held (values and presence flags)."""

    use_dcn: bool
    use_hparams: bool
    # the proxy hyperparameters of the models that read proxies (none by default)
    proxies: tuple[str, ...] | None = ()
    proxy_scaling: str = "raw"
    proxy_dropout: float = 0.0
    #: whether missing proxies stay NaN (LightGBM) or are filled with the training mean
    _native_missing = False

    def _features(self, X: pd.DataFrame, *, fit: bool,
                  encoded: EncodedFrame | None = None) -> np.ndarray:
        encoded = encode_frame(X) if encoded is None else encoded
        features = flat_features(encoded, use_dcn=self.use_dcn, use_hparams=self.use_hparams)
        if fit:
            with warnings.catch_warnings():  # all-NaN columns (no DCN anywhere) become 0
                warnings.simplefilter("ignore", category=RuntimeWarning)
                fill = np.nanmean(features, axis=0)
            self.fill_ = np.where(np.isnan(fill), 0.0, fill)
        features = np.where(np.isnan(features), self.fill_, features)
        matrix = encoded.proxies if encoded.proxies is not None else proxy_matrix(X)
        if fit:
            names = check_proxy_params(self.proxies, self.proxy_scaling, self.proxy_dropout)
            self.proxies_ = used_proxies(matrix, names)
        names = getattr(self, "proxies_", [])
        if not names:
            return features
        values, present = proxy_block(matrix, names, self.proxy_scaling)
        if fit:
            hide = hidden_rows(present, self.proxy_dropout, getattr(self, "seed", 0))
            values[hide], present[hide] = np.nan, 0.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                fill = np.nanmean(values, axis=0)
            self.proxy_fill_ = np.where(np.isnan(fill), 0.0, fill)
        if not self._native_missing:
            values = np.where(np.isnan(values), self.proxy_fill_, values)
        return np.concatenate([features, values, present], axis=1)

    def _feature_names(self) -> list[str]:
        """Column names of :meth:`_features`: the flat features, then the proxy block."""
        names = list(getattr(self, "proxies_", []))
        values = {"raw": names, "dataset": [f"{n}_z" for n in names],
                  "both": names + [f"{n}_z" for n in names]}[self.proxy_scaling] if names else []
        return [*FLAT_FEATURES, *values, *(f"has_{n}" for n in names)]


def _rms(residuals: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(residuals))))


def _bag_rows(groups: np.ndarray, n_bags: int, seed: int) -> list[np.ndarray]:
    """Rows of each bag: complementary halves of a seeded shuffle of the groups (datasets), a
    new shuffle for every pair of bags; of the rows when there is one group."""
    rng = np.random.default_rng([seed, n_bags, len(groups)])
    unique = np.unique(groups)
    bags: list[np.ndarray] = []
    while len(bags) < n_bags:
        if len(unique) >= 2:
            order = rng.permutation(unique)
            half = (len(order) + 1) // 2
            halves = [np.flatnonzero(np.isin(groups, part)) for part in (order[:half], order[half:])]
        else:
            order = rng.permutation(len(groups))
            half = (len(order) + 1) // 2
            halves = [np.sort(order[:half]), np.sort(order[half:])]
        bags.extend(rows for rows in halves if len(rows) >= 2)
    return bags[:n_bags]


class LightGBMPredictor(SavablePredictor, _FlatFeaturePredictor):
    """Gradient-boosted trees (LightGBM) on flat features.

    Args:
        n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree,
            reg_lambda: passed to :class:`lightgbm.LGBMRegressor`.
        use_dcn: whether the DCN is a feature.
        use_hparams: whether lr / epochs / batch size / training samples are features.
        proxies, proxy_scaling, proxy_dropout: the zero-cost proxies read where present (NaN,
            natively, where missing), how they are scaled, and the share of training rows shown
            without them (:mod:`tapaskit.predictor.proxies`).
        seed: LightGBM's ``random_state``.
        n_jobs: LightGBM threads while fitting.
        predict_threads: LightGBM threads in :meth:`predict` (at most one per CPU). Predictions
            do not depend on it; two score 20,000 networks in 0.20 s instead of 0.35 s.
        n_bags: small boosters, each fitted on a seeded half of the training datasets (of the
            rows when there is one dataset), whose spread is the uncertainty of
            ``predict(X, return_std=True)``; 0 leaves only the residual floor.
        bag_estimators: trees of each of them (learning rate scaled up to match).
        std_scale: calibration factor of the returned standard deviation (1.4: about 72 % of the
            true accuracies within one standard deviation on the default LDE's unseen datasets,
            scenarios C and F; docs/predictor.md, "Uncertainty").

    Attributes:
        booster_: the fitted ``lightgbm.Booster``.
        bag_boosters_: the ``n_bags`` boosters of the uncertainty.
        residual_std_: root mean square of the training residuals (chance-corrected).
        fill_: NaN fill value per flat feature.
        proxies_: the proxies the training rows held (at least ten rows each), read at
            prediction; ``proxy_fill_`` their training means (unused: LightGBM reads NaN).
    """

    file_format = LIGHTGBM_FORMAT
    _native_missing = True
    file_kind = "LightGBM predictor"

    def __init__(self, *, n_estimators: int = 500, learning_rate: float = 0.03,
                 num_leaves: int = 15, min_child_samples: int = 10, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, use_dcn: bool = True,
                 use_hparams: bool = True, proxies: tuple[str, ...] | None = PROXY_COLUMNS,
                 proxy_scaling: str = "raw", proxy_dropout: float = 0.3, seed: int = 0, n_jobs: int = 1,
                 predict_threads: int = 2, n_bags: int = 4, bag_estimators: int = 100,
                 std_scale: float = 1.4) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.use_dcn = use_dcn
        self.use_hparams = use_hparams
        self.proxies = proxies
        self.proxy_scaling = proxy_scaling
        self.proxy_dropout = proxy_dropout
        self.seed = seed
        self.n_jobs = n_jobs
        self.predict_threads = predict_threads
        self.n_bags = n_bags
        self.bag_estimators = bag_estimators
        self.std_scale = std_scale

    def _booster(self, features: np.ndarray, y: np.ndarray, n_estimators: int,
                 learning_rate: float, seed: int) -> Any:
        from lightgbm import LGBMRegressor  # heavy: imported where used

        model = LGBMRegressor(
            n_estimators=n_estimators, learning_rate=learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1, colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda, random_state=seed, n_jobs=self.n_jobs, verbose=-1,
        )
        model.fit(pd.DataFrame(features, columns=self._feature_names()), y)
        return model.booster_

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        check_int("n_estimators", self.n_estimators, 1)
        check_int("predict_threads", self.predict_threads, 1)
        check_int("n_bags", self.n_bags, 0)
        check_int("bag_estimators", self.bag_estimators, 1)
        check_number("std_scale", self.std_scale, 0.0, open_low=True)
        features = self._features(X, fit=True)
        self.booster_ = self._booster(features, y, self.n_estimators, self.learning_rate,
                                      self.seed)
        bag_rate = min(0.3, self.learning_rate * self.n_estimators / self.bag_estimators)
        self.bag_boosters_ = [
            self._booster(features[rows], y[rows], self.bag_estimators, bag_rate, self.seed + 1 + k)
            for k, rows in enumerate(_bag_rows(group_codes(X), self.n_bags, self.seed))
        ]
        self.residual_std_ = _rms(y - self._raw(features))

    def _raw(self, features: np.ndarray, booster: Any = None) -> np.ndarray:
        frame = pd.DataFrame(features, columns=self._feature_names())
        threads = min(self.predict_threads, os.cpu_count() or 1)
        return np.clip((booster or self.booster_).predict(frame, num_threads=threads), 0.0, 1.0)

    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        return self._raw(self._features(X, fit=False, encoded=encoded))

    def _predict_std_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame
                                   ) -> tuple[np.ndarray, np.ndarray]:
        features = self._features(X, fit=False, encoded=encoded)
        bags = getattr(self, "bag_boosters_", [])
        spread = (np.stack([self._raw(features, booster) for booster in bags]).std(axis=0, ddof=1)
                  if len(bags) >= 2 else np.zeros(len(features)))
        return self._raw(features), combined_std(spread, getattr(self, "residual_std_", 0.0),
                                                 self.std_scale)

    # -- persistence --------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fitted predictor as JSON-able metadata (the booster as model text), no tensors.

        Raises:
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        return {"format": LIGHTGBM_FORMAT, "params": self.get_params(),
                "features": list(FLAT_FEATURES), "fill": [float(v) for v in self.fill_],
                "proxies": list(self.proxies_),
                "proxy_fill": [float(v) for v in getattr(self, "proxy_fill_", [])],
                "booster": self.booster_.model_to_string(),
                "bag_boosters": [b.model_to_string() for b in self.bag_boosters_],
                "residual_std": self.residual_std_}, {}

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, Any],
                   source: str | Path = "the state") -> LightGBMPredictor:
        """The predictor of :meth:`state`'s output.

        Raises:
            DataError: the state was written for other features.
        """
        from lightgbm import Booster  # heavy: imported where used

        if meta["features"] != list(FLAT_FEATURES):
            raise DataError(f"{source} was written for other features; refit the predictor")
        known = cls().get_params()
        params = {k: v for k, v in meta["params"].items() if k in known}
        if isinstance(params.get("proxies"), list):  # JSON has no tuples
            params["proxies"] = tuple(params["proxies"])
        model = cls(**params)
        model.fill_ = np.asarray(meta["fill"], dtype=np.float64)
        model.proxies_ = [str(name) for name in meta.get("proxies", [])]
        model.proxy_fill_ = np.asarray(meta.get("proxy_fill", []), dtype=np.float64)
        model.booster_ = Booster(model_str=meta["booster"])
        # older files: no bags and no residual floor (the standard deviation is then 0 + 1e-6)
        model.bag_boosters_ = [Booster(model_str=text) for text in meta.get("bag_boosters", [])]
        model.residual_std_ = float(meta.get("residual_std", 0.0))
        model.is_fitted_ = True
        return model


class RandomForestPredictor(_FlatFeaturePredictor):
    """A random forest (scikit-learn) on flat features.

    Args:
        n_estimators, max_features, min_samples_leaf: passed to
            :class:`sklearn.ensemble.RandomForestRegressor`.
        use_dcn: whether the DCN is a feature.
        use_hparams: whether lr / epochs / batch size / training samples are features.
        proxies, proxy_scaling, proxy_dropout: the zero-cost proxies read where present (the
            training mean and a presence flag where missing), how they are scaled, and the
            share of training rows shown without them (:mod:`tapaskit.predictor.proxies`).
        seed: the forest's ``random_state``.
        n_jobs: threads.
        std_scale: calibration factor of the standard deviation (the spread of the trees on top
            of the training residuals' scale).

    Attributes:
        model_: the fitted forest.
        residual_std_: root mean square of the training residuals (chance-corrected).
        fill_: NaN fill value per flat feature; ``proxy_fill_`` per proxy column.
        proxies_: the proxies the training rows held (at least ten rows each).
        columns_: the feature columns the forest reads (those not constant in training).
    """

    def __init__(self, *, n_estimators: int = 300, max_features: float = 0.5,
                 min_samples_leaf: int = 2, use_dcn: bool = True, use_hparams: bool = True,
                 proxies: tuple[str, ...] | None = PROXY_COLUMNS, proxy_scaling: str = "raw",
                 proxy_dropout: float = 0.3, seed: int = 0, n_jobs: int = 1,
                 std_scale: float = 1.0) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.use_dcn = use_dcn
        self.use_hparams = use_hparams
        self.proxies = proxies
        self.proxy_scaling = proxy_scaling
        self.proxy_dropout = proxy_dropout
        self.seed = seed
        self.n_jobs = n_jobs
        self.std_scale = std_scale

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestRegressor

        check_int("n_estimators", self.n_estimators, 1)
        self.model_ = RandomForestRegressor(
            n_estimators=self.n_estimators, max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf, random_state=self.seed, n_jobs=self.n_jobs,
        )
        features = self._features(X, fit=True)
        # columns constant in training (an unrecorded schedule, absent proxies) would only take
        # places in each split's max_features draw
        self.columns_ = np.flatnonzero(np.ptp(features, axis=0) > 0)
        features = features[:, self.columns_]
        self.model_.fit(features, y)
        self.residual_std_ = _rms(y - self.model_.predict(features))

    def _forest_features(self, X: pd.DataFrame, encoded: EncodedFrame | None) -> np.ndarray:
        return self._features(X, fit=False, encoded=encoded)[:, self.columns_]

    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        return self.model_.predict(self._forest_features(X, encoded))

    def _predict_std_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame
                                   ) -> tuple[np.ndarray, np.ndarray]:
        features = self._forest_features(X, encoded)
        trees = np.stack([tree.predict(features) for tree in self.model_.estimators_])
        # the forest's prediction is the mean of its trees: computed by the forest itself so
        # that the mean equals predict() to the bit
        return (self.model_.predict(features),
                combined_std(trees.std(axis=0), self.residual_std_, self.std_scale))


class DatasetMeanPredictor(BasePredictor):
    """The mean accuracy of the training datasets nearest in DCN (or of all training data).

    Args:
        k_nearest: how many training datasets (nearest in DCN) are averaged, >= 1.
        use_dcn: whether to look at DCNs at all; ``False`` predicts the overall training mean.

    Attributes:
        overall_mean_: mean accuracy of all training rows.
        overall_std_: their standard deviation.
        within_std_: the networks' standard deviation within a training dataset (pooled).
        dataset_dcn_, dataset_mean_: DCN and mean accuracy of each training dataset with a DCN.
    """

    def __init__(self, *, k_nearest: int = 2, use_dcn: bool = True) -> None:
        self.k_nearest = k_nearest
        self.use_dcn = use_dcn

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        check_int("k_nearest", self.k_nearest, 1)
        self.overall_mean_ = float(np.mean(y))
        self.overall_std_ = float(np.std(y))
        centred = y - pd.Series(y).groupby(group_codes(X)).transform("mean").to_numpy()
        self.within_std_ = _rms(centred)
        dcn = _dcn(X)
        known = ~np.isnan(dcn)
        frame = pd.DataFrame({"dcn": dcn[known], "y": y[known]})
        # a dataset is its name where there is one, else its DCN value
        frame["key"] = (X.loc[known, GROUP_COLUMN].astype(str).to_numpy()
                        if GROUP_COLUMN in X.columns else frame["dcn"].astype(str))
        per = frame.groupby("key").agg(dcn=("dcn", "mean"), mean=("y", "mean"))
        self.dataset_dcn_ = per["dcn"].to_numpy()
        self.dataset_mean_ = per["mean"].to_numpy()

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict_with_std(X, None)[0]

    def _predict_with_std(self, X: pd.DataFrame, encoded: EncodedFrame | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        # it knows nothing of the network: without a DCN every row is as uncertain as the
        # training accuracies spread; with one, the nearest datasets' means disagree on top of
        # the networks' spread within a dataset
        out = np.full(len(X), self.overall_mean_)
        std = np.full(len(X), max(self.overall_std_, self.within_std_))
        if not self.use_dcn or len(self.dataset_dcn_) == 0:
            return out, std
        dcn = _dcn(X)
        known = ~np.isnan(dcn)
        if known.any():
            k = min(self.k_nearest, len(self.dataset_dcn_))
            distance = np.abs(dcn[known, None] - self.dataset_dcn_[None, :])  # (rows, datasets)
            nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
            out[known] = self.dataset_mean_[nearest].mean(axis=1)
            spread = self.dataset_mean_[nearest].std(axis=1, ddof=1) if k >= 2 else 0.0
            std[known] = combined_std(spread, self.within_std_, 1.0)
        return out, std


class ParamCountPredictor(_FlatFeaturePredictor):
    """A least-squares line in ``log10(params)`` (and the DCN when ``use_dcn``).

    Args:
        use_dcn: whether the DCN is a second regressor.

    Attributes:
        coef_: slope(s); ``intercept_``: the intercept.
        residual_std_, design_inverse_: the residual standard deviation and ``(D'D)^-1`` of the
            design ``D``, for the prediction interval of ``predict(X, return_std=True)``.
    """

    use_hparams = False

    def __init__(self, *, use_dcn: bool = True) -> None:
        self.use_dcn = use_dcn

    def _design(self, X: pd.DataFrame, *, fit: bool,
                encoded: EncodedFrame | None = None) -> np.ndarray:
        features = self._features(X, fit=fit, encoded=encoded)
        columns = [features[:, _PARAMS]]
        if self.use_dcn:
            columns.append(features[:, FLAT_FEATURES.index("dcn")])
        return np.stack(columns, axis=1)

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        design = self._design(X, fit=True)
        design = np.concatenate([design, np.ones((len(design), 1))], axis=1)
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        self.coef_, self.intercept_ = solution[:-1], float(solution[-1])
        dof = max(len(y) - design.shape[1], 1)
        self.residual_std_ = float(np.sqrt(np.sum(np.square(y - design @ solution)) / dof))
        self.design_inverse_ = np.linalg.pinv(design.T @ design)

    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        design = self._design(X, fit=False, encoded=encoded)
        return np.clip(design @ self.coef_ + self.intercept_, 0.0, 1.0)

    def _predict_std_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame
                                   ) -> tuple[np.ndarray, np.ndarray]:
        design = self._design(X, fit=False, encoded=encoded)
        mean = np.clip(design @ self.coef_ + self.intercept_, 0.0, 1.0)
        full = np.concatenate([design, np.ones((len(design), 1))], axis=1)
        leverage = np.einsum("ij,jk,ik->i", full, self.design_inverse_, full)
        return mean, self.residual_std_ * np.sqrt(1.0 + np.maximum(leverage, 0.0))
