"""The dataset spec syntax ``BASE[key=value;key=value]`` and its option values.

``BASE`` is a built-in name or a path; the bracketed options derive a variant (see
:mod:`tapaskit.datasets.variants`) or set a procedural built-in's generation parameters. This
module only knows the syntax and how to read one value; which keys exist is decided by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tapaskit.errors import InvalidOptionError

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split a dataset spec into its base and its raw options.

    A spec that names an existing path is taken whole, so paths containing brackets still work.
    Keys are lower-cased; empty items (``digits[n=100;]``) are ignored.

    Args:
        spec: E.g. ``"fashion-mnist[classes=0,6;n=2000;seed=1]"``, ``"digits"`` or ``"data/x.npz"``.

    Returns:
        ``(base, options)``: the base name or path, and the options as strings in the order given.

    Raises:
        InvalidOptionError: If the brackets are unbalanced, an item lacks ``=``, a key is not a
            lower-case identifier, a value is empty, or a key repeats.
    """
    text = spec.strip()
    if not text:
        raise InvalidOptionError("the dataset spec is empty; give a built-in name or a path")
    if "[" not in text and "]" not in text:
        return text, {}
    if path_exists(text):
        return text, {}
    start = text.rfind("[")
    if start <= 0 or not text.endswith("]") or "]" in text[start + 1 : -1]:
        raise InvalidOptionError(
            f"malformed dataset spec '{spec}': expected BASE[key=value;key=value]"
        )
    base, body = text[:start].strip(), text[start + 1 : -1]
    options: dict[str, str] = {}
    for item in body.split(";"):
        if not item.strip():
            continue
        if "=" not in item:
            raise InvalidOptionError(
                f"option '{item.strip()}' in dataset spec '{spec}' must be written key=value"
            )
        key, value = (part.strip() for part in item.split("=", 1))
        key = key.lower()
        if not _KEY.match(key):
            raise InvalidOptionError(
                f"option key '{key}' in dataset spec '{spec}' is not a valid name"
            )
        if not value:
            raise InvalidOptionError(f"option '{key}' in dataset spec '{spec}' has no value")
        if key in options:
            raise InvalidOptionError(f"option '{key}' is given twice in dataset spec '{spec}'")
        options[key] = value
    return base, options


def path_exists(text: str) -> bool:
    """Whether ``text`` names an existing file or folder (``False`` for names the OS rejects)."""
    try:
        return Path(text).expanduser().exists()
    except (OSError, ValueError):
        return False


def format_spec(base: str, items: Sequence[tuple[str, str]]) -> str:
    """The spec of a base and canonical ``(key, value)`` items: ``base[k=v;k=v]`` or ``base``."""
    if not items:
        return base
    return f"{base}[{';'.join(f'{k}={v}' for k, v in items)}]"


def format_float(value: float) -> str:
    """Shortest text that reads back as ``value``: ``0.3``, ``1``, ``1e-05``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def read_int(key: str, value: str, *, low: int, high: int | None = None) -> int:
    """Read an integer option and check ``low <= value <= high``.

    Raises:
        InvalidOptionError: Naming the key, the allowed range and the value received.
    """
    allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    try:
        number = int(value)
    except ValueError:
        raise InvalidOptionError(f"option '{key}' must be {allowed}, got '{value}'") from None
    if number < low or (high is not None and number > high):
        raise InvalidOptionError(f"option '{key}' must be {allowed}, got {number}")
    return number


def read_float(key: str, value: str, *, low: float, high: float, high_open: bool = False) -> float:
    """Read a float option and check ``low <= value <= high`` (``< high`` when ``high_open``).

    Raises:
        InvalidOptionError: Naming the key, the allowed range and the value received.
    """
    allowed = f"a number with {low:g} <= {key} {'<' if high_open else '<='} {high:g}"
    try:
        number = float(value)
    except ValueError:
        raise InvalidOptionError(f"option '{key}' must be {allowed}, got '{value}'") from None
    if not (low <= number and (number < high if high_open else number <= high)):
        raise InvalidOptionError(f"option '{key}' must be {allowed}, got {value}")
    return number


def read_bool(key: str, value: str) -> bool:
    """Read a boolean option (``1/0``, ``true/false``, ``yes/no``, ``on/off``).

    Raises:
        InvalidOptionError: Naming the key, the allowed values and the value received.
    """
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidOptionError(
        f"option '{key}' must be one of {', '.join(_TRUE + _FALSE)}, got '{value}'"
    )
