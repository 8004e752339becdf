"""Frozen records of a search: each proposal, progress reports, and the final result."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapaskit.space.architecture import Architecture
from tapaskit.errors import InvalidOptionError


@dataclass(frozen=True)
class Candidate:
    """One proposed architecture and what the reward made of it.

    Attributes:
        step: 0-based index of the proposal in the search.
        arch: the architecture.
        reward: the reward (predicted accuracy minus the budget penalty).
        predicted: the scorer's accuracy (NaN for an invalid network).
        params: trainable parameters (-1 when invalid).
        flops: FLOPs per sample (-1 when invalid).
    """

    step: int
    arch: Architecture
    reward: float
    predicted: float
    params: int
    flops: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; the architecture as its canonical JSON text."""
        return {
            "step": self.step,
            "arch": self.arch.to_json(),
            "reward": self.reward,
            "predicted": self.predicted,
            "params": self.params,
            "flops": self.flops,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Candidate:
        """Inverse of :meth:`to_dict`."""
        return cls(
            step=int(obj["step"]),
            arch=Architecture.from_json(obj["arch"]),
            reward=float(obj["reward"]),
            predicted=float(obj["predicted"]),
            params=int(obj["params"]),
            flops=int(obj["flops"]),
        )


@dataclass(frozen=True)
class SearchProgress:
    """What a strategy reports to its callback after each batch.

    Attributes:
        step: proposals made so far (including those of a resumed run).
        budget: proposals the run will make in all.
        batch_mean: mean reward of the batch just scored.
        best_reward: best reward so far.
        queries: the reward's scorer queries so far.
        seconds: search time so far (resumed runs included).
    """

    step: int
    budget: int
    batch_mean: float
    best_reward: float
    queries: int
    seconds: float


def top_k(
    history: Sequence[Candidate], k: int, *, distinct: bool = True
) -> list[Candidate]:
    """The ``k`` best candidates by reward (earliest first among ties).

    With ``distinct``, an architecture proposed several times appears once (its first proposal).

    Raises:
        InvalidOptionError: ``k`` < 1.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidOptionError(f"k must be an integer >= 1, but got {k!r}")
    ranked = sorted(
        history, key=lambda c: (-c.reward if math.isfinite(c.reward) else math.inf, c.step)
    )
    out: list[Candidate] = []
    seen: set[str] = set()
    for cand in ranked:
        if distinct:
            h = cand.arch.arch_hash
            if h in seen:
                continue
            seen.add(h)
        out.append(cand)
        if len(out) == k:
            break
    return out


@dataclass(frozen=True)
class StrategyResult:
    """The outcome of :meth:`~tapaskit.search.base.SearchStrategy.run`.

    Attributes:
        strategy: the strategy's registry name.
        seed: the seed it ran with.
        input_shape: the dataset's ``(C, H, W)``.
        num_classes: its class count.
        history: every proposal, in order (``history[i].step == i``).
        batch_rewards: mean reward of each batch, in order (the learning curve).
        queries: scorer queries made (cache hits excluded).
        seconds: search time, resumed runs included.
    """

    strategy: str
    seed: int
    input_shape: tuple[int, int, int]
    num_classes: int
    history: tuple[Candidate, ...]
    batch_rewards: tuple[float, ...]
    queries: int
    seconds: float

    @property
    def rewards(self) -> np.ndarray:
        """The reward of each proposal, in order (the per-step curve)."""
        return np.array([c.reward for c in self.history], dtype=np.float64)

    @property
    def budget(self) -> int:
        """Proposals made."""
        return len(self.history)

    def best(self, k: int = 1, *, distinct: bool = True) -> list[Candidate]:
        """The ``k`` best candidates by reward; see :func:`top_k`."""
        return top_k(self.history, k, distinct=distinct)

    def mean_reward(self, last: float = 1.0) -> float:
        """Mean reward over the last ``last`` fraction of the proposals (e.g. 0.25: last quarter).

        Raises:
            InvalidOptionError: ``last`` outside (0, 1], or no proposals.
        """
        if not 0.0 < last <= 1.0:
            raise InvalidOptionError(f"last must be in (0, 1], but got {last!r}")
        if not self.history:
            raise InvalidOptionError(
                "mean_reward needs at least one proposal, but the history is empty"
            )
        rewards = self.rewards
        start = len(rewards) - max(1, int(round(last * len(rewards))))
        return float(rewards[start:].mean())

    def distinct_count(self) -> int:
        """Distinct architectures proposed."""
        return len({c.arch.arch_hash for c in self.history})

    def summary(self) -> dict[str, Any]:
        """Headline figures as plain JSON values (for ``--json`` output and run logs)."""
        best = self.best(1)[0] if self.history else None
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "proposals": len(self.history),
            "distinct": self.distinct_count(),
            "queries": self.queries,
            "seconds": self.seconds,
            "best_reward": best.reward if best else None,
            "best_arch": best.arch.to_json() if best else None,
            "mean_reward": self.mean_reward() if self.history else None,
            "last_quarter_mean_reward": self.mean_reward(0.25) if self.history else None,
        }


__all__ = ["Candidate", "SearchProgress", "StrategyResult", "top_k"]
