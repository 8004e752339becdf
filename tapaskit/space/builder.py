"""Turn an :class:`Architecture` into a ``torch.nn.Module``.

The result is an ``nn.Sequential`` whose child ``i`` is layer ``i`` of the architecture and whose
last child is the classifier head, so ``module[i]`` lines up with row ``i`` of
:func:`tapaskit.space.shapes.infer_shapes`: same output shape, same parameter count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

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
from tapaskit.space.shapes import infer_shapes, shortcut_stride

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
}


class ResidualBlock(nn.Module):
    """``body(x) + shortcut(x)``; the shortcut is ``nn.Identity`` or a strided 1x1 conv."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C', H', W')
        return self.body(x) + self.shortcut(x)


def _flat_linear(in_shape: tuple[int, ...], units: int) -> nn.Module:
    features = 1
    for d in in_shape:
        features *= d
    linear = nn.Linear(features, units)
    return nn.Sequential(nn.Flatten(), linear) if len(in_shape) > 1 else linear


def _build_layer(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> nn.Module:
    """One module for one layer; ``in_shape``/``out_shape`` come from shape inference."""
    if isinstance(layer, Conv):
        return nn.Conv2d(
            in_shape[0], layer.filters, layer.kernel, stride=layer.stride, padding=layer.kernel // 2
        )
    if isinstance(layer, BatchNorm):
        return nn.BatchNorm2d(in_shape[0]) if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[0])
    if isinstance(layer, Activation):
        return _ACTIVATIONS[layer.fn]()
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.rate)
    if isinstance(layer, Pool):
        pool = nn.MaxPool2d if layer.mode == "max" else nn.AvgPool2d
        return pool(layer.kernel, stride=layer.stride, padding=0, ceil_mode=False)
    if isinstance(layer, GlobalAvgPool):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, FullyConnected):
        return _flat_linear(in_shape, layer.units)
    if isinstance(layer, Residual):
        body = []
        # inner layers keep the rank, so only the channel count needs following here
        channels = in_shape[0]
        for inner in layer.layers:
            body.append(_build_layer(inner, (channels, *in_shape[1:]), ()))
            if isinstance(inner, Conv):
                channels = inner.filters
        shortcut: nn.Module = nn.Identity()
        if out_shape != in_shape:
            stride = shortcut_stride(in_shape[1:], out_shape[1:])  # type: ignore[arg-type]
            shortcut = nn.Conv2d(in_shape[0], out_shape[0], 1, stride=stride)
        return ResidualBlock(nn.Sequential(*body), shortcut)
    raise TypeError(f"no builder for layer type {type(layer).__name__}")


def build_module(
    arch: Architecture, input_shape: Sequence[int], num_classes: int
) -> nn.Sequential:
    """Build the network, classifier head included.

    Args:
        arch: the architecture.
        input_shape: ``(channels, height, width)`` of one sample.
        num_classes: outputs of the head, >= 2.

    Returns:
        An ``nn.Sequential`` mapping ``(B, C, H, W)`` to logits ``(B, num_classes)``; child ``i``
        is layer ``i``, the last child the head.

    Raises:
        InvalidArchitectureError: the network cannot be built for this input (raised by shape
            inference before any module is created).
    """
    summary = infer_shapes(arch, input_shape, num_classes)
    in_shape: tuple[int, ...] = summary.input_shape
    modules: list[nn.Module] = []
    for layer, row in zip(arch.layers, summary.layers):
        modules.append(_build_layer(layer, in_shape, row.output_shape))
        in_shape = row.output_shape
    modules.append(_flat_linear(in_shape, num_classes))
    return nn.Sequential(*modules)


__all__ = ["ResidualBlock", "build_module"]
