"""Architecture search on a train-less accuracy predictor: strategies, reward, token grammar.

A search maximises :class:`Reward` (a batched scorer such as the TAP, less budget penalties) over
networks of a :class:`TokenGrammar`, proposing ``budget`` architectures with one of the
strategies of :data:`STRATEGIES`::

    reward = Reward(scorer, input_shape=(1, 28, 28), num_classes=10, max_params=1e6)
    result = STRATEGIES["reinforce"](seed=0).run(reward, (1, 28, 28), 10, budget=10_000)
    top = result.best(5)            # distinct candidates, best reward first

Strategies share the loop and the resumable state of :class:`SearchStrategy`.
"""

from __future__ import annotations

from tapaskit.search.base import Callback, SearchStrategy
from tapaskit.search.controller import Controller, PolicySample
from tapaskit.search.evolution import EvolutionStrategy
from tapaskit.search.history import Candidate, SearchProgress, StrategyResult, top_k
from tapaskit.search.mutation import mutate
from tapaskit.search.random_search import RandomStrategy
from tapaskit.search.reinforce import ReinforceStrategy
from tapaskit.search.reward import Reward, RewardBatch, Scorer
from tapaskit.search.synthetic import SyntheticScorer
from tapaskit.search.tokens import UNIT_TYPES, DecodeState, Token, TokenGrammar

#: Registry of strategies by their ``--strategy`` name.
STRATEGIES: dict[str, type[SearchStrategy]] = {
    ReinforceStrategy.name: ReinforceStrategy,
    RandomStrategy.name: RandomStrategy,
    EvolutionStrategy.name: EvolutionStrategy,
}

__all__ = [
    "STRATEGIES",
    "UNIT_TYPES",
    "Callback",
    "Candidate",
    "Controller",
    "DecodeState",
    "EvolutionStrategy",
    "PolicySample",
    "RandomStrategy",
    "ReinforceStrategy",
    "Reward",
    "RewardBatch",
    "Scorer",
    "SearchProgress",
    "StrategyResult",
    "SearchStrategy",
    "SyntheticScorer",
    "Token",
    "TokenGrammar",
    "mutate",
    "top_k",
]
