"""The reward a search maximises: a predicted accuracy, less a penalty for busting a budget.

:class:`Reward` wraps a batched *scorer*, any ``Callable[[list[Architecture]], np.ndarray]``
returning predicted accuracies in [0, 1] (the TAP, a baseline predictor, or a synthetic function in
tests). For each architecture of a batch it

1. infers its shapes for the dataset (:func:`tapaskit.space.shapes.infer_shapes`); an invalid network
   gets reward ``0.0`` and ``predicted = NaN`` and is never sent to the scorer (the token grammar's
   masks make this a should-not-happen guard);
2. looks its :attr:`~tapaskit.space.architecture.Architecture.arch_hash` up in a cache; only misses go to
   the scorer, in one call per batch. Scorer outputs are clipped to [0, 1];
3. subtracts the budget penalty::

       over = max(0, ln(params / max_params)) + max(0, ln(flops / max_flops))
       reward = predicted - penalty * over

   so a network twice over its parameter budget loses ``penalty * ln 2`` (0.17 with the default
   ``penalty=0.25``), ten times over loses 0.58: smooth, so a policy gradient can still tell "a
   bit over" from "far over", and strong enough that over-budget networks rarely win;
4. with a ``blind_spot`` weight κ > 0, subtracts the **blind-spot guard**: a scorer may return
   ``(predicted, std)``, the predictor's standard deviation beside its mean, and the reward loses
   ``κ * max(0, std - reference_std)``, where ``reference_std`` is the spread the predictor has on
   the networks it was fitted on (put in the target's context). A network the predictor has seen
   nothing like gets a wide spread and so a lower reward: the controller cannot win by proposing
   networks in the predictor's blind spots. The guard uses the predictor's own spread rather than
   a distance to the trained networks because the spread already measures distance in what matters
   to the prediction (docs/search.md, "The blind-spot guard").

A reward has a :attr:`Reward.version`: the identity of the predictor behind it (the search uses
its fit's cache key; by default every ``Reward`` object is a version of its own). A strategy that
continues with a reward of another version re-scores its history with it first (see
:meth:`~tapaskit.search.base.SearchStrategy.rescore`), so a refitted predictor is never shadowed by
the cached predictions of the old one.

Accounting: :attr:`Reward.queries` counts architectures actually sent to the scorer. A cache hit
costs no query (and does not call the scorer); :attr:`Reward.hits` counts those, as well as
repeats of one network inside a batch, which share one query even with ``cache=False``. Search *budgets*
count proposals, not queries, so every strategy is compared at an equal number of proposed
networks whatever its duplicate rate.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapaskit.space.architecture import Architecture
from tapaskit.checks import check_optional_positive
from tapaskit.errors import DataError, InvalidArchitectureError, InvalidOptionError
from tapaskit.search.tokens import check_input_shape
from tapaskit.space.shapes import infer_shapes

#: A batched scorer: predicted accuracies in [0, 1], one per architecture.
Scorer = Callable[[list[Architecture]], np.ndarray]


@dataclass(frozen=True)
class RewardBatch:
    """What :meth:`Reward.__call__` returns for a batch; arrays of one row per architecture.

    Attributes:
        reward: the reward (predicted minus the penalty; 0 for invalid networks).
        predicted: the scorer's accuracy (NaN for invalid networks).
        params: trainable parameters (-1 when invalid).
        flops: FLOPs per sample (-1 when invalid).
    """

    reward: np.ndarray
    predicted: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    guard: np.ndarray | None = None  # the blind-spot guard subtracted (None: no guard)


class Reward:
    """Scores architectures for one dataset with caching, penalties and query counting.

    Args:
        score: the batched scorer (see the module docstring).
        input_shape: ``(C, H, W)`` of the dataset.
        num_classes: its class count (>= 2).
        max_params: parameter budget, or ``None`` for none.
        max_flops: FLOP budget (per sample, as :mod:`tapaskit.space.shapes` counts), or ``None``.
        penalty: reward lost per unit of log-ratio over a budget, >= 0.
        cache: whether to remember predictions by ``arch_hash``.
        version: what scores (e.g. the fitted predictor's cache key); ``None``: a fresh id, so
            two rewards built apart are never taken for the same.
        blind_spot: weight κ >= 0 of the blind-spot guard (0: none); the scorer must then return
            ``(predicted, std)``.
        reference_std: the predictor's spread on the networks it was fitted on, >= 0.

    Raises:
        InvalidOptionError: a bad shape, class count, budget or penalty.
    """

    def __init__(
        self,
        score: Scorer,
        *,
        input_shape: Sequence[int],
        num_classes: int,
        max_params: float | None = None,
        max_flops: float | None = None,
        penalty: float = 0.25,
        cache: bool = True,
        version: str | None = None,
        blind_spot: float = 0.0,
        reference_std: float = 0.0,
    ) -> None:
        if not callable(score):
            raise InvalidOptionError(f"score must be callable, but got {type(score).__name__}")
        self.score = score
        self.input_shape = check_input_shape(input_shape)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise InvalidOptionError(
                f"num_classes must be an integer >= 2, but got {num_classes!r}"
            )
        self.num_classes = num_classes
        self.max_params = check_optional_positive("max_params", max_params)
        self.max_flops = check_optional_positive("max_flops", max_flops)
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not penalty >= 0:
            raise InvalidOptionError(f"penalty must be a number >= 0, but got {penalty!r}")
        self.penalty = float(penalty)
        self.use_cache = bool(cache)
        for name, value in (("blind_spot", blind_spot), ("reference_std", reference_std)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidOptionError(f"{name} must be a number >= 0, but got {value!r}")
        self.blind_spot = float(blind_spot)
        self.reference_std = float(reference_std)
        self._guard: dict[str, float] = {}
        self.version = uuid.uuid4().hex if version is None else str(version)
        self._cache: dict[str, float] = {}
        self.queries = 0
        self.hits = 0
        self.calls = 0

    def penalty_of(self, params: int, flops: int) -> float:
        """The penalty for a network of this size (0 within both budgets)."""
        over = 0.0
        if self.max_params is not None and params > self.max_params:
            over += math.log(params / self.max_params)
        if self.max_flops is not None and flops > self.max_flops:
            over += math.log(flops / self.max_flops)
        return self.penalty * over

    def __call__(self, archs: Sequence[Architecture]) -> RewardBatch:
        """Score a batch.

        Raises:
            DataError: the scorer returned the wrong number of values or a NaN.
        """
        n = len(archs)
        predicted = np.full(n, np.nan)
        params = np.full(n, -1, dtype=np.int64)
        flops = np.full(n, -1, dtype=np.int64)
        hashes: list[str | None] = [None] * n
        guard = np.zeros(n)
        todo: dict[str, list[int]] = {}  # hash -> rows, so a batch's duplicates cost one query
        for i, arch in enumerate(archs):
            try:
                summary = infer_shapes(arch, self.input_shape, self.num_classes)
            except InvalidArchitectureError:
                continue
            params[i], flops[i] = summary.params, summary.flops
            h = arch.arch_hash
            hashes[i] = h
            if self.use_cache and h in self._cache and (not self.blind_spot or h in self._guard):
                predicted[i] = self._cache[h]
                guard[i] = self._guard.get(h, 0.0)
                self.hits += 1
            elif h in todo:
                todo[h].append(i)
                self.hits += 1
            else:
                todo[h] = [i]
        if todo:
            firsts = [rows[0] for rows in todo.values()]
            values, guards = self._query([archs[i] for i in firsts])
            for (h, rows), value, penalty in zip(todo.items(), values, guards):
                predicted[rows] = value
                guard[rows] = penalty
                if self.use_cache:
                    self._cache[h] = float(value)
                    if self.blind_spot:
                        self._guard[h] = float(penalty)
        reward = np.zeros(n)
        for i in range(n):
            if hashes[i] is not None:
                reward[i] = predicted[i] - self.penalty_of(int(params[i]), int(flops[i])) - guard[i]
        return RewardBatch(reward=reward, predicted=predicted, params=params, flops=flops,
                           guard=guard if self.blind_spot else None)

    def _query(self, archs: list[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracies (clipped to [0, 1]) and the blind-spot guard of each."""
        out = self.score(archs)
        std = None
        if isinstance(out, tuple):
            out, std = out
        elif self.blind_spot:
            raise DataError("a reward with a blind-spot guard needs a scorer that returns (predicted, std)")
        values = np.asarray(out, dtype=np.float64).reshape(-1)
        if values.shape[0] != len(archs):
            raise DataError(
                f"the scorer must return one accuracy per architecture ({len(archs)}), "
                f"but returned {values.shape[0]}"
            )
        bad = int(np.sum(~np.isfinite(values)))
        if bad:
            raise DataError(
                f"the scorer must return finite accuracies, but {bad} of {len(archs)} are NaN/inf"
            )
        self.queries += len(archs)
        self.calls += 1
        guard = np.zeros(len(archs))
        if self.blind_spot and std is not None:
            spread = np.nan_to_num(np.asarray(std, dtype=np.float64).reshape(-1), nan=0.0)
            guard = self.blind_spot * np.maximum(0.0, spread - self.reference_std)
        return np.clip(values, 0.0, 1.0), guard

    def prime(self, entries: Sequence[tuple[str, float]]) -> None:
        """Put known ``(arch_hash, predicted)`` pairs into the cache without querying (resume)."""
        if self.use_cache:
            for h, value in entries:
                if math.isfinite(value):
                    self._cache.setdefault(h, float(value))

    def state_dict(self) -> dict[str, Any]:
        """Counters and the cache, as plain values (``torch.save``/JSON safe)."""
        return {
            "queries": self.queries,
            "hits": self.hits,
            "calls": self.calls,
            "cache": dict(self._cache),
            "guard": dict(self._guard),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            InvalidOptionError: a missing key.
        """
        try:
            self.queries, self.hits, self.calls = (
                int(state["queries"]), int(state["hits"]), int(state["calls"])
            )
            self._cache = {str(h): float(v) for h, v in state["cache"].items()}
            self._guard = {str(h): float(v) for h, v in state.get("guard", {}).items()}
        except KeyError as exc:
            raise InvalidOptionError(f"a reward state needs the key {exc.args[0]!r}") from None

    @property
    def guarded_share(self) -> float | None:
        """Share of the distinct networks scored whose reward the blind-spot guard lowered (None:
        no guard, or nothing scored yet)."""
        if not self.blind_spot or not self._guard:
            return None
        return float(np.mean([g > 0 for g in self._guard.values()]))

    @property
    def cache_size(self) -> int:
        """Distinct architectures whose prediction is cached."""
        return len(self._cache)


__all__ = ["Reward", "RewardBatch", "Scorer"]
