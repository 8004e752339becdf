"""Mutations of a token sequence that keep the network valid, for evolutionary search.

A network is mutated as its unit list (see :mod:`tapaskit.search.tokens`): one operation is drawn,
applied, and the child replayed through the grammar's masks, which accept exactly the networks a
controller could emit for the input (valid shapes, depth and layer budgets). A child the masks
reject, or one equal to its parent, is discarded and another operation drawn, up to
``max_retries`` times; should every try fail, a fresh uniform sample of the grammar is returned
(documented fallback, rare: it needs a parent with no valid neighbour).

Operations (with their probabilities):

``param`` (0.45)
    change one parameter of one unit to another value of its kind: a conv's filters, kernel,
    stride or batch norm, a pool's mode or kernel, an fc's units, a dropout rate.
``swap`` (0.10)
    turn a conv unit into a residual block of the same parameters, or back.
``insert`` (0.20)
    insert a random unit (type and parameters uniform) at a random position.
``duplicate`` (0.10)
    copy a random unit next to itself (deepens a stage).
``remove`` (0.15)
    remove a random unit (never the last one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tapaskit.errors import InvalidArchitectureError
from tapaskit.search.tokens import DecodeState, TokenGrammar, split_units

#: Mutation operations and their probabilities.
OPERATIONS: tuple[tuple[str, float], ...] = (
    ("param", 0.45),
    ("swap", 0.10),
    ("insert", 0.20),
    ("duplicate", 0.10),
    ("remove", 0.15),
)
_NAMES = tuple(name for name, _ in OPERATIONS)
_PROBS = np.array([p for _, p in OPERATIONS])


def _random_unit(grammar: TokenGrammar, rng: np.random.Generator) -> list[int]:
    types = [t for t in ("conv", "residual", "pool", "dropout", "gap", "fc")
             if (t != "residual" or grammar.residual) and (t != "dropout" or grammar.dropout)]
    unit_type = types[int(rng.integers(len(types)))]
    unit = [grammar.layer_token(unit_type)]
    for kind in grammar.templates[unit_type]:
        ids = grammar.ids(kind)
        unit.append(ids[int(rng.integers(len(ids)))])
    return unit


def _apply(
    grammar: TokenGrammar, units: list[list[int]], op: str, rng: np.random.Generator
) -> bool:
    """Mutate ``units`` in place; False when ``op`` does not apply to this network."""
    n = len(units)
    if op == "param":
        with_params = [i for i, u in enumerate(units) if len(u) > 1]
        if not with_params:
            return False
        i = with_params[int(rng.integers(len(with_params)))]
        j = 1 + int(rng.integers(len(units[i]) - 1))
        ids = grammar.ids(grammar.vocab[units[i][j]].kind)
        others = [t for t in ids if t != units[i][j]]
        if not others:
            return False
        units[i][j] = others[int(rng.integers(len(others)))]
        return True
    if op == "swap":
        conv, res = grammar.layer_token("conv"), grammar.layer_token("residual")
        if not grammar.residual:
            return False
        convs = [i for i, u in enumerate(units) if u[0] in (conv, res)]
        if not convs:
            return False
        i = convs[int(rng.integers(len(convs)))]
        units[i][0] = res if units[i][0] == conv else conv
        return True
    if op == "insert":
        units.insert(int(rng.integers(n + 1)), _random_unit(grammar, rng))
        return True
    if op == "duplicate":
        i = int(rng.integers(n))
        units.insert(i + 1, list(units[i]))
        return True
    if op == "remove":
        if n < 2:
            return False
        del units[int(rng.integers(n))]
        return True
    raise AssertionError(op)  # _NAMES holds every operation


def _replay(
    grammar: TokenGrammar, tokens: list[int], input_shape: tuple[int, int, int]
) -> DecodeState | None:
    state = DecodeState(grammar, input_shape)
    try:
        for t in tokens:
            state.push(t)
    except InvalidArchitectureError:
        return None
    return state if state.done else None


def mutate(
    grammar: TokenGrammar,
    tokens: Sequence[int],
    input_shape: tuple[int, int, int],
    rng: np.random.Generator,
    *,
    max_retries: int = 50,
) -> DecodeState:
    """A valid child of ``tokens`` that differs from it (see the module docstring).

    Args:
        grammar: the grammar ``tokens`` were emitted in.
        tokens: the parent's complete token sequence.
        input_shape: the dataset's ``(C, H, W)``.
        rng: the caller's generator.
        max_retries: operations tried before falling back to a fresh sample.

    Returns:
        The child's finished decode state (``tokens`` and ``architecture()``).
    """
    parent = [int(t) for t in tokens]
    stop = grammar.layer_token("stop")
    for _ in range(max_retries):
        units = [list(u) for u in split_units(grammar, parent)]
        op = _NAMES[int(rng.choice(len(_NAMES), p=_PROBS))]
        if not _apply(grammar, units, op, rng):
            continue
        child = [t for u in units for t in u] + [stop]
        if child == parent:
            continue
        state = _replay(grammar, child, input_shape)
        if state is not None:
            return state
    return grammar.sample(rng, input_shape)


__all__ = ["OPERATIONS", "mutate"]
