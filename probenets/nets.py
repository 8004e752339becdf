"""Probe architectures and their registry.

A probe is a small network whose accuracy after a short, fixed training says how hard a dataset
is. Every probe adapts to any input shape ``(C, H, W)`` and any class count ``K >= 2``, and is
registered under a name with a version: the version changes whenever the architecture, its
initialisation or its learning rate changes, so that a cached DCN is only ever compared with DCNs
computed the same way.

Networks are built on the ``meta`` device and initialised from a caller-owned
:class:`torch.Generator`, so building a probe never reads or advances torch's global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import nn

from probenets.errors import ProbeInputError, UnknownProbeError

InputShape = tuple[int, int, int]

#: Spatial size (larger side) down to which the conv probe keeps pooling.
_POOL_UNTIL = 8
#: The conv probe always tries at least this many pooled blocks and never more than the maximum.
_MIN_POOLED_BLOCKS = 2
_MAX_POOLED_BLOCKS = 5


def _pool_kernel(height: int, width: int) -> tuple[int, int] | None:
    """A 2x2 max-pool, reduced to 1 along any axis already of size 1; None when both are 1."""
    kernel = (2 if height >= 2 else 1, 2 if width >= 2 else 1)
    return None if kernel == (1, 1) else kernel


class ConvProbe(nn.Module):
    """Conv → batch norm → ReLU blocks, max-pooled while the image is large, then GAP and a head.

    The first block has ``widths[0]`` channels, the others ``widths[1]``. Pooled blocks are added
    until the larger spatial side is at most 8 (at least 2, at most 5 of them), pooling only along
    axes of size >= 2, so ``(1, 8, 8)``, ``(1, 28, 28)``, ``(3, 32, 32)`` and ``(1, 1, 40)`` all
    work. A final unpooled block precedes the global average pool.
    """

    def __init__(
        self, input_shape: InputShape, num_classes: int, widths: tuple[int, int] = (32, 64),
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        layers: list[nn.Module] = []
        pooled = 0
        in_ch = channels
        while pooled < _MAX_POOLED_BLOCKS and (
            pooled < _MIN_POOLED_BLOCKS or max(height, width) > _POOL_UNTIL
        ):
            kernel = _pool_kernel(height, width)
            if kernel is None:
                break
            out_ch = widths[0] if pooled == 0 else widths[1]
            layers += _conv_block(in_ch, out_ch)
            layers.append(nn.MaxPool2d(kernel, stride=kernel))
            height, width = height // kernel[0], width // kernel[1]
            in_ch, pooled = out_ch, pooled + 1
        layers += _conv_block(in_ch, widths[1])
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, W, H', W')
        return self.head(h.mean(dim=(2, 3)))  # (B, K)


def _conv_block(in_ch: int, out_ch: int) -> list[nn.Module]:
    # No conv bias: the batch norm that follows has its own shift.
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU()]


def _build_convnet(input_shape: InputShape, num_classes: int) -> nn.Module:
    return ConvProbe(input_shape, num_classes)


def _build_mlp(input_shape: InputShape, num_classes: int) -> nn.Module:
    features = math.prod(input_shape)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
        nn.Linear(256, num_classes),
    )


def _build_linear(input_shape: InputShape, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """(Re)initialise every parameter of ``module`` from ``generator``, as torch's defaults would.

    Conv and linear layers get torch's default Kaiming-uniform weights and uniform biases; batch
    norms get unit scale, zero shift and fresh running statistics.

    Args:
        module: a network of ``Conv2d``, ``Linear``, ``BatchNorm*`` and parameter-free layers,
            on the CPU (the generator is a CPU generator).
        generator: the source of all randomness.

    Raises:
        TypeError: a layer with parameters of another kind (a probe definition bug).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                fan_in = layer.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_parameters()
        elif any(True for _ in layer.parameters(recurse=False)):
            raise TypeError(
                f"init_parameters does not know how to initialise {type(layer).__name__}")


@dataclass(frozen=True)
class ProbeSpec:
    """A registered probe: how to build it and the learning rate it is trained with.

    Attributes:
        name: registry key.
        version: changes whenever the network, its initialisation or ``lr`` changes.
        description: one line for listings.
        lr: peak learning rate of the Adam one-cycle schedule used by
            :func:`probenets.characterize` (in :mod:`probenets.probe`).
    """

    name: str
    version: str
    description: str
    lr: float
    factory: Callable[[InputShape, int], nn.Module] = field(repr=False, compare=False)

    def build(
        self, input_shape: InputShape, num_classes: int, *, generator: torch.Generator,
        device: str | torch.device = "cpu",
    ) -> nn.Module:
        """A freshly initialised probe for ``input_shape`` and ``num_classes``.

        Args:
            input_shape: ``(C, H, W)``, each at least 1.
            num_classes: at least 2.
            generator: CPU generator that draws the initial weights (global RNG untouched).
            device: where the returned module lives.

        Returns:
            The network in training mode; it maps ``(B, C, H, W)`` to logits ``(B, K)``.

        Raises:
            ProbeInputError: a shape that is not three positive integers or fewer than 2 classes.
        """
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
            raise ProbeInputError(
                f"input_shape must be three positive integers (C, H, W), but got {input_shape!r}")
        if num_classes < 2:
            raise ProbeInputError(f"a probe needs num_classes >= 2, but got {num_classes}")
        with torch.device("meta"):  # no global-RNG draw by torch's default initialisers
            module = self.factory(shape, num_classes)  # type: ignore[arg-type]
        module = module.to_empty(device="cpu")
        init_parameters(module, generator)
        return module.to(device).train()


# Version history: 1 trained 6 epochs at lr 3e-3; 2 trains 8 epochs at the lrs below. Cached DCNs of
# another version are recomputed, never mixed.
PROBES: Mapping[str, ProbeSpec] = MappingProxyType({
    spec.name: spec
    for spec in (
        ProbeSpec(
            name="convnet-bn", version="2", lr=6e-3, factory=_build_convnet,
            description="3x3 conv/BN/ReLU blocks (32, 64, 64... channels), max-pool, GAP, linear",
        ),
        ProbeSpec(
            name="mlp", version="2", lr=3e-3, factory=_build_mlp,
            description="flatten, 256-unit hidden layer with batch norm and ReLU, linear",
        ),
        ProbeSpec(
            name="linear", version="2", lr=1e-2, factory=_build_linear,
            description="logistic regression on the standardised pixels",
        ),
    )
})

#: The default probe. The MLP's DCN tracks how a broad pool of CNNs fares far better than the
#: batch-normalised convnet's (Spearman 0.98 against 0.58 over the 13 datasets of the seeding campaign,
#: chance-corrected mean accuracy of 150 networks each; see probenets/README.md): the convnet solves
#: some datasets (oriented textures, shapes) that most networks find hard.
DEFAULT_PROBE = "mlp"


def get_probe(name: str) -> ProbeSpec:
    """The registered probe called ``name``.

    Raises:
        UnknownProbeError: no probe of that name; the message lists the known ones.
    """
    try:
        return PROBES[name]
    except (KeyError, TypeError):
        raise UnknownProbeError(
            f"probe must be one of {', '.join(sorted(PROBES))}, but got {name!r}") from None
