"""Random architectures from the search space, valid for a given input by construction.

The sampler draws a target depth, splits it into convolutions and fully connected layers, and then
draws per-network style choices (batch norm or not, dropout or not, pooling or not, residual blocks
or not, a ``gap`` or a flatten before the classifier, one activation function) so that a batch of
samples spans shallow to deep, narrow to wide, plain to residual networks. Pooling and strided
convolutions are only placed where the current spatial size allows them, read from
:func:`tapaskit.space.shapes.infer_shapes`, so tiny inputs (8x8 digits, even 1x1) work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from tapaskit.space.architecture import (
    ACTIVATIONS,
    CONV_KERNELS,
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
from tapaskit.checks import check_int, check_number, check_positive_ints
from tapaskit.errors import InvalidOptionError
from tapaskit.space.shapes import infer_shapes

_T = TypeVar("_T")


class ArchitectureSampler:
    """Draws random valid architectures; owns a seeded ``numpy.random.Generator``.

    ``depth`` means weighted layers (convs, also inside residual blocks, fc layers and the head),
    as :attr:`Architecture.depth`. Probabilities prefixed ``p_`` are drawn once per network (does
    this network use batch norm / dropout / pooling / residual blocks / gap?), then per place.

    Args:
        min_depth: smallest depth, >= 2 (one conv or fc plus the head).
        max_depth: largest depth, >= ``min_depth``.
        filters: conv widths to draw from, in increasing order; deeper stages draw wider ones.
        kernels: conv kernel sizes, a subset of {1, 3, 5, 7}.
        fc_units: widths of hidden fully connected layers.
        activations: activation functions, one drawn per network.
        max_fc: most hidden fc layers per network.
        p_bn: probability that a network uses batch norm after its convs / fcs.
        p_dropout: probability that a network uses dropout.
        p_pool: probability that a network uses pooling.
        p_residual: probability that a network uses residual blocks.
        p_stride: per conv, probability of stride 2 (where the spatial size is > 1).
        p_gap: probability that a conv network ends in ``gap`` rather than a flatten.
        seed: seed of the generator; ``None`` draws one from the OS.

    Raises:
        InvalidOptionError: an option outside its allowed range.
    """

    def __init__(
        self,
        *,
        min_depth: int = 2,
        max_depth: int = 10,
        filters: Sequence[int] = (8, 16, 32, 64, 128),
        kernels: Sequence[int] = CONV_KERNELS,
        fc_units: Sequence[int] = (32, 64, 128, 256),
        activations: Sequence[str] = ACTIVATIONS,
        max_fc: int = 2,
        p_bn: float = 0.5,
        p_dropout: float = 0.3,
        p_pool: float = 0.6,
        p_residual: float = 0.3,
        p_stride: float = 0.15,
        p_gap: float = 0.5,
        seed: int | None = None,
    ) -> None:
        check_int("min_depth", min_depth, 2)
        check_int("max_depth", max_depth, min_depth)
        self.filters = tuple(sorted(check_positive_ints("filters", filters)))
        self.kernels = check_positive_ints("kernels", kernels)
        bad_kernels = [k for k in self.kernels if k not in CONV_KERNELS]
        if bad_kernels:
            raise InvalidOptionError(
                f"kernels must be a subset of {CONV_KERNELS}, but got {self.kernels!r}"
            )
        self.fc_units = check_positive_ints("fc_units", fc_units)
        self.activations = tuple(activations)
        bad_fns = [a for a in self.activations if a not in ACTIVATIONS]
        if not self.activations or bad_fns:
            raise InvalidOptionError(
                f"activations must be a non-empty subset of {ACTIVATIONS}, "
                f"but got {self.activations!r}"
            )
        check_int("max_fc", max_fc, 0)
        for name, p in (
            ("p_bn", p_bn),
            ("p_dropout", p_dropout),
            ("p_pool", p_pool),
            ("p_residual", p_residual),
            ("p_stride", p_stride),
            ("p_gap", p_gap),
        ):
            check_number(name, p, 0.0, 1.0)
        self.min_depth, self.max_depth, self.max_fc = min_depth, max_depth, max_fc
        self.p_bn, self.p_dropout, self.p_pool = p_bn, p_dropout, p_pool
        self.p_residual, self.p_stride, self.p_gap = p_residual, p_stride, p_gap
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def _chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _pick(self, options: Sequence[_T]) -> _T:
        return options[int(self.rng.integers(len(options)))]

    def sample(self, input_shape: Sequence[int], num_classes: int) -> Architecture:
        """Draw one architecture that is valid for ``input_shape`` and ``num_classes``.

        Raises:
            InvalidArchitectureError: ``input_shape`` or ``num_classes`` themselves are invalid.
        """
        # fails early, with the shape rule's own message, on a bad input shape or class count
        infer_shapes(Architecture((GlobalAvgPool(),)), input_shape, num_classes)
        rng = self.rng
        depth = int(rng.integers(self.min_depth, self.max_depth + 1))
        weighted = depth - 1
        n_fc = int(rng.integers(0, min(self.max_fc, weighted) + 1))
        n_conv = weighted - n_fc
        use_bn, use_dropout = self._chance(self.p_bn), self._chance(self.p_dropout)
        use_pool, use_residual = self._chance(self.p_pool), self._chance(self.p_residual)
        fn = self._pick(self.activations)
        # a stage index into the sorted widths: it grows with every down-sampling, as in VGG/ResNet
        stage = int(rng.integers(0, (len(self.filters) + 1) // 2))

        layers: list[Layer] = []
        spatial = (int(input_shape[1]), int(input_shape[2]))

        def conv() -> Conv:
            nonlocal stage
            stride = 2 if min(spatial) > 1 and self._chance(self.p_stride) else 1
            width = self.filters[min(stage + int(rng.integers(0, 2)), len(self.filters) - 1)]
            if stride == 2:
                stage += 1
            return Conv(filters=width, kernel=self._pick(self.kernels), stride=stride)

        def extend(new: list[Layer]) -> None:
            nonlocal spatial
            layers.extend(new)
            shape = infer_shapes(Architecture(tuple(layers)), input_shape, num_classes)
            out = shape.layers[-2].output_shape
            if len(out) == 3:
                spatial = (out[1], out[2])

        convs_left = n_conv
        while convs_left > 0:
            if use_residual and self._chance(0.5):
                size = min(convs_left, int(rng.integers(1, 3)))
                block: list[Layer] = []
                for j in range(size):
                    block.append(conv())
                    if use_bn:
                        block.append(BatchNorm())
                    if j < size - 1:
                        block.append(Activation(fn))
                extend([Residual(tuple(block)), Activation(fn)])
                convs_left -= size
            else:
                unit: list[Layer] = [conv()]
                if use_bn:
                    unit.append(BatchNorm())
                unit.append(Activation(fn))
                if use_dropout and self._chance(0.3):
                    unit.append(Dropout(rate=float(rng.choice((0.1, 0.2, 0.3, 0.5)))))
                extend(unit)
                convs_left -= 1
            if use_pool and self._chance(0.5):
                kernel = int(rng.choice((2, 2, 3)))
                if kernel <= min(spatial):
                    stride = int(rng.choice((kernel, 2)))
                    extend([Pool(kernel=kernel, stride=stride, mode=self._pick(("max", "avg")))])
                    stage += 1
        if n_conv > 0 and self._chance(self.p_gap):
            layers.append(GlobalAvgPool())
        for _ in range(n_fc):
            layers.append(FullyConnected(units=self._pick(self.fc_units)))
            if use_bn and self._chance(0.5):
                layers.append(BatchNorm())
            layers.append(Activation(fn))
            if use_dropout:
                layers.append(Dropout(rate=float(rng.choice((0.2, 0.3, 0.5)))))
        arch = Architecture(tuple(layers))
        # the construction keeps every rule; this check makes "only valid networks" a guarantee
        infer_shapes(arch, input_shape, num_classes)
        return arch

    def sample_many(
        self, n: int, input_shape: Sequence[int], num_classes: int, *, unique: bool = True
    ) -> list[Architecture]:
        """Draw ``n`` architectures, distinct by :attr:`Architecture.arch_hash` when ``unique``.

        Raises:
            InvalidOptionError: ``n`` is negative, or ``unique`` and the space yields fewer than
                ``n`` distinct networks within ``100 * n`` draws.
        """
        check_int("n", n, 0)
        if not unique:
            return [self.sample(input_shape, num_classes) for _ in range(n)]
        found: dict[str, Architecture] = {}
        for _ in range(100 * n):
            if len(found) == n:
                break
            arch = self.sample(input_shape, num_classes)
            found.setdefault(arch.arch_hash, arch)
        if len(found) < n:
            raise InvalidOptionError(
                f"could draw only {len(found)} distinct architectures of the {n} requested in "
                f"{100 * n} tries; widen the search space (depth range, filters, kernels)"
            )
        return list(found.values())


__all__ = ["ArchitectureSampler"]
