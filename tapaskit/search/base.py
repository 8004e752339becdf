"""The interface every search strategy implements, and the loop they share.

A strategy is a small class in the manner of Optuna's ``BaseSampler``: its ``__init__`` stores
keyword-only options and a seed, :meth:`SearchStrategy.run` drives the loop written once here, and
a subclass fills in two hooks:

- :meth:`SearchStrategy._propose` (required): the next ``n`` architectures;
- :meth:`SearchStrategy._observe` (optional, no-op by default): learn from their rewards;
- :meth:`SearchStrategy._reward_changed` (optional): the reward was refitted and the history
  re-scored (:meth:`SearchStrategy.rescore`); forget what was learned from the old scale.

Rounds: a search that refits its predictor between rounds continues the same strategy with a new
:class:`~tapaskit.search.reward.Reward`. Before proposing again, :meth:`~SearchStrategy.run`
re-scores the whole history with it when its :attr:`~tapaskit.search.reward.Reward.version`
differs from the one the history was scored with (one query per distinct network), so the reward
cache holds the new predictor's values, never the old ones.

The loop proposes a batch of ``batch_size`` architectures (fewer for the last one), scores them in
one :class:`~tapaskit.search.reward.Reward` call, appends them to the history, lets the strategy
observe them and then calls ``callback(strategy, progress)``. The *budget* is the number of
proposals, duplicates included, so strategies compare at equal budgets whatever their cache hits.

Resuming: :meth:`SearchStrategy.state_dict` returns everything needed to continue (options, seed,
generator states, history, the subclass's learned state) as tensors, numbers, strings, bools,
``None``, lists and dicts, so ``torch.save`` writes it and ``torch.load(..., weights_only=True)``
reads it back. A fresh strategy built with the same options, given the state by
:meth:`SearchStrategy.load_state_dict`, continues :meth:`~SearchStrategy.run` from the next
proposal, and the result is identical to an uninterrupted run when the state was taken between
batches (in the callback, or after ``run`` returned). Every strategy owns its generators
(``numpy.random.Generator``, plus a ``torch.Generator`` for the controller) and never touches the
global ones.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from tapaskit.space.architecture import Architecture
from tapaskit.checks import check_int
from tapaskit.errors import InvalidOptionError
from tapaskit.search.history import Candidate, SearchProgress, StrategyResult
from tapaskit.search.reward import Reward, RewardBatch
from tapaskit.search.tokens import TokenGrammar, check_input_shape

#: ``callback(strategy, progress)``, called after every batch (a good moment to checkpoint).
Callback = Callable[["SearchStrategy", SearchProgress], None]


def resolve_seed(seed: int | None) -> int:
    """``seed`` itself, or a fresh one from the OS when ``None`` (so it can be logged).

    Raises:
        InvalidOptionError: a negative or non-integer seed.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InvalidOptionError(f"seed must be an integer >= 0 or None, but got {seed!r}")
    return int(seed)


class SearchStrategy(abc.ABC):
    """Abstract search strategy; read the module docstring for the contract.

    Args:
        seed: seed of the strategy's generators; ``None`` draws one (kept in :attr:`seed`).
        batch_size: proposals scored per reward call (and, for REINFORCE, per policy update).
        grammar: the token grammar of the search space; the default :class:`TokenGrammar`.

    Raises:
        InvalidOptionError: an option outside its allowed range.
    """

    #: The registry name (``reinforce``, ``random``, ``evolution``).
    name: ClassVar[str] = ""

    def __init__(
        self, *, seed: int | None = None, batch_size: int = 32, grammar: TokenGrammar | None = None
    ) -> None:
        self.seed = resolve_seed(seed)
        self.batch_size = check_int("batch_size", batch_size)
        if grammar is not None and not isinstance(grammar, TokenGrammar):
            raise InvalidOptionError(
                f"grammar must be a TokenGrammar or None, but got {type(grammar).__name__}"
            )
        self.grammar = grammar if grammar is not None else TokenGrammar()
        self.rng = np.random.default_rng(self.seed)
        self.input_shape: tuple[int, int, int] | None = None
        self.num_classes: int | None = None
        self._history: list[Candidate] = []
        self._batch_rewards: list[float] = []
        self._seconds = 0.0
        self._scored_with: str | None = None  # the Reward.version the history was scored with

    # -- hooks ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def _propose(self, n: int) -> list[Architecture]:
        """The next ``n`` architectures, valid for :attr:`input_shape`."""

    def _observe(self, archs: list[Architecture], batch: RewardBatch) -> None:
        """Learn from the rewards of the architectures just proposed (no-op by default)."""

    def _reward_changed(self) -> None:
        """Called when :meth:`rescore` changed some of the history's rewards (no-op by default)."""

    def _setup(self) -> None:
        """Called once, when :attr:`input_shape` and :attr:`num_classes` are first known."""

    def _options(self) -> dict[str, Any]:
        """Constructor options that must match when a state is loaded (extend in subclasses)."""
        return {"batch_size": self.batch_size, "grammar": self.grammar.config()}

    def _extra_state(self) -> dict[str, Any]:
        """The subclass's learned state (plain values and tensors)."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` returned."""

    # -- the loop -------------------------------------------------------------------------------

    @property
    def history(self) -> tuple[Candidate, ...]:
        """Every proposal so far, in order."""
        return tuple(self._history)

    def run(
        self,
        reward: Reward,
        input_shape: Sequence[int],
        num_classes: int,
        budget: int,
        *,
        callback: Callback | None = None,
    ) -> StrategyResult:
        """Propose and score architectures until ``budget`` proposals have been made in all.

        A resumed strategy (see :meth:`load_state_dict`) counts the proposals it already made, so
        ``run(..., budget=N)`` after a crash finishes the original run of ``N``.

        Args:
            reward: scores batches; its input shape and class count must be the ones given here.
            input_shape: ``(C, H, W)`` of the dataset.
            num_classes: its class count.
            budget: total proposals, >= those already made.
            callback: ``callback(strategy, progress)`` after every batch.

        Returns:
            The result with the full history.

        Raises:
            InvalidOptionError: a budget below the proposals already made, a reward for another
                input, or a state resumed for another input.
        """
        if not isinstance(reward, Reward):
            raise InvalidOptionError(f"reward must be a Reward, but got {type(reward).__name__}")
        shape = check_input_shape(input_shape)
        if reward.input_shape != shape or reward.num_classes != num_classes:
            raise InvalidOptionError(
                f"the reward scores input {reward.input_shape} with {reward.num_classes} classes, "
                f"but the search is for input {shape} with {num_classes} classes"
            )
        budget = check_int("budget", budget)
        if budget < len(self._history):
            raise InvalidOptionError(
                f"budget must be >= the {len(self._history)} proposals already made, "
                f"but got {budget}"
            )
        if self.input_shape is None:
            self.input_shape, self.num_classes = shape, num_classes
            self._setup()
        elif (self.input_shape, self.num_classes) != (shape, num_classes):
            raise InvalidOptionError(
                f"this strategy searched input {self.input_shape} with {self.num_classes} classes, "
                f"so it cannot continue on input {shape} with {num_classes} classes"
            )
        if self._history and self._scored_with != reward.version:
            self.rescore(reward)
        else:
            reward.prime([(c.arch.arch_hash, c.predicted) for c in self._history])
        self._scored_with = reward.version
        best = max((c.reward for c in self._history), default=-np.inf)
        while len(self._history) < budget:
            started = time.perf_counter()
            step = len(self._history)
            n = min(self.batch_size, budget - step)
            archs = self._propose(n)
            batch = reward(archs)
            for i, arch in enumerate(archs):
                self._history.append(
                    Candidate(
                        step=step + i,
                        arch=arch,
                        reward=float(batch.reward[i]),
                        predicted=float(batch.predicted[i]),
                        params=int(batch.params[i]),
                        flops=int(batch.flops[i]),
                    )
                )
            self._observe(archs, batch)
            batch_mean = float(np.mean(batch.reward))
            self._batch_rewards.append(batch_mean)
            best = max(best, float(np.max(batch.reward)))
            self._seconds += time.perf_counter() - started
            if callback is not None:
                callback(
                    self,
                    SearchProgress(
                        step=len(self._history),
                        budget=budget,
                        batch_mean=batch_mean,
                        best_reward=best,
                        queries=reward.queries,
                        seconds=self._seconds,
                    ),
                )
        return self.result(queries=reward.queries)

    def rescore(self, reward: Reward) -> int:
        """Score every proposal so far with ``reward`` (a refitted predictor) and keep the new values.

        The history's rewards and predictions are replaced (the reward curve of past batches is
        kept as it was: it is what the strategy saw then); when any reward changed, the strategy
        forgets what it learned from the old scale (:meth:`_reward_changed`: REINFORCE restarts its
        baseline, evolution's population takes the new rewards).

        Returns:
            How many proposals' rewards changed.
        """
        if not isinstance(reward, Reward):
            raise InvalidOptionError(f"reward must be a Reward, but got {type(reward).__name__}")
        changed = 0
        if self._history:
            batch = reward([c.arch for c in self._history])
            fresh = []
            for i, c in enumerate(self._history):
                new_reward, new_predicted = float(batch.reward[i]), float(batch.predicted[i])
                if new_reward != c.reward:
                    changed += 1
                fresh.append(replace(c, reward=new_reward, predicted=new_predicted))
            self._history = fresh
            if changed:
                self._reward_changed()
        self._scored_with = reward.version
        return changed

    def result(self, *, queries: int = -1) -> StrategyResult:
        """The result so far (``queries`` as the caller's reward counted them).

        Raises:
            InvalidOptionError: the strategy has not run yet.
        """
        if self.input_shape is None or self.num_classes is None:
            raise InvalidOptionError(
                "result() needs a strategy that has run, but run() was never called"
            )
        return StrategyResult(
            strategy=self.name,
            seed=self.seed,
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            history=tuple(self._history),
            batch_rewards=tuple(self._batch_rewards),
            queries=queries,
            seconds=self._seconds,
        )

    # -- resuming -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue; safe for ``torch.save`` and ``weights_only`` loading."""
        return {
            "strategy": self.name,
            "seed": self.seed,
            "options": self._options(),
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "num_classes": self.num_classes,
            "history": [c.to_dict() for c in self._history],
            "batch_rewards": list(self._batch_rewards),
            "seconds": self._seconds,
            "rng": self.rng.bit_generator.state,
            "scored_with": self._scored_with,
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a strategy built with the same options.

        Raises:
            InvalidOptionError: a state of another strategy, of other options, or missing a key.
        """
        if not isinstance(state, dict):
            raise InvalidOptionError(
                f"a strategy state must be a dict, but got {type(state).__name__}"
            )
        if state.get("strategy") != self.name:
            raise InvalidOptionError(
                f"this is a {self.name!r} strategy, but the state is of {state.get('strategy')!r}"
            )
        try:
            options = state["options"]
            mine = self._options()
            for key in sorted(set(options) | set(mine)):
                if options.get(key) != mine.get(key):
                    raise InvalidOptionError(
                        f"the state was saved with {key}={options.get(key)!r}, but this strategy "
                        f"has {key}={mine.get(key)!r}; build it with the saved options"
                    )
            self.seed = int(state["seed"])
            shape, classes = state["input_shape"], state["num_classes"]
            self.input_shape = None if shape is None else check_input_shape(shape)
            self.num_classes = None if classes is None else int(classes)
            self._history = [Candidate.from_dict(c) for c in state["history"]]
            self._batch_rewards = [float(x) for x in state["batch_rewards"]]
            self._seconds = float(state["seconds"])
            self.rng = np.random.default_rng()
            self.rng.bit_generator.state = state["rng"]
            scored_with = state.get("scored_with")  # absent from states of earlier versions
            self._scored_with = None if scored_with is None else str(scored_with)
            if self.input_shape is not None:
                self._setup()
            self._load_extra_state(state["extra"])
        except KeyError as exc:
            raise InvalidOptionError(f"a strategy state needs the key {exc.args[0]!r}") from None


__all__ = ["Callback", "SearchStrategy", "resolve_seed"]
