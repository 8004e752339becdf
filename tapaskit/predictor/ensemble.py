"""An average of predictors: TAP and LightGBM err differently, and their mean ranks better.

:class:`EnsemblePredictor` fits each member (named as in
:data:`tapaskit.predictor.PREDICTORS`) on the same data and predicts the weighted mean of their
predictions, so its accuracies stay calibrated (MAE is meaningful) and its ranking is the
consensus. ``use_dcn`` and ``seed`` are handed to every member.

The default, TAP averaged over 3 seeds weighted 2 : 1 against LightGBM, was the best mix measured
on the first default LDE (150 networks), scenario C, both on the networks of the LDE and on
architectures the predictor never saw (``--unseen-architectures``): Kendall τ 0.726 / 0.610,
against 0.724 / 0.593 for an equal mix with one TAP network (docs/predictor.md, "Choosing the
default"); on today's 300-network LDE it gives 0.728 / 0.637.

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
from tapaskit.predictor.persistence import SavablePredictor

__all__ = ["DEFAULT_MEMBER_PARAMS", "ENSEMBLE_FORMAT", "EnsemblePredictor"]

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
        use_dcn: passed to every member.
        seed: passed to every member that has a seed.

    Attributes:
        estimators_: the fitted members, in ``members`` order.
        weights_: the normalised weights.
    """

    file_format = ENSEMBLE_FORMAT
    file_kind = "ensemble predictor"

    def __init__(self, *, members: Sequence[str] = ("tap", "lightgbm"),
                 weights: Sequence[float] | None = (2.0, 1.0),
                 member_params: Mapping[str, Mapping[str, Any]] | None = None,
                 use_dcn: bool = True, seed: int = 0) -> None:
        self.members = members
        self.weights = weights
        self.member_params = member_params
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
        members = self.build_members()
        self.weights_ = self._weights()
        # members take plain accuracies and convert them themselves (see base.py)
        self.estimators_ = [member.fit(X, from_chance_corrected(y, X)) for member in members]

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        # the members that read the layer encoding share one (encoding is over a third of the time)
        reads = any(isinstance(member, EncodingPredictor) for member in self.estimators_)
        return self._predict_with_encoding(X, encode_frame(X) if reads else None)

    def _predict_with_encoding(self, X: pd.DataFrame,
                               encoded: EncodedFrame | None) -> np.ndarray:
        predictions = np.stack([member.predict(X, encoded=encoded)
                                for member in self.estimators_])  # (M, N)
        return to_chance_corrected(self.weights_ @ predictions, X)

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
        return {"format": ENSEMBLE_FORMAT, "params": params,
                "weights_": [float(w) for w in self.weights_], "members": members}, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, Any],
                   source: str | Path = "the state") -> EnsemblePredictor:
        """The ensemble of :meth:`state`'s output."""
        from tapaskit.predictor.registry import PREDICTORS

        params = dict(meta["params"])
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
        model.is_fitted_ = True
        return model
