"""Architectures from text: JSON (files or strings) and MetaQNN layer strings.

:func:`parse_architecture` takes any of the forms a user types; :func:`parse_metaqnn` reads MetaQNN
strings such as ``[C(64,3,1), P(2,2), D(1,3), FC(128), GAP(10), SM(10)]``.

MetaQNN (Baker et al., 2017) and its performance-prediction data set (Baker et al., 2018) write a
network as a bracketed, comma-separated list of tokens. Mapping onto the tapaskit vocabulary:

==============  =============================================================================
``C(n,f,l)``    ``conv(filters=n, kernel=f, stride=l)`` then ``act(relu)``: MetaQNN convs are
                followed by a ReLU. The data set uses kernels 1, 3, 5 only, inside tapaskit's
                {1, 3, 5, 7}.
``P(f,l)``      ``pool(mode=max, kernel=f, stride=l)``.
``D(i,n)``      ``dropout(rate=0.5 * i / n)``: the i-th of n dropout layers, MetaQNN's schedule
                that raises the rate with depth up to 0.5.
``FC(n)``       ``fc(units=n)`` then ``act(relu)``.
``GAP(n)``      ``conv(filters=n, kernel=1)`` then ``gap``: MetaQNN's global-average-pool
                classifier, a 1x1 conv to n maps averaged over space.
``SM(n)``       the implicit classifier head; it must be last and ``n`` is the class count.
==============  =============================================================================

Parameter counts differ from the data set's ``num_params`` column by convention, not by shape:
that column counts only the weights of C, FC and the GAP conv (no biases, no softmax layer), plus
``n * n * f * f`` (or ``n * n`` for FC) again when the token before ``SM`` (ignoring ``D``) is a
``C`` or ``FC``. tapaskit counts what ``torch`` builds: biases, and the head
``Linear(features, classes)``. The tests check this relation on every row of the data set.
"""

from __future__ import annotations

import re
from pathlib import Path

from tapaskit.space.architecture import (
    Activation,
    Architecture,
    Conv,
    Dropout,
    FullyConnected,
    GlobalAvgPool,
    Layer,
    Pool,
)
from tapaskit.errors import InvalidArchitectureError

# token name -> (argument names, shown in errors)
_ARITY: dict[str, tuple[str, ...]] = {
    "C": ("n", "f", "l"),
    "P": ("f", "l"),
    "D": ("i", "n"),
    "FC": ("n",),
    "GAP": ("n",),
    "SM": ("n",),
}
_TOKEN = re.compile(r"\s*([A-Za-z]+)\s*\(([^()]*)\)\s*")
_INTEGER = re.compile(r"\s*\d+\s*")


def _split_tokens(text: str) -> list[tuple[str, str, str]]:
    """(token text, name, raw arguments) of every token, in order."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise InvalidArchitectureError(
            f"a MetaQNN string must be a bracketed list like '[C(64,3,1), SM(10)]', "
            f"but got {text[:40]!r}"
        )
    body = body[1:-1]
    tokens: list[tuple[str, str, str]] = []
    pos = 0
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if match is None:
            rest = body[pos:].strip()
            raise InvalidArchitectureError(
                f"MetaQNN token {len(tokens)}: expected NAME(numbers), but got {rest[:30]!r}"
            )
        tokens.append((match.group(0).strip(), match.group(1), match.group(2)))
        pos = match.end()
        if pos < len(body):
            if body[pos] != ",":
                raise InvalidArchitectureError(
                    f"MetaQNN token {len(tokens)}: expected ',' between tokens, "
                    f"but got {body[pos:pos + 10]!r}"
                )
            pos += 1
    return tokens


def _layers_of(name: str, args: list[int]) -> list[Layer]:
    if name == "C":
        return [Conv(filters=args[0], kernel=args[1], stride=args[2]), Activation("relu")]
    if name == "P":
        return [Pool(kernel=args[0], stride=args[1], mode="max")]
    if name == "D":
        i, n = args
        if not 1 <= i <= n:
            raise InvalidArchitectureError(f"D(i,n) needs 1 <= i <= n, but got i={i}, n={n}")
        return [Dropout(rate=0.5 * i / n)]
    if name == "FC":
        return [FullyConnected(units=args[0]), Activation("relu")]
    return [Conv(filters=args[0], kernel=1), GlobalAvgPool()]  # GAP


def parse_metaqnn(text: str) -> tuple[Architecture, int | None]:
    """Parse a MetaQNN layer string into an architecture and its class count.

    Args:
        text: e.g. ``"[C(64,3,1), P(2,2), D(1,2), FC(128), D(2,2), SM(10)]"``.

    Returns:
        The architecture and the class count of the trailing ``SM(n)``, or ``None`` without one.

    Raises:
        InvalidArchitectureError: an unknown token, malformed or out-of-range numbers, ``SM`` not
            last, or no layer besides ``SM``; the message names the token position.
    """
    layers: list[Layer] = []
    ends: list[int] = []  # ends[pos]: number of layers once token pos is translated
    num_classes: int | None = None
    tokens = _split_tokens(text)
    for pos, (token, name, raw) in enumerate(tokens):
        where = f"MetaQNN token {pos} {token!r}"
        if name not in _ARITY:
            known = ", ".join(_ARITY)
            raise InvalidArchitectureError(f"{where}: unknown layer {name!r} (known: {known})")
        parts = raw.split(",")
        expected = _ARITY[name]
        if len(parts) != len(expected) or not all(_INTEGER.fullmatch(p) for p in parts):
            signature = f"{name}({','.join(expected)})"
            raise InvalidArchitectureError(
                f"{where}: {signature} takes {len(expected)} non-negative integer(s), "
                f"but got {raw!r}"
            )
        args = [int(p) for p in parts]
        if name == "SM":
            if pos != len(tokens) - 1:
                raise InvalidArchitectureError(
                    f"{where}: SM must be the last token, but {len(tokens) - 1 - pos} follow it"
                )
            num_classes = args[0]
            ends.append(len(layers))
            continue
        try:
            layers.extend(_layers_of(name, args))
        except InvalidArchitectureError as exc:
            raise InvalidArchitectureError(f"{where}: {exc}") from None
        ends.append(len(layers))
    try:
        return Architecture(tuple(layers)), num_classes
    except InvalidArchitectureError:
        pass
    # rare path: grow the prefix token by token to name the token that breaks a structural rule
    for pos, end in enumerate(ends):
        try:
            Architecture(tuple(layers[:end]))
        except InvalidArchitectureError as exc:
            where = f"MetaQNN token {pos} {tokens[pos][0]!r}"
            raise InvalidArchitectureError(f"{where}: {exc}") from None
    raise InvalidArchitectureError(
        f"MetaQNN string {text[:60]!r} has no layers (nothing to classify)"
    )


# A MetaQNN string is a bracketed list of calls such as C(64,3,1) or SM(10)
_METAQNN_HINT = re.compile(r"\b(C|P|D|FC|GAP|SM)\s*\(")


def parse_architecture(text_or_path: str | Path) -> Architecture:
    """Read an architecture from a JSON file, JSON text, or a MetaQNN layer string.

    Args:
        text_or_path: a path to a file holding either form, canonical or free JSON (an object or
            a bare list of layers), or a MetaQNN string such as ``[C(64,3,1), P(2,2), SM(10)]``
            (its class count is dropped; use :func:`tapaskit.space.formats.parse_metaqnn` to keep it).

    Returns:
        The architecture.

    Raises:
        InvalidArchitectureError: the input is none of these forms, or breaks a rule.
    """
    text = str(text_or_path).strip()
    if text.startswith("[") and _METAQNN_HINT.search(text):
        return parse_metaqnn(text)[0]
    if text.startswith(("[", "{")):
        return Architecture.from_json(text)
    path = Path(text).expanduser()
    try:
        is_file = bool(text) and path.is_file()
    except OSError:  # e.g. a long non-path string: "file name too long"
        is_file = False
    if is_file:
        try:
            content = path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidArchitectureError(
                f"{path}: expected JSON or a MetaQNN layer string, but the file is not UTF-8 text"
            ) from None
        if not content.startswith(("[", "{")):
            raise InvalidArchitectureError(
                f"{path}: expected JSON or a MetaQNN layer string, but the file starts with "
                f"{content[:20]!r}"
            )
        return parse_architecture(content)
    raise InvalidArchitectureError(
        f"expected a JSON architecture, a MetaQNN layer string or the path of a file holding one, "
        f"but got {text[:60]!r} (no such file)"
    )


def parse_architecture_for(text_or_path: str | Path, num_classes: int) -> Architecture:
    """:func:`parse_architecture` for a dataset of ``num_classes`` classes: a MetaQNN string's
    ``SM(n)`` must declare that many.

    Raises:
        InvalidArchitectureError: as :func:`parse_architecture`, or an ``SM(n)`` with another ``n``.
    """
    text = str(text_or_path).strip()
    if text.startswith("[") and _METAQNN_HINT.search(text):
        arch, declared = parse_metaqnn(text)
        if declared is not None and declared != num_classes:
            raise InvalidArchitectureError(
                f"SM({declared}) declares {declared} classes, but the dataset has {num_classes}; "
                f"write SM({num_classes}) or leave SM out")
        return arch
    return parse_architecture(text_or_path)


__all__ = ["parse_architecture", "parse_architecture_for", "parse_metaqnn"]
