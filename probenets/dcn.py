"""The dataset characterization number (DCN): a probe's accuracy, corrected for chance.

.. math::

    \\mathrm{DCN} = \\operatorname{clip}\\Big(\\frac{a - 1/K}{1 - 1/K},\\ 0,\\ 1\\Big)

where ``a`` is the probe's validation accuracy and ``K`` the number of classes. It is the share of
the way from guessing to perfection that the probe covers (Cohen's kappa against a uniform
guesser). Higher DCN means an easier dataset: 0 is "the probe learned nothing", 1 is "the probe
is never wrong".

Why this and not the raw accuracy: a raw accuracy of 0.6 is near-chance on 2 classes but good on
100; correcting for chance puts datasets with different class counts on one scale, which the DCN
window of the search (|DCN - DCN*| <= tau) needs. The map is affine in ``a`` for a given ``K``,
so among datasets with the same class count it ranks exactly as accuracy does, and it stays
bounded and interpretable. Why clip: a probe can land slightly below chance on a dataset with no
signal; the difficulty is then "as hard as it gets", not negative.
"""

from __future__ import annotations

import math
import numbers

from probenets.errors import ProbeInputError


def chance_accuracy(num_classes: int) -> float:
    """Accuracy of a uniform random guesser over ``num_classes`` classes, ``1 / K``.

    Raises:
        ProbeInputError: ``num_classes`` is not an integer >= 2.
    """
    _check_num_classes(num_classes)
    return 1.0 / num_classes


def dcn_from_accuracy(accuracy: float, num_classes: int) -> float:
    """The DCN of a probe that reached ``accuracy`` on a ``num_classes``-class dataset.

    Args:
        accuracy: validation accuracy in [0, 1].
        num_classes: number of classes ``K >= 2``.

    Returns:
        ``clip((accuracy - 1/K) / (1 - 1/K), 0, 1)``: 0 at or below chance, 1 at perfection,
        increasing in ``accuracy``.

    Raises:
        ProbeInputError: ``accuracy`` outside [0, 1] or not finite, or ``num_classes`` not an
            integer >= 2.
    """
    if isinstance(accuracy, bool) or not isinstance(accuracy, numbers.Real):
        raise ProbeInputError(f"accuracy must be a real number in [0, 1], but got {accuracy!r}")
    acc = float(accuracy)
    if not (math.isfinite(acc) and 0.0 <= acc <= 1.0):
        raise ProbeInputError(f"accuracy must be in [0, 1], but got {accuracy!r}")
    chance = chance_accuracy(num_classes)
    return min(1.0, max(0.0, (acc - chance) / (1.0 - chance)))


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise ProbeInputError(f"num_classes must be an integer >= 2, but got {num_classes!r}")
    if num_classes < 2:
        raise ProbeInputError(f"num_classes must be >= 2, but got {num_classes}")
