"""Which proposals a search round trains: an acquisition rule, then a diversity rule.

The strategy ranks networks by their *reward* (predicted accuracy less the budget penalty). A
round of full trainings is better spent on networks whose score is high *or uncertain*, and not
on five near-copies of one network, so the round's picks are chosen in two steps:

1. **Acquisition** (:func:`acquisition_scores`), from the reward ``mu`` and the predictor's
   spread ``sigma`` (``predict(X, return_std=True)``):

   - ``ucb`` (default): the upper confidence bound ``mu + beta * sigma`` (``beta=1``);
   - ``ei``: expected improvement over the best accuracy measured so far on the target,
     ``(mu - best) * Phi(z) + sigma * phi(z)`` with ``z = (mu - best) / sigma``; before any
     training, ``best`` is the best predicted reward;
   - ``greedy``: ``mu`` alone (the one-pass search of earlier versions).

2. **Diversity** (:func:`select_diverse`): walk the networks from the best score down and take one
   only if its layer tokens differ from every network taken so far by at least ``min_distance``
   edits (:func:`~tapaskit.space.compact.token_distance`; 2 by default, so a network and its copy
   with one changed layer are never in one round). When that leaves fewer than ``k``, the best of
   the rest fill up.

Example:
    >>> import numpy as np
    >>> acquisition_scores(np.array([0.8, 0.7]), np.array([0.05, 0.2]), rule="ucb").round(2).tolist()
    [0.85, 0.9]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from tapaskit.checks import check_choice, check_int, check_number
from tapaskit.space.architecture import Architecture
from tapaskit.space.compact import layer_tokens, token_distance

__all__ = ["ACQUISITIONS", "DEFAULT_BETA", "DEFAULT_MIN_DISTANCE", "acquisition_scores", "select_diverse"]

#: The acquisition rules (see the module docstring).
ACQUISITIONS: tuple[str, ...] = ("ucb", "ei", "greedy")
DEFAULT_BETA = 1.0
DEFAULT_MIN_DISTANCE = 2


def acquisition_scores(mu: np.ndarray, sigma: np.ndarray | None, *, rule: str = "ucb",
                       beta: float = DEFAULT_BETA, best: float | None = None) -> np.ndarray:
    """The acquisition value of every network (higher = train it sooner).

    Args:
        mu: the reward of each network.
        sigma: the predictor's standard deviation of each (``None``: no spread known, so every
            rule ranks by ``mu``).
        rule: ``ucb``, ``ei`` or ``greedy``.
        beta: the weight of ``sigma`` for ``ucb``, >= 0.
        best: for ``ei``, the best accuracy measured so far (``None``: ``max(mu)``).
    """
    check_choice("acquisition", rule, ACQUISITIONS)
    check_number("beta", beta, 0.0)
    mu = np.asarray(mu, dtype=np.float64)
    if sigma is None or rule == "greedy":
        return mu.copy()
    sigma = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-9)
    if rule == "ucb":
        return mu + beta * sigma
    incumbent = float(np.max(mu)) if best is None else float(best)
    z = (mu - incumbent) / sigma
    return (mu - incumbent) * norm.cdf(z) + sigma * norm.pdf(z)


def select_diverse(archs: Sequence[Architecture], scores: np.ndarray, k: int, *,
                   min_distance: int = DEFAULT_MIN_DISTANCE) -> list[int]:
    """Indices of ``k`` networks (or all, when fewer) by score, skipping near-copies.

    Args:
        archs: the candidates.
        scores: their acquisition values.
        k: how many to pick, >= 1.
        min_distance: layer edits a pick must be from every earlier pick (0 turns the rule off).
    """
    check_int("k", k)
    check_int("min_distance", min_distance, 0)
    order = [int(i) for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")]
    picked: list[int] = []
    tokens: list[tuple[str, ...]] = []
    for i in order:
        if len(picked) == k:
            break
        mine = layer_tokens(archs[i])
        if all(token_distance(mine, other) >= min_distance for other in tokens):
            picked.append(i)
            tokens.append(mine)
    for i in order:  # too few distinct ones: the best of the rest
        if len(picked) == k:
            break
        if i not in picked:
            picked.append(i)
    return picked
