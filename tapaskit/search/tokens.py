"""The token grammar that search strategies speak, and masked decoding from a partial network.

An architecture is emitted as a sequence of *units*. A unit starts with a ``layer`` token naming
its type and continues with one token per parameter of that type (its *template*); the sequence
ends with ``layer:stop``. Units and the layers they expand to (``fn`` is the activation, chosen by
an ``act`` token only when the grammar has more than one activation, else the only one):

=============  ===================================  ==========================================
unit           template                             layers
=============  ===================================  ==========================================
``conv``       filters, kernel, stride, bn [, act]  ``Conv(f, k, s)``, ``BatchNorm`` if bn,
                                                    ``Activation(fn)``
``residual``   filters, kernel, stride, bn [, act]  ``Residual(Conv(f, k, s), BN?, Act,
                                                    Conv(f, k, 1), BN?)``, ``Activation(fn)``
                                                    (a basic ResNet block; 1x1 projection
                                                    shortcut when the shape changes)
``pool``       pool_mode, pool_kernel               ``Pool(k, stride=2, mode)``
``dropout``    rate                                 ``Dropout(rate)``
``gap``        (none)                               ``GlobalAvgPool``
``fc``         units, bn [, act]                    ``FullyConnected(u)``, BN if bn,
                                                    ``Activation(fn)``
``stop``       (none)                               end; the implicit classifier head follows
=============  ===================================  ==========================================

:class:`DecodeState` tracks the tensor shape incrementally (the arithmetic of
:mod:`tapaskit.space.shapes`) and :meth:`DecodeState.allowed` lists the tokens that keep the network
valid for the dataset's input, so a policy that masks its logits with it only ever emits networks
that :func:`tapaskit.space.shapes.infer_shapes` accepts. The rules of the mask:

- parameters: ``stride:2`` only while the spatial size is >= 2; a pool kernel only if it fits
  (``k <= min(H, W)``); every other parameter value is always allowed.
- on a (C, H, W) tensor: ``conv`` and ``residual`` while the depth budget allows (``max_depth``
  counts weighted layers plus the head, as :attr:`Architecture.depth`, a residual block counts
  two); ``pool`` while the smallest pool kernel fits; ``gap`` after at least one conv;
  ``fc`` (a flatten) only when ``C*H*W <= max_flatten``.
- once the tensor is 1-D (after ``gap`` or ``fc``): only ``fc``, ``dropout`` and ``stop``.
- ``fc`` at most ``max_fc`` times; ``dropout`` only after another unit and never twice in a row.
- ``stop`` only after a weighted unit (conv, residual or fc); it is the only choice once
  ``max_layers`` units are placed, and the last free unit must be weighted if none is yet.

Every state has at least one allowed token, so decoding always terminates within
:attr:`TokenGrammar.max_tokens` tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapaskit.space.architecture import (
    ACTIVATIONS,
    CONV_KERNELS,
    POOL_MODES,
    Activation,
    Architecture,
    BatchNorm,
    Conv,
    Dropout,
    FullyConnected,
    GlobalAvgPool,
    Layer,
    Pool,
    Residual,
)
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError

#: Unit types, in vocabulary order; ``stop`` ends the sequence.
UNIT_TYPES: tuple[str, ...] = ("conv", "residual", "pool", "dropout", "gap", "fc", "stop")
_WEIGHTED = {"conv": 1, "residual": 2, "fc": 1}
#: Every pool a unit places has this stride (a pool that does not down-sample adds little).
POOL_STRIDE = 2


@dataclass(frozen=True)
class Token:
    """One entry of the vocabulary: a decision ``kind`` and the ``value`` it takes."""

    id: int
    kind: str
    value: Any

    @property
    def name(self) -> str:
        """Readable form such as ``layer:conv``, ``filters:64`` or ``bn:yes``."""
        if self.kind == "bn":
            return f"bn:{'yes' if self.value else 'no'}"
        return f"{self.kind}:{self.value}"


def _positive_ints(name: str, values: Sequence[int]) -> tuple[int, ...]:
    out = tuple(values)
    if not out or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in out):
        raise InvalidOptionError(
            f"{name} must be a non-empty list of positive integers, but got {out!r}"
        )
    if len(set(out)) != len(out):
        raise InvalidOptionError(f"{name} must not repeat a value, but got {out!r}")
    return out


def _subset(name: str, values: Sequence[Any], allowed: Sequence[Any]) -> tuple[Any, ...]:
    out = tuple(values)
    if not out or any(v not in allowed for v in out) or len(set(out)) != len(out):
        raise InvalidOptionError(
            f"{name} must be a non-empty subset of {tuple(allowed)} without repeats, "
            f"but got {out!r}"
        )
    return out


class TokenGrammar:
    """The vocabulary and the rules of the token language; immutable once built.

    Args:
        filters: conv and residual widths.
        kernels: conv kernel sizes, a subset of {1, 3, 5, 7}.
        pool_kernels: pool window sizes (stride is always 2).
        pool_modes: subset of {max, avg}.
        units: fully connected widths.
        rates: dropout rates in [0, 1).
        activations: activation functions; with one, no ``act`` token is emitted.
        max_layers: most units per network (``stop`` excluded).
        max_depth: largest :attr:`Architecture.depth` (weighted layers plus the head), >= 2.
        max_fc: most ``fc`` units per network.
        max_flatten: largest ``C*H*W`` an ``fc`` unit may flatten (the implicit head may always
            flatten).
        residual: whether ``residual`` units exist.
        dropout: whether ``dropout`` units exist.

    Raises:
        InvalidOptionError: an option outside its allowed range.
    """

    def __init__(
        self,
        *,
        filters: Sequence[int] = (8, 16, 32, 64, 128, 256),
        kernels: Sequence[int] = (1, 3, 5, 7),
        pool_kernels: Sequence[int] = (2, 3),
        pool_modes: Sequence[str] = ("max", "avg"),
        units: Sequence[int] = (32, 64, 128, 256, 512),
        rates: Sequence[float] = (0.1, 0.25, 0.5),
        activations: Sequence[str] = ("relu",),
        max_layers: int = 12,
        max_depth: int = 20,
        max_fc: int = 2,
        max_flatten: int = 8192,
        residual: bool = True,
        dropout: bool = True,
    ) -> None:
        self.filters = _positive_ints("filters", filters)
        self.kernels = _subset("kernels", kernels, CONV_KERNELS)
        self.pool_kernels = _positive_ints("pool_kernels", pool_kernels)
        self.pool_modes = _subset("pool_modes", pool_modes, POOL_MODES)
        self.units = _positive_ints("units", units)
        self.rates = tuple(float(r) for r in rates)
        if not self.rates or not all(0.0 <= r < 1.0 for r in self.rates):
            raise InvalidOptionError(
                f"rates must be a non-empty list in [0, 1), but got {tuple(rates)!r}"
            )
        self.activations = _subset("activations", activations, ACTIVATIONS)
        for name, value, minimum in (
            ("max_layers", max_layers, 1),
            ("max_depth", max_depth, 2),
            ("max_fc", max_fc, 0),
            ("max_flatten", max_flatten, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise InvalidOptionError(
                    f"{name} must be an integer >= {minimum}, but got {value!r}"
                )
        self.max_layers, self.max_depth, self.max_fc = max_layers, max_depth, max_fc
        self.max_flatten = max_flatten
        self.residual, self.dropout = bool(residual), bool(dropout)

        act = ("act",) if len(self.activations) > 1 else ()
        self.templates: dict[str, tuple[str, ...]] = {
            "conv": ("filters", "kernel", "stride", "bn", *act),
            "residual": ("filters", "kernel", "stride", "bn", *act),
            "pool": ("pool_mode", "pool_kernel"),
            "dropout": ("rate",),
            "gap": (),
            "fc": ("units", "bn", *act),
            "stop": (),
        }
        values: dict[str, tuple[Any, ...]] = {
            "layer": UNIT_TYPES,
            "filters": self.filters,
            "kernel": self.kernels,
            "stride": (1, 2),
            "bn": (False, True),
            "act": self.activations,
            "pool_mode": self.pool_modes,
            "pool_kernel": self.pool_kernels,
            "units": self.units,
            "rate": self.rates,
        }
        vocab: list[Token] = []
        self._ids: dict[str, tuple[int, ...]] = {}
        for kind, options in values.items():
            self._ids[kind] = tuple(range(len(vocab), len(vocab) + len(options)))
            vocab.extend(Token(len(vocab) + j, kind, v) for j, v in enumerate(options))
        self.vocab: tuple[Token, ...] = tuple(vocab)
        self._layer_id = {t: self._ids["layer"][j] for j, t in enumerate(UNIT_TYPES)}
        self._stride1 = (self._ids["stride"][0],)
        self._unit_cache: dict[tuple[str, tuple[Any, ...]], tuple[Layer, ...]] = {}
        # one unit is at most 1 + 5 tokens; plus the final stop
        self.max_tokens = self.max_layers * (1 + max(len(t) for t in self.templates.values())) + 1

    # -- vocabulary ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self.vocab)

    def ids(self, kind: str) -> tuple[int, ...]:
        """Token ids of one decision kind (``layer``, ``filters``, ``kernel``, ...)."""
        return self._ids[kind]

    def layer_token(self, unit_type: str) -> int:
        """The id of ``layer:<unit_type>``."""
        return self._layer_id[unit_type]

    def names(self, tokens: Sequence[int]) -> list[str]:
        """Readable names of a token sequence, e.g. for logging."""
        return [self.vocab[int(t)].name for t in tokens]

    def config(self) -> dict[str, Any]:
        """The options, as plain JSON values (stored with a strategy's state)."""
        return {
            "filters": list(self.filters),
            "kernels": list(self.kernels),
            "pool_kernels": list(self.pool_kernels),
            "pool_modes": list(self.pool_modes),
            "units": list(self.units),
            "rates": list(self.rates),
            "activations": list(self.activations),
            "max_layers": self.max_layers,
            "max_depth": self.max_depth,
            "max_fc": self.max_fc,
            "max_flatten": self.max_flatten,
            "residual": self.residual,
            "dropout": self.dropout,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenGrammar) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(repr(self.config()))

    def __repr__(self) -> str:
        return (
            f"TokenGrammar(size={self.size}, max_layers={self.max_layers}, "
            f"max_depth={self.max_depth})"
        )

    def unit_layers(self, unit: str, params: tuple[Any, ...]) -> tuple[Layer, ...]:
        """The layers one unit expands to (see the module docstring); memoised.

        Layer records are frozen, so every network shares the same instances; that saves the
        records' validation, the largest cost of decoding.
        """
        key = (unit, params)
        layers = self._unit_cache.get(key)
        if layers is None:
            layers = self._build_unit(unit, params)
            self._unit_cache[key] = layers
        return layers

    def _build_unit(self, unit: str, p: tuple[Any, ...]) -> tuple[Layer, ...]:
        multi = len(self.activations) > 1
        if unit in ("conv", "residual"):
            filters, kernel, stride, bn = p[0], p[1], p[2], p[3]
            act = Activation(p[4] if multi else self.activations[0])
            first = Conv(filters=filters, kernel=kernel, stride=stride)
            if unit == "conv":
                return (first, BatchNorm(), act) if bn else (first, act)
            second = Conv(filters=filters, kernel=kernel, stride=1)
            block: tuple[Layer, ...] = (first, BatchNorm(), act) if bn else (first, act)
            block += (second, BatchNorm()) if bn else (second,)
            return (Residual(block), act)
        if unit == "pool":
            return (Pool(kernel=p[1], stride=POOL_STRIDE, mode=p[0]),)
        if unit == "dropout":
            return (Dropout(rate=p[0]),)
        if unit == "gap":
            return (GlobalAvgPool(),)
        if unit == "fc":
            act = Activation(p[2] if multi else self.activations[0])
            fc = FullyConnected(units=p[0])
            return (fc, BatchNorm(), act) if p[1] else (fc, act)
        raise InvalidArchitectureError(
            f"unit must be one of {', '.join(UNIT_TYPES[:-1])}, but got {unit!r}"
        )

    # -- decoding -----------------------------------------------------------------------------

    def start(self, input_shape: Sequence[int]) -> DecodeState:
        """An empty network for one sample of ``input_shape`` = (C, H, W).

        Raises:
            InvalidOptionError: ``input_shape`` is not three positive integers.
        """
        return DecodeState(self, check_input_shape(input_shape))

    def decode(self, tokens: Sequence[int], input_shape: Sequence[int]) -> Architecture:
        """Replay a complete token sequence and build its architecture.

        Raises:
            InvalidArchitectureError: a token the mask forbids at its position, or a sequence that
                does not end with ``layer:stop``.
        """
        state = self.start(input_shape)
        for t in tokens:
            state.push(int(t))
        if not state.done:
            raise InvalidArchitectureError(
                f"a token sequence must end with layer:stop, but got {len(tokens)} tokens "
                f"ending in {self.names(tokens[-1:]) or 'nothing'}"
            )
        return state.architecture()

    def sample(self, rng: np.random.Generator, input_shape: Sequence[int]) -> DecodeState:
        """A network drawn with uniform choices among the allowed tokens at each position.

        Uniform per token is not uniform per network: short networks are likelier than long
        ones, as in any stop-token grammar.

        Returns:
            The finished state: its ``tokens`` and its ``architecture()``.
        """
        state = self.start(input_shape)
        while not state.done:
            allowed = state.allowed()
            state.push(allowed[int(rng.integers(len(allowed)))], check=False)
        return state


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``input_shape`` as a tuple of three positive ints.

    Raises:
        InvalidOptionError: anything else.
    """
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if len(shape) != 3 or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape
    ):
        raise InvalidOptionError(
            f"input_shape must be (channels, height, width) with three positive integers, "
            f"but got {input_shape!r}"
        )
    return (int(shape[0]), int(shape[1]), int(shape[2]))


class DecodeState:
    """A partial network while its tokens arrive; knows the tensor shape after every unit.

    Use :meth:`allowed` to mask a policy and :meth:`push` to append the chosen token; once
    :attr:`done`, :meth:`architecture` builds the network.
    """

    __slots__ = (
        "grammar", "channels", "height", "width", "flat", "n_units", "weighted", "n_fc",
        "has_conv", "last_unit", "unit", "params", "layers", "tokens", "done",
    )

    def __init__(self, grammar: TokenGrammar, input_shape: tuple[int, int, int]) -> None:
        self.grammar = grammar
        self.channels, self.height, self.width = input_shape
        self.flat = False
        self.n_units = 0
        self.weighted = 0
        self.n_fc = 0
        self.has_conv = False
        self.last_unit: str | None = None
        self.unit: str | None = None  # the unit whose parameters are being read
        self.params: list[Any] = []
        self.layers: list[Layer] = []
        self.tokens: list[int] = []
        self.done = False

    @property
    def next_kind(self) -> str | None:
        """The decision kind of the next token (``None`` once done)."""
        if self.done:
            return None
        if self.unit is None:
            return "layer"
        return self.grammar.templates[self.unit][len(self.params)]

    def allowed(self) -> tuple[int, ...]:
        """Ids of the tokens that may come next (empty once done)."""
        g = self.grammar
        kind = self.next_kind
        if kind is None:
            return ()
        if kind == "layer":
            return tuple(g.layer_token(u) for u in self._allowed_units())
        if kind == "stride" and min(self.height, self.width) < 2:
            return g._stride1
        if kind == "pool_kernel":
            fits = min(self.height, self.width)
            return tuple(i for i, k in zip(g.ids(kind), g.pool_kernels) if k <= fits)
        return g.ids(kind)

    def _allowed_units(self) -> list[str]:
        g = self.grammar
        if self.n_units >= g.max_layers:
            return ["stop"]
        depth_left = g.max_depth - 1 - self.weighted  # the head is always there
        must_weigh = self.weighted == 0 and self.n_units == g.max_layers - 1
        out: list[str] = []
        if not self.flat:
            if depth_left >= 1:
                out.append("conv")
            if g.residual and depth_left >= 2:
                out.append("residual")
            if not must_weigh:
                if min(self.height, self.width) >= min(g.pool_kernels):
                    out.append("pool")
        if g.dropout and not must_weigh and self.n_units > 0 and self.last_unit != "dropout":
            out.append("dropout")
        if not self.flat and self.has_conv and not must_weigh:
            out.append("gap")
        if depth_left >= 1 and self.n_fc < g.max_fc:
            features = self.channels if self.flat else self.channels * self.height * self.width
            if self.flat or features <= g.max_flatten:
                out.append("fc")
        if self.weighted > 0:
            out.append("stop")
        return out

    def push(self, token: int, *, check: bool = True) -> None:
        """Append one token.

        Args:
            token: its id.
            check: verify that :meth:`allowed` holds it (skip only when a mask already did).

        Raises:
            InvalidArchitectureError: the token is not allowed here (names it and the choices).
        """
        if check and token not in (allowed := self.allowed()):
            g = self.grammar
            got = g.vocab[token].name if 0 <= token < g.size else repr(token)
            raise InvalidArchitectureError(
                f"token {len(self.tokens)} ({self.next_kind or 'after stop'}) must be one of "
                f"{', '.join(g.names(allowed)) or 'nothing'}, but got {got}"
            )
        self.tokens.append(token)
        value = self.grammar.vocab[token].value
        if self.unit is None:
            if value == "stop":
                self.done = True
                return
            self.unit, self.params = value, []
        else:
            self.params.append(value)
        if len(self.params) == len(self.grammar.templates[self.unit]):
            self._close_unit()

    def _close_unit(self) -> None:
        unit, p = self.unit, self.params
        if unit in ("conv", "residual"):
            filters, kernel, stride = p[0], p[1], p[2]
            pad = kernel // 2
            self.height = (self.height + 2 * pad - kernel) // stride + 1
            self.width = (self.width + 2 * pad - kernel) // stride + 1
            self.channels = filters
            self.has_conv = True
        elif unit == "pool":
            kernel = p[1]
            self.height = (self.height - kernel) // POOL_STRIDE + 1
            self.width = (self.width - kernel) // POOL_STRIDE + 1
        elif unit == "gap":
            self.flat = True
        elif unit == "fc":
            self.flat, self.channels = True, p[0]
            self.n_fc += 1
        self.layers.extend(self.grammar.unit_layers(unit, tuple(p)))
        self.weighted += _WEIGHTED.get(unit, 0)
        self.n_units += 1
        self.last_unit, self.unit, self.params = unit, None, []

    def architecture(self) -> Architecture:
        """The network built so far (complete once :attr:`done`).

        Raises:
            InvalidArchitectureError: no layer placed yet.
        """
        return Architecture(tuple(self.layers))


def split_units(grammar: TokenGrammar, tokens: Sequence[int]) -> list[list[int]]:
    """Cut a complete sequence into its units (each a ``layer`` token plus parameters), no stop."""
    units: list[list[int]] = []
    layer_ids = set(grammar.ids("layer"))
    stop = grammar.layer_token("stop")
    for t in tokens:
        t = int(t)
        if t == stop:
            break
        if t in layer_ids:
            units.append([t])
        else:
            units[-1].append(t)
    return units


__all__ = [
    "UNIT_TYPES",
    "POOL_STRIDE",
    "Token",
    "TokenGrammar",
    "DecodeState",
    "check_input_shape",
    "split_units",
]
