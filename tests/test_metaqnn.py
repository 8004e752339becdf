"""MetaQNN layer strings, and every network of the MetaQNN CIFAR-10 data set."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tapaskit.space.architecture import (
    Activation,
    Conv,
    Dropout,
    FullyConnected,
    GlobalAvgPool,
    Pool,
)
from tapaskit.errors import InvalidArchitectureError
from tapaskit.space.formats import parse_architecture, parse_metaqnn
from tapaskit.space.shapes import infer_shapes

# read at run time from the shared data folder beside the repository, never copied into it
CSV_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "metaqnn_cifar10.csv"


def test_mapping_of_every_token() -> None:
    arch, classes = parse_metaqnn(
        "[C(64,3,1), P(2,2), D(1,2), C(32,5,2), D(2,2), GAP(10), SM(10)]"
    )
    assert classes == 10
    assert arch.layers == (
        Conv(64, 3, 1),
        Activation("relu"),
        Pool(kernel=2, stride=2, mode="max"),
        Dropout(0.25),
        Conv(32, 5, 2),
        Activation("relu"),
        Dropout(0.5),
        Conv(10, kernel=1),
        GlobalAvgPool(),
    )
    arch, classes = parse_metaqnn("[ C(8, 1, 1) ,P(3,2),FC(128), D(1,1), FC(64) ]")
    assert classes is None
    assert arch.layers == (
        Conv(8, 1, 1),
        Activation(),
        Pool(3, 2),
        FullyConnected(128),
        Activation(),
        Dropout(0.5),
        FullyConnected(64),
        Activation(),
    )


def test_parse_architecture_delegates_to_metaqnn() -> None:
    text = "[C(16,3,1), P(2,2), FC(32), SM(4)]"
    assert parse_architecture(text) == parse_metaqnn(text)[0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[C(64,3,1), X(3), SM(10)]", r"MetaQNN token 1 'X\(3\)': unknown layer 'X' \(known: C"),
        ("[C(64,3), SM(10)]", r"token 0 'C\(64,3\)': C\(n,f,l\) takes 3 non-negative integer"),
        ("[C(64,3,1), P(2,x)]", r"token 1 'P\(2,x\)': P\(f,l\) takes 2 non-negative integer"),
        ("[FC(1.5)]", r"token 0 'FC\(1.5\)': FC\(n\) takes 1 non-negative integer"),
        (
            "[C(64,4,1)]",
            r"token 0 'C\(64,4,1\)': conv: kernel must be one of 1, 3, 5, 7, but got 4",
        ),
        ("[C(0,3,1)]", r"token 0 'C\(0,3,1\)': conv: filters must be an integer >= 1, but got 0"),
        ("[C(8,3,1), D(0,2)]", r"token 1 'D\(0,2\)': D\(i,n\) needs 1 <= i <= n, but got i=0"),
        ("[C(8,3,1), SM(10), P(2,2)]", r"token 1 'SM\(10\)': SM must be the last token, but 1"),
        ("[FC(10), P(2,2), SM(10)]", r"token 1 'P\(2,2\)': layer 2 \(pool\): pool needs a"),
        ("[C(8,3,1), FC(32), GAP(10), SM(10)]", r"token 2 'GAP\(10\)': layer 4 \(conv\)"),
        ("[SM(10)]", r"token 0 'SM\(10\)': an architecture needs at least one layer"),
        ("[]", r"has no layers \(nothing to classify\)"),
        ("C(8,3,1), SM(10)", r"must be a bracketed list"),
        ("[C(8,3,1) P(2,2)]", r"token 1: expected ',' between tokens"),
        ("[C(8,3,1), , SM(10)]", r"token 1: expected NAME\(numbers\), but got"),
    ],
)
def test_errors_name_the_token(text: str, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        parse_metaqnn(text)


def _csv_rows() -> list[dict[str, str]]:
    if not CSV_PATH.is_file():
        pytest.skip(f"MetaQNN data set not found at {CSV_PATH}")
    with CSV_PATH.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_network_of_the_data_set_parses_and_fits_cifar10() -> None:
    rows = _csv_rows()
    assert len(rows) == 1000
    for row in rows:
        arch, classes = parse_metaqnn(row["net"])
        assert classes == 10
        summary = infer_shapes(arch, (3, 32, 32), 10)
        assert summary.output_shape == (10,)


def test_data_set_param_counts_follow_its_documented_convention() -> None:
    # The column counts bias-free weights of C, FC and the GAP conv, no softmax layer, and again
    # n*n*f*f (n*n for FC) when the token before SM, ignoring D, is C or FC (see tapaskit.space.formats).
    # Matching it on every row checks our kernels, strides and the flatten sizes fed to FC.
    for row in _csv_rows():
        arch, _ = parse_metaqnn(row["net"])
        summary = infer_shapes(arch, (3, 32, 32), 10)
        in_shape: tuple[int, ...] = (3, 32, 32)
        weights = 0
        for layer, out in zip(arch.layers, summary.layers):
            if isinstance(layer, Conv):
                weights += in_shape[0] * layer.filters * layer.kernel**2
            elif isinstance(layer, FullyConnected):
                features = 1
                for d in in_shape:
                    features *= d
                weights += features * layer.units
            in_shape = out.output_shape
        tokens = re.findall(r"([A-Z]+)\(([^)]*)\)", row["net"])
        last = [t for t in tokens if t[0] not in ("D", "SM")][-1]
        numbers = [int(x) for x in last[1].split(",")]
        if last[0] == "C":
            weights += numbers[0] ** 2 * numbers[1] ** 2
        elif last[0] == "FC":
            weights += numbers[0] ** 2
        assert weights == int(row["num_params"]), row["net"]
