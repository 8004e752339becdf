"""An average of predictors: TAP and LightGBM err differently, and their mean ranks better.

:class:`EnsemblePredictor` fits each member (named as in
:data:`tapaskit.predictor.PREDICTORS`) on the same data and predicts the weighted mean of their
predictions, so its accuracies stay calibrated (MAE is meaningful) and its ranking is the
consensus. ``use_dcn`` and ``seed`` are handed to every member.

The default, TAP averaged over 3 seeds weighted 2 : 1 against LightGBM, was the best mix measured
on the first default LDE (150 networks), scenario C, both on the networks of the LDE and on
architectures the predictor never saw (``--unseen-architectures``): Kendall τ 0.726 / 0.610,
against 0.724 / 0.593 for an equal mix with one TAP network (docs/predictor.md, "Choosing the
default"); on today's 300-network LDE it gives 0.728 / 0.637. Its members learn within-dataset
ranks by default (``target="rank"``, 0.736 / 0.644), mapped back to accuracies as the class
docstring says.

Members that read the layer encoding (:class:`~tapaskit.predictor.base.EncodingPredictor`) share
one: the ensemble encodes a frame once and hands it to them.

An ensemble whose members can all be saved (TAP and LightGBM can) is saved to one file and loaded
back like TAP (see ``persistence.py``); ``tapas search`` caches its fitted predictor that way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor.base import (
    BasePredictor,
    EncodingPredictor,
    from_chance_corrected,
    to_chance_corrected,
)
from tapaskit.predictor.encoding import EncodedFrame, encode_frame
from tapaskit.predictor.inputs import HPARAM_COLUMNS, REQUIRED_COLUMNS, group_codes
from tapaskit.predictor.persistence import SavablePredictor

__all__ = ["DEFAULT_MEMBER_PARAMS", "ENSEMBLE_FORMAT", "EnsemblePredictor", "TARGETS"]

#: What the members learn: the accuracy, or each network's percentile rank within its dataset.
TARGETS: tuple[str, ...] = ("accuracy", "rank")
#: Columns that set a network's context (the dataset and the schedule), not its architecture.
CONTEXT_COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, "dcn", *HPARAM_COLUMNS)
#: At most this many distinct training architectures are kept as reference networks.
MAX_REFERENCE_NETWORKS = 500


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

#: ``format`` of a saved :class:`EnsemblePredictor`.
ENSEMBLE_FORMAT = "tapaskit.ensemble/1"

#: Hyperparameters of the members when ``member_params`` is ``None``.
DEFAULT_MEMBER_PARAMS: Mapping[str, Mapping[str, Any]] = {"tap": {"n_members": 3}}


class EnsemblePredictor(SavablePredictor, BasePredictor):
    """The weighted mean of several predictors' predictions.

    Args:
        members: registry names of the members (not ``"ensemble"``).
        weights: one weight per member (normalised to sum 1); ``None`` weighs them equally.
        member_params: hyperparameters per member name, e.g. ``{"tap": {"n_members": 3}}``;
            ``None``: :data:`DEFAULT_MEMBER_PARAMS` for the members it names; ``{}``: every
            member's own defaults.
        target: what the members learn. ``"accuracy"``: the accuracy, and the prediction is the
            weighted mean of theirs. ``"rank"``: each network's percentile rank within its own
            dataset (``dataset_name``; one group without it), which drops every dataset's level
            and spread from the target. The weighted mean of their rank scores is then turned
            back into an accuracy one network at a time: the training set's distinct
            architectures (at most 500), put in the scored network's context (dataset and
            schedule), are scored too, and the network gets the quantile of their accuracies,
            as a LightGBM model fitted on the accuracy predicts them, at its score's place
            among their scores.
        use_dcn: passed to every member.
        seed: passed to every member that has a seed.

    Attributes:
        estimators_: the fitted members, in ``members`` order.
        weights_: the normalised weights.
        level_: with ``target="rank"``, the LightGBM model of the accuracy level.
        reference_: with ``target="rank"``, the reference architectures (``arch_json``).
    """

    file_format = ENSEMBLE_FORMAT
    file_kind = "ensemble predictor"

    def __init__(self, *, members: Sequence[str] = ("tap", "lightgbm"),
                 weights: Sequence[float] | None = (2.0, 1.0),
                 member_params: Mapping[str, Mapping[str, Any]] | None = None,
                 target: str = "rank", use_dcn: bool = True, seed: int = 0) -> None:
        self.members = members
        self.weights = weights
        self.member_params = member_params
        self.target = target
        self.use_dcn = use_dcn
        self.seed = seed

    def build_members(self) -> list[BasePredictor]:
        """The unfitted members, configured as :meth:`fit` fits them.

        Raises:
            InvalidOptionError: bad ``members``, ``weights`` or ``member_params``.
        """
        from tapaskit.predictor.registry import seeded_predictor  # the registry imports this module

        names = list(self.members)
        if not names or "ensemble" in names:
            raise InvalidOptionError(
                f"members must be a non-empty list of predictor names other than 'ensemble', "
                f"but got {names!r}"
            )
        self._weights()
        params = DEFAULT_MEMBER_PARAMS if self.member_params is None else self.member_params
        strangers = [] if self.member_params is None else sorted(set(params) - set(names))
        if strangers:
            raise InvalidOptionError(
                f"member_params names {strangers[0]!r}, which is not a member "
                f"(members: {', '.join(names)})"
            )
        return [seeded_predictor(name, self.seed, use_dcn=self.use_dcn, **dict(params.get(name, {})))
                for name in names]

    def _weights(self) -> np.ndarray:
        n = len(self.members)
        weights = np.ones(n) if self.weights is None else np.asarray(self.weights, float)
        if weights.shape != (n,) or np.any(weights < 0) or weights.sum() <= 0:
            raise InvalidOptionError(
                f"weights must be {n} non-negative numbers with a positive sum, "
                f"but got {self.weights!r}"
            )
        return weights / weights.sum()

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if self.target not in TARGETS:
            raise InvalidOptionError(f"target must be one of {', '.join(TARGETS)}, but got {self.target!r}")
        members = self.build_members()
        self.weights_ = self._weights()
        accuracy = from_chance_corrected(y, X)  # members convert plain accuracies themselves
        if self.target == "accuracy":
            self.estimators_ = [member.fit(X, accuracy) for member in members]
            return
        ranks = pd.Series(accuracy).groupby(group_codes(X)).rank(pct=True).to_numpy()
        self.estimators_ = [member.fit(X, ranks) for member in members]
        from tapaskit.predictor.registry import seeded_predictor

        self.level_ = seeded_predictor("lightgbm", self.seed, use_dcn=self.use_dcn).fit(X, accuracy)
        self.reference_ = _reference_networks(X, self.seed)
        self._reference_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        # the members that read the layer encoding share one (encoding is over a third of the time)
        reads = any(isinstance(member, EncodingPredictor) for member in self.estimators_)
        return self._predict_with_encoding(X, encode_frame(X) if reads else None)

    def _mix(self, X: pd.DataFrame, encoded: EncodedFrame | None) -> np.ndarray:
        predictions = np.stack([member.predict(X, encoded=encoded)
                                for member in self.estimators_])  # (M, N)
        return self.weights_ @ predictions

    def _predict_with_encoding(self, X: pd.DataFrame,
                               encoded: EncodedFrame | None) -> np.ndarray:
        mixed = self._mix(X, encoded)
        if self.target == "accuracy":
            return to_chance_corrected(mixed, X)
        # rank scores become accuracies context by context: the quantile of the reference
        # networks' predicted accuracies at the score's place among their rank scores
        accuracy = np.empty(len(X))
        columns = [c for c in CONTEXT_COLUMNS if c in X.columns]
        keys = X[columns].astype(object).where(X[columns].notna(), None)
        for key, rows in keys.groupby(columns, dropna=False, sort=False).indices.items():
            scores, levels = self._reference_scores(dict(zip(columns, np.atleast_1d(key))))
            # the score's place among the reference scores, interpolated so that close scores
            # stay apart (no ties), then the same quantile of the reference accuracies
            place = np.interp(mixed[rows], scores, (np.arange(len(scores)) + 0.5) / len(scores))
            accuracy[rows] = np.quantile(levels, place)
        return to_chance_corrected(accuracy, X)

    def _reference_scores(self, context: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted rank scores and predicted accuracies of the reference networks in ``context``."""
        key = tuple(sorted((k, None if v is None else float(v)) for k, v in context.items()))
        cache = self.__dict__.setdefault("_reference_cache", {})
        if key not in cache:
            frame = self.reference_.assign(**{k: np.nan if v is None else v for k, v in context.items()})
            encoded = encode_frame(frame)
            cache[key] = (np.sort(self._mix(frame, encoded)), self.level_.predict(frame, encoded=encoded))
        return cache[key]

    # -- persistence --------------------------------------------------------------------------

    @property
    def can_save(self) -> bool:
        """Whether every member can be written to a file (TAP and LightGBM can)."""
        from tapaskit.predictor.registry import PREDICTORS

        return all(issubclass(PREDICTORS.get(name, object), SavablePredictor)
                   for name in self.members)

    def signature(self) -> dict[str, Any]:
        """The hyperparameters, with each member's as :meth:`build_members` configures it (so a
        changed member default changes the signature)."""
        return {**self.get_params(),
                "resolved_members": [member.get_params() for member in self.build_members()]}

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fitted ensemble as JSON-able metadata and plain tensors, members nested.

        Raises:
            NotFittedError: before :meth:`fit`.
            DataError: a member cannot be saved.
        """
        self._check_fitted()
        if not self.can_save:
            raise DataError(
                f"an ensemble of {', '.join(self.members)} cannot be saved: only members with a "
                "file format (tap, lightgbm) can"
            )
        params = self.get_params()
        params["members"], params["weights"] = list(self.members), (
            None if self.weights is None else [float(w) for w in self.weights])
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
        """The ensemble of :meth:`state`'s output."""
        from tapaskit.predictor.registry import PREDICTORS

        params = dict(meta["params"])
        params.setdefault("target", "accuracy")  # files written before rank targets existed
        params["members"] = tuple(params["members"])
        if params["weights"] is not None:
            params["weights"] = tuple(params["weights"])
        model = cls(**params)
        model.weights_ = np.asarray(meta["weights_"], dtype=np.float64)
        model.estimators_ = []
        for k, (name, member_meta) in enumerate(zip(model.members, meta["members"])):
            prefix = f"{k}/"
            member_tensors = {key[len(prefix):]: value for key, value in tensors.items()
                              if key.startswith(prefix)}
            model.estimators_.append(
                PREDICTORS[name].from_state(member_meta, member_tensors, source))
        if model.target == "rank":
            level_tensors = {key[len("level/"):]: value for key, value in tensors.items()
                             if key.startswith("level/")}
            model.level_ = PREDICTORS["lightgbm"].from_state(meta["level"], level_tensors, source)
            model.reference_ = pd.DataFrame({"arch_json": list(meta["reference"])})
        model.is_fitted_ = True
        return model
