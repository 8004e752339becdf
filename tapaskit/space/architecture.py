"""The CNN search space: a chain of layers, its canonical JSON form and its stable hash.

An :class:`Architecture` is an ordered tuple of frozen layer records. The vocabulary, with the JSON
fields of each layer (defaults in brackets):

``conv``
    ``filters`` (>= 1), ``kernel`` in {1, 3, 5, 7} [3], ``stride`` in {1, 2} [1]. "Same" padding
    ``kernel // 2``, always with a bias.
``bn``
    Batch norm over the current channels (``BatchNorm2d`` on a (C, H, W) tensor, ``BatchNorm1d``
    once the tensor is 1-D). No fields.
``act``
    ``fn`` in {relu, leaky_relu, gelu, tanh, sigmoid, elu} [relu].
``pool``
    ``mode`` in {max, avg} [max], ``kernel`` (>= 1) [2], ``stride`` (>= 1) [= kernel]. No padding,
    floor mode.
``dropout``
    ``rate`` in [0, 1) [0.5], element-wise.
``residual``
    ``layers``: a non-empty list of conv / bn / act / pool / dropout layers. The output is
    ``block(x) + shortcut(x)``; the shortcut is the identity when the shapes match, else a 1x1 conv
    (with a bias) projecting to the block's output channels with the stride that maps the input's
    spatial size onto the block's (see :func:`tapaskit.space.shapes.shortcut_stride`).
``gap``
    Global average pool, (C, H, W) -> (C,).
``fc``
    ``units`` (>= 1); flattens a (C, H, W) input first.

The classifier head is implicit: every network ends with a flatten (if still 3-D) and
``Linear(features, num_classes)``. It is not a layer of the list, but shape inference and the
builder add it, and :attr:`Architecture.depth` counts it.

Structural rules, checked when an :class:`Architecture` is created: at least one layer (otherwise
there is nothing to classify), and once the tensor is 1-D (after the first ``fc`` or ``gap``) no
``conv``, ``pool``, ``residual`` or ``gap`` may follow. Rules that depend on the input size (spatial
collapse, shortcut strides) are checked by :func:`tapaskit.space.shapes.infer_shapes`.

JSON form (``Architecture.to_json`` writes it canonically: keys sorted, no whitespace, every
default filled in)::

    {"schema": "tapaskit.arch/1",
     "layers": [{"type": "conv", "filters": 32, "kernel": 3, "stride": 1},
                {"type": "bn"},
                {"type": "act", "fn": "relu"},
                {"type": "residual", "layers": [{"type": "conv", "filters": 64, "kernel": 3,
                                                 "stride": 2},
                                                {"type": "act", "fn": "relu"}]},
                {"type": "pool", "mode": "max", "kernel": 2, "stride": 2},
                {"type": "gap"},
                {"type": "dropout", "rate": 0.5},
                {"type": "fc", "units": 64}]}

A bare list of layers is accepted on input too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Union

from tapaskit.checks import check_int
from tapaskit.errors import InvalidArchitectureError

SCHEMA = "tapaskit.arch/1"
CONV_KERNELS: tuple[int, ...] = (1, 3, 5, 7)
CONV_STRIDES: tuple[int, ...] = (1, 2)
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "elu")
POOL_MODES: tuple[str, ...] = ("max", "avg")


class _LayerRuleError(InvalidArchitectureError):
    """A layer field that breaks a rule; parsers re-raise it with the layer's position."""

    def __init__(self, kind: str, rule: str) -> None:
        super().__init__(f"{kind}: {rule}")
        self.kind = kind
        self.rule = rule


def _check_int(kind: str, name: str, value: object, minimum: int = 1) -> None:
    # bool is an int subclass, and True silently meaning 1 would hide a typo in a JSON file
    check_int(name, value, minimum, error=lambda rule: _LayerRuleError(kind, rule))


def _check_choice(kind: str, name: str, value: object, choices: tuple[Any, ...]) -> None:
    same_type = all(isinstance(value, type(c)) and not isinstance(value, bool) for c in choices)
    if not same_type or value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise _LayerRuleError(kind, f"{name} must be one of {allowed}, but got {value!r}")


@dataclass(frozen=True)
class Conv:
    """2-D convolution with "same" padding (``kernel // 2``) and a bias."""

    kind: ClassVar[str] = "conv"
    filters: int
    kernel: int = 3
    stride: int = 1

    def __post_init__(self) -> None:
        _check_int(self.kind, "filters", self.filters)
        _check_int(self.kind, "kernel", self.kernel)
        _check_choice(self.kind, "kernel", self.kernel, CONV_KERNELS)
        _check_int(self.kind, "stride", self.stride)
        _check_choice(self.kind, "stride", self.stride, CONV_STRIDES)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over the current channels (2-D or 1-D by the tensor's rank)."""

    kind: ClassVar[str] = "bn"


@dataclass(frozen=True)
class Activation:
    """An element-wise non-linearity."""

    kind: ClassVar[str] = "act"
    fn: str = "relu"

    def __post_init__(self) -> None:
        _check_choice(self.kind, "fn", self.fn, ACTIVATIONS)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling without padding, floor mode; ``stride`` defaults to ``kernel``."""

    kind: ClassVar[str] = "pool"
    kernel: int = 2
    stride: int | None = None
    mode: str = "max"

    def __post_init__(self) -> None:
        _check_int(self.kind, "kernel", self.kernel)
        if self.stride is None:
            # frozen: the default is filled in once here, so Pool(2) == Pool(2, 2)
            object.__setattr__(self, "stride", self.kernel)
        _check_int(self.kind, "stride", self.stride)
        _check_choice(self.kind, "mode", self.mode, POOL_MODES)


@dataclass(frozen=True)
class Dropout:
    """Element-wise dropout with drop probability ``rate``."""

    kind: ClassVar[str] = "dropout"
    rate: float = 0.5

    def __post_init__(self) -> None:
        rate = self.rate
        if not isinstance(rate, (int, float)) or isinstance(rate, bool):
            raise _LayerRuleError(
                self.kind, f"rate must be a number, but got {rate!r} ({type(rate).__name__})"
            )
        if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
            raise _LayerRuleError(self.kind, f"rate must be in [0, 1), but got {rate!r}")
        # 0 and 0.0 must give one canonical JSON form
        object.__setattr__(self, "rate", float(rate))


@dataclass(frozen=True)
class GlobalAvgPool:
    """Global average pooling, (C, H, W) -> (C,)."""

    kind: ClassVar[str] = "gap"


@dataclass(frozen=True)
class FullyConnected:
    """A linear layer with a bias; flattens a (C, H, W) input first."""

    kind: ClassVar[str] = "fc"
    units: int

    def __post_init__(self) -> None:
        _check_int(self.kind, "units", self.units)


RESIDUAL_INNER_TYPES: tuple[str, ...] = ("conv", "bn", "act", "pool", "dropout")


@dataclass(frozen=True)
class Residual:
    """A block whose output is ``block(x) + shortcut(x)``; see the module docstring."""

    kind: ClassVar[str] = "residual"
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.layers, tuple):
            raise _LayerRuleError(
                self.kind, f"layers must be a list of layers, but got {type(self.layers).__name__}"
            )
        if not self.layers:
            raise _LayerRuleError(self.kind, "a residual block needs at least one layer, but got 0")
        for j, inner in enumerate(self.layers):
            inner_kind = getattr(inner, "kind", None)
            if not isinstance(inner, _LAYER_CLASSES) or inner_kind not in RESIDUAL_INNER_TYPES:
                got = inner_kind if isinstance(inner, _LAYER_CLASSES) else type(inner).__name__
                raise _LayerRuleError(
                    self.kind,
                    f"a residual block may hold only {', '.join(RESIDUAL_INNER_TYPES)} layers, "
                    f"but its layer {j} is {got}",
                )


Layer = Union[Conv, BatchNorm, Activation, Pool, Dropout, Residual, GlobalAvgPool, FullyConnected]

_LAYER_CLASSES: tuple[type, ...] = (
    Conv,
    BatchNorm,
    Activation,
    Pool,
    Dropout,
    Residual,
    GlobalAvgPool,
    FullyConnected,
)
LAYER_TYPES: dict[str, type] = {cls.kind: cls for cls in _LAYER_CLASSES}

# once the tensor is 1-D these have nothing spatial left to work on
_NEEDS_SPATIAL = ("conv", "pool", "residual", "gap")
_FLATTENS = ("fc", "gap")


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    """The JSON object of one layer with every default filled in."""
    out: dict[str, Any] = {"type": layer.kind}
    for field in dataclasses.fields(layer):
        value = getattr(layer, field.name)
        out[field.name] = [layer_to_dict(x) for x in value] if field.name == "layers" else value
    return out


def _layer_from_dict(obj: object, where: str) -> Layer:
    """Build one layer from its JSON object; ``where`` ("layer 2", "layer 3.1") prefixes errors."""
    if not isinstance(obj, dict):
        raise InvalidArchitectureError(
            f"{where}: a layer must be a JSON object with a 'type', but got {type(obj).__name__}"
        )
    kind = obj.get("type")
    if kind not in LAYER_TYPES:
        known = ", ".join(sorted(LAYER_TYPES))
        raise InvalidArchitectureError(f"{where}: unknown layer type {kind!r} (known: {known})")
    cls = LAYER_TYPES[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in obj.items() if k != "type"}
    for name in kwargs:
        if name not in fields:
            allowed = ", ".join(fields) or "none"
            raise InvalidArchitectureError(
                f"{where} ({kind}): unknown field {name!r} (allowed: {allowed})"
            )
    for name, field in fields.items():
        no_default = field.default is dataclasses.MISSING
        if no_default and field.default_factory is dataclasses.MISSING and name not in kwargs:
            raise InvalidArchitectureError(f"{where} ({kind}): missing required field {name!r}")
    if cls is Residual:
        inner = kwargs["layers"]
        if not isinstance(inner, list):
            raise InvalidArchitectureError(
                f"{where} (residual): layers must be a list, but got {type(inner).__name__}"
            )
        kwargs["layers"] = tuple(_layer_from_dict(x, f"{where}.{j}") for j, x in enumerate(inner))
    try:
        return cls(**kwargs)
    except _LayerRuleError as exc:
        raise InvalidArchitectureError(f"{where} ({exc.kind}): {exc.rule}") from None


@dataclass(frozen=True)
class Architecture:
    """A chain-structured CNN: an ordered tuple of layers, plus the implicit classifier head.

    Creating one checks the structural rules of the module docstring; input-dependent rules are
    checked by :func:`tapaskit.space.shapes.infer_shapes`.

    Raises:
        InvalidArchitectureError: no layers, a non-layer element, or a spatial layer after the
            tensor became 1-D.
    """

    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.layers, tuple):
            raise InvalidArchitectureError(
                f"layers must be a tuple of layers, but got {type(self.layers).__name__}"
            )
        if not self.layers:
            raise InvalidArchitectureError(
                "an architecture needs at least one layer (nothing to classify), but got 0 layers"
            )
        flattened_at: int | None = None
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, _LAYER_CLASSES):
                raise InvalidArchitectureError(
                    f"layer {i}: expected a layer record (Conv, Pool, ...), "
                    f"but got {type(layer).__name__}"
                )
            if flattened_at is not None and layer.kind in _NEEDS_SPATIAL:
                flattener = self.layers[flattened_at].kind
                raise InvalidArchitectureError(
                    f"layer {i} ({layer.kind}): {layer.kind} needs a (C, H, W) input, but the "
                    f"tensor is already 1-D after layer {flattened_at} ({flattener})"
                )
            if flattened_at is None and layer.kind in _FLATTENS:
                flattened_at = i

    @classmethod
    def from_dict(cls, obj: object) -> Architecture:
        """Build from ``{"schema": "tapaskit.arch/1", "layers": [...]}`` or a bare list of layers.

        Raises:
            InvalidArchitectureError: naming the layer position, the rule and the value received.
        """
        if isinstance(obj, dict):
            unknown = sorted(set(obj) - {"schema", "layers"})
            if unknown:
                raise InvalidArchitectureError(
                    f"unknown top-level key {unknown[0]!r} (allowed: schema, layers)"
                )
            schema = obj.get("schema", SCHEMA)
            if schema != SCHEMA:
                raise InvalidArchitectureError(f"schema must be {SCHEMA!r}, but got {schema!r}")
            if "layers" not in obj:
                raise InvalidArchitectureError("missing top-level key 'layers'")
            layers = obj["layers"]
        else:
            layers = obj
        if not isinstance(layers, list):
            raise InvalidArchitectureError(
                "an architecture must be a JSON object {'schema': ..., 'layers': [...]} or a list "
                f"of layers, but got {type(layers).__name__}"
            )
        return cls(tuple(_layer_from_dict(x, f"layer {i}") for i, x in enumerate(layers)))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Parse JSON text (an object or a bare list of layers).

        Raises:
            InvalidArchitectureError: the text is not JSON or breaks a rule.
        """
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArchitectureError(f"architecture is not valid JSON: {exc}") from None
        except RecursionError:  # e.g. 100,000 nested lists: no network nests like that
            raise InvalidArchitectureError("architecture JSON nests too deeply to be a network") from None
        try:
            return cls.from_dict(obj)
        except RecursionError:
            raise InvalidArchitectureError("architecture JSON nests too deeply to be a network") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object with the schema tag and every default filled in."""
        return {"schema": SCHEMA, "layers": [layer_to_dict(x) for x in self.layers]}

    def to_json(self) -> str:
        """Canonical JSON: keys sorted, no whitespace, every default filled in."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @cached_property
    def arch_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of :meth:`to_json` (insensitive to formatting)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]

    @property
    def depth(self) -> int:
        """Weighted layers: convs (also inside residual blocks), fully connected ones, the head."""
        count = 1
        for layer in self.layers:
            if isinstance(layer, Residual):
                count += sum(isinstance(x, Conv) for x in layer.layers)
            elif isinstance(layer, (Conv, FullyConnected)):
                count += 1
        return count

    def __len__(self) -> int:
        return len(self.layers)


__all__ = [
    "SCHEMA",
    "CONV_KERNELS",
    "CONV_STRIDES",
    "ACTIVATIONS",
    "POOL_MODES",
    "RESIDUAL_INNER_TYPES",
    "LAYER_TYPES",
    "Layer",
    "Conv",
    "BatchNorm",
    "Activation",
    "Pool",
    "Dropout",
    "Residual",
    "GlobalAvgPool",
    "FullyConnected",
    "Architecture",
    "layer_to_dict",
]
