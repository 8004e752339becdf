"""Shape inference, parameter, FLOP and memory counts for an :class:`Architecture`, in pure Python.

A search controller scores thousands of candidates, so this module imports no torch and builds
nothing but small frozen records. :func:`tapaskit.space.builder.build_module` calls it first, so an
invalid network fails here, with the layer's position, before any module exists.

Conventions (per sample, i.e. batch size 1):

- **Shapes** exclude the batch dimension: (C, H, W) for images, (F,) once flat.
- **params** equal ``sum(p.numel() for p in module.parameters())`` of the built module: conv,
  fc, head and shortcut projections have a bias; batch norm has weight and bias (its running
  statistics are buffers, not parameters).
- **flops** count ``2 x multiply-accumulates`` of the weighted layers only (conv, fc, head, the
  1x1 shortcut projection). Bias additions, activations, batch norm, pooling, dropout and the
  residual addition count 0: they are element-wise and small next to the weighted layers, and this
  is the convention of most published FLOP counts.
- **activation_memory** is the number of float32 elements of every tensor a layer produces for one
  sample (multiply by 4 for bytes). The network input is not counted. A residual row counts its
  inner layers' outputs, the projection's output (if any) and the sum.
- **depth** counts weighted layers: convs (also inside residual blocks), fc layers and the head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tapaskit.space.architecture import (
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
from tapaskit.errors import InvalidArchitectureError

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LayerSummary:
    """What one layer (a residual block as a whole, or the head) produces and costs.

    Attributes:
        index: position in ``Architecture.layers``; the head has ``len(layers)``.
        type: the layer's JSON type, or ``"head"``.
        output_shape: without the batch dimension.
        params: trainable parameters.
        flops: ``2 x`` multiply-accumulates (see the module docstring).
        activation_memory: float32 elements the layer produces per sample.
    """

    index: int
    type: str
    output_shape: Shape
    params: int
    flops: int
    activation_memory: int


@dataclass(frozen=True, slots=True)
class NetworkSummary:
    """Per-layer rows (the head last) and totals for one architecture on one input."""

    input_shape: tuple[int, int, int]
    num_classes: int
    layers: tuple[LayerSummary, ...]
    params: int
    flops: int
    activation_memory: int
    output_shape: tuple[int]
    depth: int


def shortcut_stride(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> int | None:
    """The stride of the 1x1 conv that maps spatial size ``in_hw`` onto ``out_hw``.

    A 1x1 conv with stride ``s`` turns ``H`` into ``ceil(H / s)``; the smallest ``s`` that gives
    both target sizes is returned (the integer ratio ``H / H'`` when it divides evenly).

    Returns:
        The stride, or ``None`` when no integer stride gives ``out_hw``.
    """
    (h, w), (ho, wo) = in_hw, out_hw
    if ho < 1 or wo < 1:
        return None
    # ceil(h / s) never grows with s, so the smallest s reaching both targets is the only candidate
    s = max(-(-h // ho), -(-w // wo))
    return s if -(-h // s) == ho and -(-w // s) == wo else None


# Each rule: (layer, input shape, where) -> (output shape, params, flops, activation memory)
_Result = tuple[Shape, int, int, int]


def _numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _conv(layer: Conv, shape: Shape, where: str) -> _Result:
    c, h, w = shape
    k, s, f = layer.kernel, layer.stride, layer.filters
    pad = k // 2
    ho = (h + 2 * pad - k) // s + 1
    wo = (w + 2 * pad - k) // s + 1
    return (f, ho, wo), c * f * k * k + f, 2 * c * k * k * f * ho * wo, f * ho * wo


def _bn(layer: BatchNorm, shape: Shape, where: str) -> _Result:
    return shape, 2 * shape[0], 0, _numel(shape)


def _elementwise(layer: Activation | Dropout, shape: Shape, where: str) -> _Result:
    return shape, 0, 0, _numel(shape)


def _pool(layer: Pool, shape: Shape, where: str) -> _Result:
    c, h, w = shape
    k, s = layer.kernel, layer.stride
    ho = (h - k) // s + 1
    wo = (w - k) // s + 1
    if ho < 1 or wo < 1:
        raise InvalidArchitectureError(
            f"{where} (pool): output spatial size would be {max(ho, 0)}x{max(wo, 0)} from input "
            f"{h}x{w} with kernel {k}, stride {s}"
        )
    return (c, ho, wo), 0, 0, c * ho * wo


def _gap(layer: GlobalAvgPool, shape: Shape, where: str) -> _Result:
    return (shape[0],), 0, 0, shape[0]


def _fc(layer: FullyConnected, shape: Shape, where: str) -> _Result:
    features, units = _numel(shape), layer.units
    return (units,), features * units + units, 2 * features * units, units


def _residual(layer: Residual, shape: Shape, where: str) -> _Result:
    out, params, flops, memory = shape, 0, 0, 0
    for j, inner in enumerate(layer.layers):
        out, p, f, m = _RULES[type(inner)](inner, out, f"{where}.{j}")
        params, flops, memory = params + p, flops + f, memory + m
    if out != shape:
        (c, h, w), (co, ho, wo) = shape, out
        stride = shortcut_stride((h, w), (ho, wo))
        if stride is None:
            raise InvalidArchitectureError(
                f"{where} (residual): the 1x1 shortcut needs an integer stride s with "
                f"ceil({h}/s) = {ho} and ceil({w}/s) = {wo}, but none exists (the block maps "
                f"{h}x{w} to {ho}x{wo})"
            )
        params += c * co + co
        flops += 2 * c * co * ho * wo
        memory += co * ho * wo
    return out, params, flops, memory + _numel(out)


_RULES: dict[type, Callable[[Layer, Shape, str], _Result]] = {
    Conv: _conv,
    BatchNorm: _bn,
    Activation: _elementwise,
    Dropout: _elementwise,
    Pool: _pool,
    GlobalAvgPool: _gap,
    FullyConnected: _fc,
    Residual: _residual,
}


def _check_input(input_shape: Sequence[int], num_classes: int) -> tuple[int, int, int]:
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
    ):
        raise InvalidArchitectureError(
            "input_shape must be (channels, height, width) with three positive integers, "
            f"but got {input_shape!r}"
        )
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise InvalidArchitectureError(
            f"num_classes must be an integer >= 2, but got {num_classes!r}"
        )
    return shape  # type: ignore[return-value]


def infer_shapes(
    arch: Architecture, input_shape: Sequence[int], num_classes: int
) -> NetworkSummary:
    """Infer every layer's output shape and cost, and reject networks that cannot be built.

    Args:
        arch: the architecture (its structural rules hold already).
        input_shape: ``(channels, height, width)`` of one sample.
        num_classes: outputs of the head, >= 2.

    Returns:
        One row per layer (a residual block is one row) plus the head row, and the totals.

    Raises:
        InvalidArchitectureError: non-positive input sizes, fewer than 2 classes, a pooling window
            larger than its input (spatial collapse), or a residual block whose shortcut needs a
            non-integer stride; the message names the layer and the rule.
    """
    checked = _check_input(input_shape, num_classes)
    shape: Shape = checked
    rows = []
    params = flops = memory = 0
    for i, layer in enumerate(arch.layers):
        shape, p, f, m = _RULES[type(layer)](layer, shape, f"layer {i}")
        rows.append(LayerSummary(i, layer.kind, shape, p, f, m))
        params, flops, memory = params + p, flops + f, memory + m
    features = _numel(shape)
    p, f = features * num_classes + num_classes, 2 * features * num_classes
    rows.append(LayerSummary(len(arch.layers), "head", (num_classes,), p, f, num_classes))
    return NetworkSummary(
        input_shape=checked,
        num_classes=num_classes,
        layers=tuple(rows),
        params=params + p,
        flops=flops + f,
        activation_memory=memory + num_classes,
        output_shape=(num_classes,),
        depth=arch.depth,
    )


def count_params(arch: Architecture, input_shape: Sequence[int], num_classes: int) -> int:
    """Trainable parameters of the built network (shorthand for ``infer_shapes(...).params``)."""
    return infer_shapes(arch, input_shape, num_classes).params


__all__ = ["LayerSummary", "NetworkSummary", "infer_shapes", "count_params", "shortcut_stride"]
