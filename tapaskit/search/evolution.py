"""Regularized (aging) evolution, Real et al., AAAI 2019.

The first ``population_size`` proposals are uniform samples of the token grammar. After that each
proposal is a child: ``sample_size`` members are drawn from the population without replacement,
the one with the highest reward is the parent, and :func:`~tapaskit.search.mutation.mutate` gives
a valid child that differs from it. Every child joins the population and the *oldest* member is
discarded (not the worst: aging is what regularizes the search), so the population is always the
last ``population_size`` proposals.

Batching: the children of one batch are all bred from the population as it stood when the batch
began, then scored in one reward call and added in order (the asynchronous variant of the paper,
with ``batch_size`` workers). ``batch_size=1`` is the strictly sequential algorithm.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from tapaskit.space.architecture import Architecture
from tapaskit.checks import check_int
from tapaskit.errors import InvalidOptionError
from tapaskit.search.base import SearchStrategy
from tapaskit.search.mutation import mutate
from tapaskit.search.reward import RewardBatch
from tapaskit.search.tokens import TokenGrammar


class EvolutionStrategy(SearchStrategy):
    """Regularized evolution over token sequences.

    Args:
        seed: seed of its ``numpy.random.Generator``; ``None`` draws one.
        population_size: P, members kept (the last P proposals).
        sample_size: S, members drawn per tournament, 1 <= S <= P.
        batch_size: children bred and scored per reward call.
        max_retries: mutation attempts per child before falling back to a fresh sample.
        grammar: the search space.

    Raises:
        InvalidOptionError: an option outside its allowed range.
    """

    name = "evolution"

    def __init__(
        self,
        *,
        seed: int | None = None,
        population_size: int = 50,
        sample_size: int = 10,
        batch_size: int = 16,
        max_retries: int = 50,
        grammar: TokenGrammar | None = None,
    ) -> None:
        super().__init__(seed=seed, batch_size=batch_size, grammar=grammar)
        self.population_size = check_int("population_size", population_size)
        self.sample_size = check_int("sample_size", sample_size)
        if self.sample_size > self.population_size:
            raise InvalidOptionError(
                f"sample_size <= population_size must hold, but got (sample_size={sample_size}, "
                f"population_size={population_size})"
            )
        self.max_retries = check_int("max_retries", max_retries)
        # (step, tokens, reward), oldest first
        self._population: deque[tuple[int, list[int], float]] = deque()
        self._pending: list[list[int]] = []

    @property
    def population(self) -> list[tuple[int, Architecture, float]]:
        """The members, oldest first, as ``(step, architecture, reward)``."""
        return [(step, self._history[step].arch, r) for step, _, r in self._population]

    def _options(self) -> dict[str, Any]:
        return {
            **super()._options(),
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "max_retries": self.max_retries,
        }

    def _propose(self, n: int) -> list[Architecture]:
        assert self.input_shape is not None  # run() sets it before proposing
        step = len(self._history)
        members = list(self._population)
        archs, self._pending = [], []
        for i in range(n):
            if step + i < self.population_size or not members:
                state = self.grammar.sample(self.rng, self.input_shape)
            else:
                size = min(self.sample_size, len(members))
                drawn = self.rng.choice(len(members), size=size, replace=False)
                # ties go to the younger member (the later index)
                parent = max(drawn.tolist(), key=lambda j: (members[j][2], j))
                state = mutate(
                    self.grammar, members[parent][1], self.input_shape, self.rng,
                    max_retries=self.max_retries,
                )
            self._pending.append(state.tokens)
            archs.append(state.architecture())
        return archs

    def _observe(self, archs: list[Architecture], batch: RewardBatch) -> None:
        first = len(self._history) - len(archs)
        for i, tokens in enumerate(self._pending):
            self._population.append((first + i, tokens, float(batch.reward[i])))
            while len(self._population) > self.population_size:
                self._population.popleft()
        self._pending = []

    def _reward_changed(self) -> None:
        # the members compete on the refitted reward
        self._population = deque((step, tokens, self._history[step].reward) for step, tokens, _ in self._population)

    def _extra_state(self) -> dict[str, Any]:
        return {
            "population": [
                {"step": step, "tokens": list(tokens), "reward": r}
                for step, tokens, r in self._population
            ]
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._population = deque(
            (int(m["step"]), [int(t) for t in m["tokens"]], float(m["reward"]))
            for m in state["population"]
        )


__all__ = ["EvolutionStrategy"]
