"""Random search: the baseline every other strategy must beat at an equal budget.

Networks are drawn from the same token grammar the controller speaks, with a uniform choice among
the allowed tokens at every position (:meth:`TokenGrammar.sample`). Sharing the grammar keeps the
comparison fair: random search and REINFORCE explore exactly the same space, and the controller's
untrained policy (uniform-ish logits) starts close to this distribution.
"""

from __future__ import annotations

from tapaskit.space.architecture import Architecture
from tapaskit.search.base import SearchStrategy


class RandomStrategy(SearchStrategy):
    """Uniform masked decoding of the token grammar; learns nothing.

    Args:
        seed: seed of its ``numpy.random.Generator``; ``None`` draws one.
        batch_size: proposals per reward call.
        grammar: the search space (default :class:`~tapaskit.search.tokens.TokenGrammar`).
    """

    name = "random"

    def _propose(self, n: int) -> list[Architecture]:
        assert self.input_shape is not None  # run() sets it before proposing
        return [self.grammar.sample(self.rng, self.input_shape).architecture() for _ in range(n)]


__all__ = ["RandomStrategy"]
