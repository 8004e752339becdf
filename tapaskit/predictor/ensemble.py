"""A weighted mix of predictors: TAP and LightGBM err differently, and their mix ranks better.

Usage::

    from tapaskit.predictor import EnsemblePredictor, LightGBMPredictor, TAPRegressor
    ensemble = EnsemblePredictor(
        members=[("tap", TAPRegressor(n_members=3, length_batches=True)),
                 ("lightgbm", LightGBMPredictor(n_estimators=250, learning_rate=0.06))],
        weights=(2.0, 1.0), level=LightGBMPredictor(n_estimators=250, learning_rate=0.06),
        target="rank", seed=0,
    )                                      # the defaults: EnsemblePredictor() is the same
    ensemble.fit(frame, frame["peak_accuracy"])
    accuracy = ensemble.predict(candidates)

:class:`EnsemblePredictor` takes its members as ``(name, estimator)`` pairs and fits a clone of
each (:func:`sklearn.base.clone`, as scikit-learn's ``VotingRegressor`` does), so the objects
handed in are never fitted themselves. Its ``seed`` and ``use_dcn`` are set on every clone that
has such a hyperparameter. The prediction is the weighted mean of the members' predictions, so it
stays calibrated (MAE is meaningful) and its ranking is the consensus; with ``target="rank"`` the
members learn within-dataset ranks and a ``level`` model maps their mix back to accuracies (see
the class docstring). Why this default mix, and how it got there: ``docs/predictor.md``,
"Choosing the default" and "History of the default".

Uncertainty (``predict(X, return_std=True)``): the members' predictions are a mixture, so its
variance is the weighted spread of the members' means plus the weighted mean of their own
variances; with ``target="rank"`` that spread of rank scores is turned into accuracies by the
ratio of the reference networks' spreads of accuracy and of rank score, and the level model's own
uncertainty is added; ``std_scale`` calibrates the result
(docs/predictor.md, "Uncertainty").

Members that read the layer encoding (:class:`~tapaskit.predictor.base.EncodingPredictor`) share
one: the ensemble encodes a frame once and hands it to them.

An ensemble whose members (and, with ``target="rank"``, its level model) can all be saved is
saved to one file and loaded back like TAP (see ``persistence.py``): each part's class is found
from the format of its nested state. ``tapas search`` caches its fitted predictor that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tapaskit.checks import check_choice, check_number
from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor.base import (
    BasePredictor,
    EncodingPredictor,
    from_chance_corrected,
    to_chance_corrected,
)
from tapaskit.predictor.baselines import LightGBMPredictor
from tapaskit.predictor.encoding import EncodedFrame, encode_frame
from tapaskit.predictor.inputs import (
    HPARAM_COLUMNS,
    REQUIRED_COLUMNS,
    TRAIN_SAMPLES_COLUMN,
    group_codes,
    train_samples,
)
from tapaskit.predictor.proxies import check_proxy_params
from tapaskit.predictor.persistence import SavablePredictor, predictor_class
from tapaskit.predictor.tap import TAPRegressor

__all__ = ["ENSEMBLE_FORMAT", "EnsemblePredictor", "TARGETS", "default_level", "default_members"]

#: What the members learn: the accuracy, or each network's percentile rank within its dataset.
TARGETS: tuple[str, ...] = ("accuracy", "rank")
#: Columns that set a network's context (the dataset and the schedule), not its architecture;
#: ``train_samples`` as :func:`~tapaskit.predictor.inputs.train_samples` derives it.
CONTEXT_COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, "dcn", *HPARAM_COLUMNS, TRAIN_SAMPLES_COLUMN)
#: At most this many distinct training architectures are kept as reference networks.
MAX_REFERENCE_NETWORKS = 500
#: ``format`` of a saved :class:`EnsemblePredictor`.
ENSEMBLE_FORMAT = "tapaskit.ensemble/1"


def default_members() -> list[tuple[str, BasePredictor]]:
    """The members of ``EnsemblePredictor(members=None)``, unfitted: TAP averaged over three
    seeds, trained on minibatches of networks of one length, and a LightGBM of 250 trees, to be
    weighted 2 : 1 (why these sizes: docs/predictor.md, "Fit and scoring speed")."""
    return [("tap", TAPRegressor(n_members=3, length_batches=True)), ("lightgbm", default_level())]


def default_level() -> BasePredictor:
    """The level model of ``EnsemblePredictor(level=None)``, unfitted: a LightGBM of 250 trees
    (learning rate 0.06; the baseline's 500 at 0.03 rank the same and take twice as long)."""
    return LightGBMPredictor(n_estimators=250, learning_rate=0.06)


def _reference_networks(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The distinct architectures of the training rows (a seeded sample when there are many)."""
    if "arch_json" in X.columns:
        arch_json = X["arch_json"].astype(str)
    else:
        arch_json = pd.Series([a.to_json() for a in X["architecture"]], index=X.index)
    unique = pd.DataFrame({"arch_json": arch_json.drop_duplicates().to_numpy()})
    if len(unique) > MAX_REFERENCE_NETWORKS:
        unique = unique.sample(MAX_REFERENCE_NETWORKS, random_state=seed).reset_index(drop=True)
    return unique


def _describe(estimator: BasePredictor) -> dict[str, Any]:
    """An estimator's class and hyperparameters (its signature when it has one), for a cache key."""
    params = estimator.signature() if isinstance(estimator, SavablePredictor) else estimator.get_params()
    return {"class": f"{type(estimator).__module__}.{type(estimator).__qualname__}", "params": params}


def _savable(estimator: BasePredictor) -> bool:
    return isinstance(estimator, SavablePredictor) and estimator.can_save


def _nested(tensors: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


class EnsemblePredictor(SavablePredictor, BasePredictor):
    """The weighted mean of several predictors' predictions.

    Args:
        members: ``(name, estimator)`` pairs with distinct names, e.g.
            ``[("tap", TAPRegressor(n_members=3)), ("lightgbm", LightGBMPredictor())]``; each
            estimator is a :class:`~tapaskit.predictor.base.BasePredictor` (an ensemble too),
            cloned at :meth:`fit`. ``None``: :func:`default_members`.
        weights: one weight per member (normalised to sum 1); ``None`` weighs them equally.
        level: with ``target="rank"``, the model of the accuracy level that maps the members'
            rank scores back to accuracies (cloned and fitted on the accuracies); ``None``:
            :func:`default_level`. Unused with ``target="accuracy"``.
        target: what the members learn. ``"accuracy"``: the accuracy, and the prediction is the
            weighted mean of theirs. ``"rank"``: each network's percentile rank within its own
            dataset (``dataset_name``; one group without it), which drops every dataset's level
            and spread from the target. The weighted mean of their rank scores is then turned
            back into an accuracy one network at a time: the training set's distinct
            architectures (at most 500), put in the scored network's context (dataset and
            schedule), are scored too, and the network gets the quantile of their accuracies,
            as ``level`` predicts them, at its score's place among their scores.
        use_dcn: set on every member clone (and the level's) that has a ``use_dcn``; their
            ``std_scale`` is set to 1 (the ensemble calibrates the mixture with its own).
        proxies: ``None`` (the default) leaves each member's own ``proxies``; a tuple of
            :data:`~tapaskit.predictor.inputs.PROXY_COLUMNS` (``()``: none) is set on every
            member clone (and the level's) that reads proxies (the proxy ablation of
            ``tapas benchmark predictor --ablation-proxies``).
        seed: set on every member clone (and the level's) that has a ``seed``; also seeds the
            sample of reference architectures.
        std_scale: calibration factor of the standard deviation of
            ``predict(X, return_std=True)``; 0.9 puts 72 % / 91 % of the true accuracies within
            one / two standard deviations on the default LDE's held-out datasets (scenario C;
            71 % / 91 % in F; docs/predictor.md, "Uncertainty").

    Attributes:
        estimators_: the fitted member clones, in ``members`` order.
        weights_: the normalised weights.
        level_: with ``target="rank"``, the fitted clone of ``level``.
        reference_: with ``target="rank"``, the reference architectures (``arch_json``).
    """

    file_format = ENSEMBLE_FORMAT
    file_kind = "ensemble predictor"

    def __init__(self, *, members: Sequence[tuple[str, BasePredictor]] | None = None,
                 weights: Sequence[float] | None = (2.0, 1.0), level: BasePredictor | None = None,
                 target: str = "rank", use_dcn: bool = True, seed: int = 0,
                 std_scale: float = 0.9, proxies: tuple[str, ...] | None = None) -> None:
        self.members = members
        self.weights = weights
        self.level = level
        self.target = target
        self.use_dcn = use_dcn
        self.proxies = proxies
        self.seed = seed
        self.std_scale = std_scale

    # -- configuration ------------------------------------------------------------------------

    def _named_members(self) -> list[tuple[str, BasePredictor]]:
        """The ``(name, estimator)`` pairs, checked (unfitted templates, not clones).

        Raises:
            InvalidOptionError: not a non-empty list of pairs with distinct names.
        """
        if self.members is None:
            return default_members()
        pairs = ([] if isinstance(self.members, (str, bytes)) or not isinstance(self.members, Sequence)
                 else list(self.members))
        ok = bool(pairs) and all(
            isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)
            and isinstance(pair[1], BasePredictor) for pair in pairs
        )
        if not ok or len({name for name, _ in pairs}) != len(pairs):
            raise InvalidOptionError(
                "members must be a non-empty list of (name, predictor) pairs with distinct names, "
                f"e.g. [('tap', TAPRegressor()), ('lightgbm', LightGBMPredictor())], but got {self.members!r}"
            )
        return [(name, estimator) for name, estimator in pairs]

    def _level(self) -> BasePredictor:
        if self.level is None:
            return default_level()
        if not isinstance(self.level, BasePredictor):
            raise InvalidOptionError(f"level must be a predictor or None, but got {self.level!r}")
        return self.level

    def _configured(self, estimator: BasePredictor) -> BasePredictor:
        """An unfitted clone of ``estimator`` with the ensemble's ``seed`` and ``use_dcn``, and
        ``std_scale=1``: the ensemble calibrates its mixture as a whole (its own ``std_scale``)."""
        estimator = clone(estimator)
        params = estimator.get_params(deep=False)
        values = {"seed": self.seed, "use_dcn": self.use_dcn, "std_scale": 1.0}
        if self.proxies is not None:
            values["proxies"] = check_proxy_params(self.proxies, "raw", 0.0)
        estimator.set_params(**{name: value for name, value in values.items() if name in params})
        return estimator

    def _weights(self, n: int) -> np.ndarray:
        weights = np.ones(n) if self.weights is None else np.asarray(self.weights, float)
        if weights.shape != (n,) or np.any(weights < 0) or weights.sum() <= 0:
            raise InvalidOptionError(
                f"weights must be {n} non-negative numbers with a positive sum, "
                f"but got {self.weights!r}"
            )
        return weights / weights.sum()

    # -- fit and predict ----------------------------------------------------------------------

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        fitted: dict[str, BasePredictor] = self.__dict__.get("_kept", {})  # members :meth:`refit` keeps
        check_choice("target", self.target, TARGETS)
        check_number("std_scale", self.std_scale, 0.0, open_low=True)
        named = self._named_members()
        self.weights_ = self._weights(len(named))
        members = [fitted[name] if name in fitted else self._configured(estimator) for name, estimator in named]
        level = self._configured(self._level()) if self.target == "rank" else None
        accuracy = from_chance_corrected(y, X)  # members convert plain accuracies themselves
        target = accuracy if level is None else (
            pd.Series(accuracy).groupby(group_codes(X)).rank(pct=True).to_numpy())
        self.estimators_ = [member if name in fitted else member.fit(X, target)
                            for (name, _), member in zip(named, members)]
        if level is None:
            return
        self.level_ = level.fit(X, accuracy)
        self.reference_ = _reference_networks(X, self.seed)
        self._reference_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _encoded(self, X: pd.DataFrame, encoded: EncodedFrame | None) -> EncodedFrame | None:
        # the members that read the layer encoding share one (encoding is over a third of the time)
        if encoded is not None:
            return encoded
        reads = any(isinstance(member, EncodingPredictor) for member in self.estimators_)
        return encode_frame(X) if reads else None

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict_with_encoding(X, self._encoded(X, None))

    def _mix(self, X: pd.DataFrame, encoded: EncodedFrame | None) -> np.ndarray:
        predictions = np.stack([member.predict(X, encoded=encoded)
                                for member in self.estimators_])  # (M, N)
        return self.weights_ @ predictions

    def _predict_with_encoding(self, X: pd.DataFrame,
                               encoded: EncodedFrame | None) -> np.ndarray:
        mixed = self._mix(X, encoded)
        if self.target == "accuracy":
            return to_chance_corrected(mixed, X)
        return to_chance_corrected(self._to_accuracy(X, mixed)[0], X)

    def _predict_with_std(self, X: pd.DataFrame, encoded: EncodedFrame | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        encoded = self._encoded(X, encoded)
        pairs = [member.predict(X, encoded=encoded, return_std=True) for member in self.estimators_]
        means = np.stack([mean for mean, _ in pairs])  # (M, N)
        stds = np.stack([std for _, std in pairs])
        mixed = self.weights_ @ means
        # a mixture's variance: the members' own variances and their disagreement
        spread = np.sqrt(self.weights_ @ (np.square(stds) + np.square(means - mixed)))
        chance = 1.0 / X["num_classes"].to_numpy(dtype=np.float64)
        if self.target == "accuracy":
            return to_chance_corrected(mixed, X), self.std_scale * spread / (1.0 - chance)
        accuracy, slope = self._to_accuracy(X, mixed)
        _, level_std = self.level_.predict(X, encoded=encoded, return_std=True)
        std = self.std_scale * np.sqrt(np.square(slope * spread) + np.square(level_std))
        return to_chance_corrected(accuracy, X), std / (1.0 - chance)

    def _to_accuracy(self, X: pd.DataFrame, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rank scores (one per row) turned into accuracies context by context: the quantile of
        the reference networks' predicted accuracies at the score's place among their rank
        scores. Also the ratio of the two spreads in each context (accuracy per unit of rank
        score), which turns a spread of rank scores into one of accuracies: a local slope of
        the map would vanish at its ends, where the best networks are."""
        accuracy, slope = np.empty(len(X)), np.empty(len(X))
        X = X.assign(**{TRAIN_SAMPLES_COLUMN: train_samples(X)})  # derived from the LDE row's record
        columns = [c for c in CONTEXT_COLUMNS if c in X.columns]
        keys = X[columns].astype(object).where(X[columns].notna(), None)
        for key, rows in keys.groupby(columns, dropna=False, sort=False).indices.items():
            reference, levels = self._reference_scores(dict(zip(columns, np.atleast_1d(key))))
            positions = (np.arange(len(reference)) + 0.5) / len(reference)
            # the score's place among the reference scores, interpolated so that close scores
            # stay apart (no ties), then the same quantile of the reference accuracies
            place = np.interp(scores[rows], reference, positions)
            accuracy[rows] = np.quantile(levels, place)
            slope[rows] = np.std(levels) / max(float(np.std(reference)), 1e-6)
        return accuracy, slope

    def _reference_scores(self, context: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted rank scores and predicted accuracies of the reference networks in ``context``."""
        key = tuple(sorted((k, None if v is None else float(v)) for k, v in context.items()))
        cache = self.__dict__.setdefault("_reference_cache", {})
        if key not in cache:
            frame = self.reference_.assign(**{k: np.nan if v is None else v for k, v in context.items()})
            encoded = encode_frame(frame)
            cache[key] = (np.sort(self._mix(frame, encoded)), self.level_.predict(frame, encoded=encoded))
        return cache[key]

    def refit(self, X: pd.DataFrame, y: Any, *, keep: Sequence[str] = ("tap",)) -> EnsemblePredictor:
        """A new ensemble fitted on ``X`` and ``y``, but for the members named in ``keep``: those
        are this ensemble's, as fitted. The level model and the reference networks are new.

        A search refits between its rounds with the target's few new experiments added to the
        window it was first fitted on: TAP, most of a fit's time, keeps what it learned from the
        window, while the trees and the level model learn the target's rows in seconds
        (docs/search.md, "Rounds"). This ensemble is left as it is.

        Raises:
            NotFittedError: this ensemble is not fitted.
            InvalidOptionError: ``keep`` names no member.
            DataError: bad ``X`` or ``y`` (as :meth:`fit`).
        """
        self._check_fitted()
        names = [name for name, _ in self._named_members()]
        unknown = [name for name in keep if name not in names]
        if unknown:
            raise InvalidOptionError(f"keep must name members among {', '.join(names)}, but got {unknown!r}")
        fresh = clone(self)
        fresh._kept = {name: member for name, member in zip(names, self.estimators_) if name in keep}
        try:
            fresh.fit(X, y)
        finally:
            del fresh._kept
        return fresh

    # -- persistence --------------------------------------------------------------------------

    @property
    def can_save(self) -> bool:
        """Whether every member (and, with ``target="rank"``, the level model) can be written to
        a file (TAP, LightGBM and ensembles of them can)."""
        parts = [estimator for _, estimator in self._named_members()]
        if self.target == "rank":
            parts.append(self._level())
        return all(_savable(part) for part in parts)

    def signature(self) -> dict[str, Any]:
        """The hyperparameters, with each member (and the level model, with ``target="rank"``)
        as :meth:`fit` configures it: its class and hyperparameters, ``seed`` and ``use_dcn``
        set. A changed member hyperparameter, or a changed default of one, changes it.

        Raises:
            InvalidOptionError: bad ``members`` or ``level``.
        """
        params = self.get_params(deep=False)
        params["weights"] = None if self.weights is None else [float(w) for w in self.weights]
        params["members"] = [[name, _describe(self._configured(estimator))]
                             for name, estimator in self._named_members()]
        params["level"] = _describe(self._configured(self._level())) if self.target == "rank" else None
        return params

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fitted ensemble as JSON-able metadata and plain tensors, members nested.

        Raises:
            NotFittedError: before :meth:`fit`.
            DataError: a member (or the level model) cannot be saved.
        """
        self._check_fitted()
        names = [name for name, _ in self._named_members()]
        parts = dict(zip(names, self.estimators_))
        if self.target == "rank":
            parts["level"] = self.level_
        unsavable = [name for name, part in parts.items() if not _savable(part)]
        if unsavable:
            raise DataError(
                f"an ensemble of {', '.join(names)} cannot be saved: {', '.join(unsavable)} has no "
                "file format (TAP, LightGBM and ensembles of them have)"
            )
        weights = None if self.weights is None else [float(w) for w in self.weights]
        params = {"members": names, "weights": weights, "target": self.target, "use_dcn": self.use_dcn,
                  "seed": self.seed, "std_scale": self.std_scale,
                  "proxies": None if self.proxies is None else list(self.proxies)}
        members, tensors = [], {}
        for k, member in enumerate(self.estimators_):
            meta, member_tensors = member.state()
            members.append(meta)
            tensors.update({f"{k}/{name}": value for name, value in member_tensors.items()})
        meta = {"format": ENSEMBLE_FORMAT, "params": params,
                "weights_": [float(w) for w in self.weights_], "members": members}
        if self.target == "rank":
            level_meta, level_tensors = self.level_.state()
            meta["level"], meta["reference"] = level_meta, self.reference_["arch_json"].tolist()
            tensors.update({f"level/{name}": value for name, value in level_tensors.items()})
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, Any],
                   source: str | Path = "the state") -> EnsemblePredictor:
        """The ensemble of :meth:`state`'s output.

        Each member's class comes from its nested state's ``format``; the loaded ensemble's
        ``members`` (and ``level``) are unfitted clones of the loaded parts, so refitting it
        fits what was saved. Files written before members were objects (member names with
        ``member_params``, no ``target`` for an accuracy ensemble) load too.

        Raises:
            DataError: a part of a format no predictor class reads, or written for another
                encoding or other features.
        """
        params = dict(meta["params"])
        params.pop("member_params", None)  # older files: the member states hold what it said
        params.setdefault("target", "accuracy")  # files written before rank targets existed
        names = [str(name) for name in params.pop("members")]
        if params["weights"] is not None:
            params["weights"] = tuple(float(w) for w in params["weights"])
        if params.get("proxies") is not None:
            params["proxies"] = tuple(str(name) for name in params["proxies"])
        estimators = [predictor_class(member_meta.get("format"), source).from_state(
                          member_meta, _nested(tensors, f"{k}/"), source)
                      for k, member_meta in enumerate(meta["members"])]
        level = None
        if params["target"] == "rank":
            level = predictor_class(meta["level"].get("format"), source).from_state(
                meta["level"], _nested(tensors, "level/"), source)
        model = cls(members=[(name, clone(estimator)) for name, estimator in zip(names, estimators)],
                    level=None if level is None else clone(level), **params)
        model.weights_ = np.asarray(meta["weights_"], dtype=np.float64)
        model.estimators_ = estimators
        if level is not None:
            model.level_ = level
            model.reference_ = pd.DataFrame({"arch_json": list(meta["reference"])})
        model.is_fitted_ = True
        return model
