"""A cheap synthetic scorer with a known optimum, to test and benchmark strategies without a TAP.

It rewards a target pattern: a number of convolutions, a width, a number of spatial reductions,
and batch norm after convolutions::

    fit = exp(-0.5 * (dc**2 + dw**2 + dr**2))
    score = floor + (1 - floor - bn_bonus) * fit + bn_bonus * bn_share

where ``dc = (convs - target_convs) / 2``, ``dw = mean(log2 filters) - log2(target_width)``,
``dr = reductions - target_reductions`` (pools and stride-2 convs, residual blocks included),
``bn_share`` the fraction of convs followed by batch norm. Scores lie in [floor, 1]; the maximum
needs every part right, so a strategy must learn several decisions jointly. Networks without a conv
score ``floor``.
"""

from __future__ import annotations

import math

import numpy as np

from tapaskit.space.architecture import Architecture, BatchNorm, Conv, Layer, Pool, Residual


class SyntheticScorer:
    """``scorer(archs) -> np.ndarray`` of scores in [floor, 1] (see the module docstring).

    Args:
        target_convs: convolutions of the optimum.
        target_width: mean conv width (geometric) of the optimum.
        target_reductions: pools plus stride-2 convs of the optimum.
        floor: the score of a network far from the optimum.
        bn_bonus: the part of the score batch norm earns.
    """

    def __init__(
        self,
        *,
        target_convs: int = 6,
        target_width: int = 64,
        target_reductions: int = 3,
        floor: float = 0.1,
        bn_bonus: float = 0.1,
    ) -> None:
        self.target_convs = target_convs
        self.target_width = target_width
        self.target_reductions = target_reductions
        self.floor = floor
        self.bn_bonus = bn_bonus

    def score_one(self, arch: Architecture) -> float:
        """The score of one network."""
        convs: list[Conv] = []
        bn_after = 0
        reductions = 0

        def walk(layers: tuple[Layer, ...]) -> None:
            nonlocal bn_after, reductions
            for i, layer in enumerate(layers):
                if isinstance(layer, Residual):
                    walk(layer.layers)
                elif isinstance(layer, Conv):
                    convs.append(layer)
                    reductions += layer.stride == 2
                    bn_after += i + 1 < len(layers) and isinstance(layers[i + 1], BatchNorm)
                elif isinstance(layer, Pool):
                    reductions += 1

        walk(arch.layers)
        if not convs:
            return self.floor
        dc = (len(convs) - self.target_convs) / 2.0
        dw = float(np.mean([math.log2(c.filters) for c in convs])) - math.log2(self.target_width)
        dr = float(reductions - self.target_reductions)
        fit = math.exp(-0.5 * (dc * dc + dw * dw + dr * dr))
        span = 1.0 - self.floor - self.bn_bonus
        return self.floor + span * fit + self.bn_bonus * bn_after / len(convs)

    def __call__(self, archs: list[Architecture]) -> np.ndarray:
        return np.array([self.score_one(a) for a in archs], dtype=np.float64)


__all__ = ["SyntheticScorer"]
