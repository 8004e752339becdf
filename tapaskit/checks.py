"""The argument checks of tapaskit, written once: each returns the value or raises with the rule.

Messages state the rule and the value received (``"epochs must be an integer >= 1, but got 0"``),
as :mod:`tapaskit.errors` asks. Every public function and option of the toolkit checks its
numbers through these, and the CLI does not check again what the library checks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from tapaskit.errors import InvalidOptionError

__all__ = ["check_choice", "check_int", "check_number", "check_optional_positive", "check_positive_ints"]


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None,
              *, error: type[Exception] = InvalidOptionError) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool) in ``[minimum, maximum]``.

    Raises:
        InvalidOptionError: otherwise (or ``error``, for callers with their own error class).
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= minimum and (maximum is None or value <= maximum):  # type: ignore[operator]
        return int(value)  # type: ignore[arg-type]
    bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    kind = "" if ok else f" ({type(value).__name__})"  # '8' (str) says why 8 is refused
    raise error(f"{name} must be an integer {bound}, but got {value!r}{kind}")


def check_number(name: str, value: object, low: float = -math.inf, high: float = math.inf,
                 *, open_low: bool = False, open_high: bool = False) -> float:
    """``value`` as a ``float`` when it is a finite real number (not a bool) between the bounds.

    Raises:
        InvalidOptionError: otherwise, naming the interval.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)  # type: ignore[arg-type]
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if open_low else v >= low) and (v < high if open_high else v <= high)
    if ok:
        return float(value)  # type: ignore[arg-type]
    if high == math.inf and low == 0 and open_low:
        rule = "a positive number"
    elif high == math.inf and low == -math.inf:
        rule = "a finite number"
    elif high == math.inf:
        rule = f"a number {'>' if open_low else '>='} {low:g}"
    elif low == -math.inf:
        rule = f"a number {'<' if open_high else '<='} {high:g}"
    else:
        rule = f"a number in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    raise InvalidOptionError(f"{name} must be {rule}, but got {value!r}")


def check_optional_positive(name: str, value: object) -> float | None:
    """``None``, or ``value`` as a positive finite ``float`` (a budget that may be off)."""
    if value is None:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0  # type: ignore[operator,arg-type]
    if not ok:
        raise InvalidOptionError(f"{name} must be a positive number or None, but got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_positive_ints(name: str, values: Sequence[object]) -> tuple[int, ...]:
    """A non-empty sequence of integers >= 1, as a tuple."""
    values = tuple(values)
    if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1  # type: ignore[operator]
                             for v in values):
        raise InvalidOptionError(f"{name} must be a non-empty list of positive integers, but got {values!r}")
    return tuple(int(v) for v in values)  # type: ignore[arg-type]


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` when it is one of ``choices`` (compared with ``==``)."""
    if value not in choices:
        raise InvalidOptionError(f"{name} must be one of {', '.join(map(str, choices))}, but got {value!r}")
    return value
