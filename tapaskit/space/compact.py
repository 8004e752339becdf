"""The compact, human-readable form of an architecture, e.g. ``C(32,3)-BN-ReLU-P2-FC(128)``.

:func:`layer_tokens` gives one short token per layer (a residual block is one token,
``R[C(16,3)-BN]``) and :func:`compact_form` joins them with ``-``. The tokens are what a person
compares when two networks look alike, so they also define :func:`token_distance`, the edit
distance (insertions, deletions, substitutions of whole layers) that the search's diversity rule
uses to tell near-copies apart.

Example:
    >>> from tapaskit.space.formats import parse_architecture
    >>> compact_form(parse_architecture("[C(32,3,1), P(2,2), FC(128), SM(10)]"))
    'C(32,3)-ReLU-P2-FC(128)-ReLU'
"""

from __future__ import annotations

from tapaskit.space.architecture import (
    Activation,
    Architecture,
    Conv,
    Dropout,
    FullyConnected,
    GlobalAvgPool,
    Layer,
    Pool,
    Residual,
)

__all__ = ["compact_form", "layer_tokens", "token_distance"]

_ACTIVATION_NAMES = {"relu": "ReLU", "leaky_relu": "LReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU",
                     "elu": "ELU"}


def _token(layer: Layer) -> str:
    if isinstance(layer, Conv):
        return f"C({layer.filters},{layer.kernel})" + ("" if layer.stride == 1 else f"/{layer.stride}")
    if isinstance(layer, Activation):
        return _ACTIVATION_NAMES.get(layer.fn, layer.fn)
    if isinstance(layer, Pool):
        name = ("P" if layer.mode == "max" else "AP") + str(layer.kernel)
        return name if layer.stride == layer.kernel else f"{name}/{layer.stride}"
    if isinstance(layer, Dropout):
        return f"D{layer.rate:g}"
    if isinstance(layer, GlobalAvgPool):
        return "GAP"
    if isinstance(layer, FullyConnected):
        return f"FC({layer.units})"
    if isinstance(layer, Residual):
        return "R[" + "-".join(_token(inner) for inner in layer.layers) + "]"
    return "BN"  # the only layer left: BatchNorm


def layer_tokens(arch: Architecture) -> tuple[str, ...]:
    """One token per layer, in order (the classifier head is implicit and not shown)."""
    return tuple(_token(layer) for layer in arch.layers)


def compact_form(arch: Architecture) -> str:
    """The network in one line: its layer tokens joined by ``-``."""
    return "-".join(layer_tokens(arch))


def token_distance(a: Architecture | tuple[str, ...], b: Architecture | tuple[str, ...]) -> int:
    """Levenshtein distance between two networks' layer tokens (0 = the same layers)."""
    x = a if isinstance(a, tuple) else layer_tokens(a)
    y = b if isinstance(b, tuple) else layer_tokens(b)
    previous = list(range(len(y) + 1))
    for i, tx in enumerate(x, 1):
        current = [i]
        for j, ty in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (tx != ty)))
        previous = current
    return previous[-1]
