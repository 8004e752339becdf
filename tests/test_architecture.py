"""The search-space representation: canonical JSON, hashing, validation messages, parsing."""

from __future__ import annotations

import json

import pytest

from tapaskit.space.architecture import (
    SCHEMA,
    Activation,
    Architecture,
    BatchNorm,
    Conv,
    Dropout,
    FullyConnected,
    GlobalAvgPool,
    Pool,
    Residual,
)
from tapaskit.errors import InvalidArchitectureError
from tapaskit.space.formats import parse_architecture
from tapaskit.space.sampler import ArchitectureSampler

FULL = [
    {"type": "conv", "filters": 16, "kernel": 3, "stride": 1},
    {"type": "bn"},
    {"type": "act", "fn": "relu"},
    {
        "type": "residual",
        "layers": [
            {"type": "conv", "filters": 32, "kernel": 3, "stride": 2},
            {"type": "bn"},
            {"type": "act", "fn": "gelu"},
            {"type": "conv", "filters": 32, "kernel": 1, "stride": 1},
        ],
    },
    {"type": "pool", "mode": "max", "kernel": 2, "stride": 2},
    {"type": "dropout", "rate": 0.25},
    {"type": "gap"},
    {"type": "fc", "units": 64},
    {"type": "act", "fn": "relu"},
]

# The same network written with defaults left out, keys reordered and fields shuffled.
SPARSE = [
    {"filters": 16, "type": "conv"},
    {"type": "bn"},
    {"type": "act"},
    {
        "layers": [
            {"stride": 2, "filters": 32, "type": "conv"},
            {"type": "bn"},
            {"fn": "gelu", "type": "act"},
            {"type": "conv", "kernel": 1, "filters": 32},
        ],
        "type": "residual",
    },
    {"type": "pool", "kernel": 2},
    {"rate": 0.25, "type": "dropout"},
    {"type": "gap"},
    {"units": 64, "type": "fc"},
    {"type": "act", "fn": "relu"},
]

# sha256(canonical JSON)[:16] of FULL; a change here means stored hashes in every LDE change too.
FULL_HASH = "da0b70d877c82d04"


def test_from_dict_builds_the_records() -> None:
    arch = Architecture.from_dict({"schema": SCHEMA, "layers": FULL})
    assert arch.layers[0] == Conv(filters=16, kernel=3, stride=1)
    assert arch.layers[3] == Residual(
        (Conv(32, 3, 2), BatchNorm(), Activation("gelu"), Conv(32, kernel=1))
    )
    assert arch.layers[4] == Pool(kernel=2, stride=2, mode="max")
    assert arch.layers[5:] == (Dropout(0.25), GlobalAvgPool(), FullyConnected(64), Activation())
    assert len(arch) == 9
    assert arch.depth == 5  # conv + 2 convs in the block + fc + head


def test_json_round_trip_is_exact() -> None:
    arch = Architecture.from_dict(FULL)
    text = arch.to_json()
    assert Architecture.from_json(text) == arch
    assert Architecture.from_json(text).to_json() == text
    assert Architecture.from_dict(arch.to_dict()) == arch
    assert json.loads(text) == {"schema": SCHEMA, "layers": FULL}


def test_round_trip_of_sampled_architectures() -> None:
    sampler = ArchitectureSampler(seed=3, max_depth=14)
    for arch in sampler.sample_many(50, (3, 32, 32), 10):
        again = Architecture.from_json(arch.to_json())
        assert again == arch
        assert again.arch_hash == arch.arch_hash


def test_canonical_form_fills_defaults_and_sorts_keys() -> None:
    short = Architecture.from_dict([{"type": "pool", "kernel": 2}])
    full = Architecture.from_dict([{"type": "pool", "kernel": 2, "stride": 2, "mode": "max"}])
    assert short == full
    assert short.to_json() == full.to_json()
    assert short.to_json() == (
        '{"layers":[{"kernel":2,"mode":"max","stride":2,"type":"pool"}],'
        '"schema":"tapaskit.arch/1"}'
    )


def test_hash_ignores_formatting_key_order_and_defaults() -> None:
    full = Architecture.from_dict({"schema": SCHEMA, "layers": FULL})
    sparse = Architecture.from_json(json.dumps(SPARSE, indent=4))
    assert sparse.arch_hash == full.arch_hash
    assert Architecture.from_dict([{"type": "dropout", "rate": 0}]).arch_hash == (
        Architecture.from_dict([{"type": "dropout", "rate": 0.0}]).arch_hash
    )


def test_hash_is_order_sensitive() -> None:
    swapped = [FULL[1], FULL[0], *FULL[2:]]
    assert Architecture.from_dict(swapped).arch_hash != Architecture.from_dict(FULL).arch_hash


def test_known_hash_value() -> None:
    arch = Architecture.from_dict(FULL)
    assert len(arch.arch_hash) == 16
    assert arch.arch_hash == FULL_HASH


def test_architectures_are_hashable_values() -> None:
    a = Architecture([Conv(8), Activation()])
    b = Architecture((Conv(8, 3, 1), Activation("relu")))
    assert a == b
    assert len({a, b}) == 1
    assert isinstance(a.layers, tuple)


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ([{"type": "convv"}], r"layer 0: unknown layer type 'convv' \(known: act, bn"),
        ([{"filters": 8}], r"layer 0: unknown layer type None"),
        ([[1, 2]], r"layer 0: a layer must be a JSON object with a 'type', but got list"),
        (
            [{"type": "conv", "filters": 8, "kernal": 3}],
            r"layer 0 \(conv\): unknown field 'kernal' \(allowed: filters, kernel, stride\)",
        ),
        ([{"type": "conv"}], r"layer 0 \(conv\): missing required field 'filters'"),
        (
            [{"type": "bn"}, {"type": "act"}, {"type": "conv", "filters": 8, "kernel": 4}],
            r"layer 2 \(conv\): kernel must be one of 1, 3, 5, 7, but got 4",
        ),
        (
            [{"type": "conv", "filters": "8"}],
            r"layer 0 \(conv\): filters must be an integer >= 1, but got '8' \(str\)",
        ),
        (
            [{"type": "conv", "filters": 8, "kernel": True}],
            r"layer 0 \(conv\): kernel must be an integer >= 1, but got True \(bool\)",
        ),
        (
            [{"type": "conv", "filters": 8.0}],
            r"layer 0 \(conv\): filters must be an integer >= 1, but got 8.0 \(float\)",
        ),
        ([{"type": "conv", "filters": 0}], r"layer 0 \(conv\): filters must be an integer >= 1, but got 0"),
        (
            [{"type": "conv", "filters": 8, "stride": 3}],
            r"layer 0 \(conv\): stride must be one of 1, 2, but got 3",
        ),
        (
            [{"type": "act", "fn": "swish"}],
            r"layer 0 \(act\): fn must be one of relu, leaky_relu, gelu, tanh, sigmoid, elu, "
            r"but got 'swish'",
        ),
        ([{"type": "pool", "mode": "min"}], r"layer 0 \(pool\): mode must be one of max, avg"),
        ([{"type": "pool", "kernel": 0}], r"layer 0 \(pool\): kernel must be an integer >= 1, but got 0"),
        ([{"type": "pool", "stride": -1}], r"layer 0 \(pool\): stride must be an integer >= 1, but got -1"),
        (
            [{"type": "dropout", "rate": 1.0}],
            r"layer 0 \(dropout\): rate must be in \[0, 1\), but got 1.0",
        ),
        (
            [{"type": "dropout", "rate": "0.5"}],
            r"layer 0 \(dropout\): rate must be a number, but got '0.5' \(str\)",
        ),
        ([{"type": "fc", "units": -1}], r"layer 0 \(fc\): units must be an integer >= 1, but got -1"),
        ([{"type": "bn", "eps": 1e-5}], r"layer 0 \(bn\): unknown field 'eps' \(allowed: none\)"),
        (
            [{"type": "conv", "filters": 8}, {"type": "residual", "layers": []}],
            r"layer 1 \(residual\): a residual block needs at least one layer, but got 0",
        ),
        (
            [{"type": "residual", "layers": {"type": "bn"}}],
            r"layer 0 \(residual\): layers must be a list, but got dict",
        ),
        (
            [{"type": "residual", "layers": [{"type": "residual", "layers": [{"type": "bn"}]}]}],
            r"layer 0 \(residual\): a residual block may hold only conv, bn, act, pool, dropout "
            r"layers, but its layer 0 is residual",
        ),
        (
            [{"type": "residual", "layers": [{"type": "bn"}, {"type": "fc", "units": 4}]}],
            r"layer 0 \(residual\): .* but its layer 1 is fc",
        ),
        (
            [{"type": "bn"}, {"type": "residual", "layers": [{"type": "conv", "filters": 8,
                                                             "kernel": 2}]}],
            r"layer 1\.0 \(conv\): kernel must be one of 1, 3, 5, 7, but got 2",
        ),
        ([], r"at least one layer \(nothing to classify\), but got 0 layers"),
        (
            [{"type": "fc", "units": 8}, {"type": "act"}, {"type": "conv", "filters": 8}],
            r"layer 2 \(conv\): conv needs a \(C, H, W\) input, but the tensor is already 1-D "
            r"after layer 0 \(fc\)",
        ),
        (
            [{"type": "gap"}, {"type": "pool"}],
            r"layer 1 \(pool\): pool needs a \(C, H, W\) input, .* after layer 0 \(gap\)",
        ),
        ([{"type": "gap"}, {"type": "gap"}], r"layer 1 \(gap\): gap needs a \(C, H, W\) input"),
        (
            [{"type": "fc", "units": 8}, {"type": "residual", "layers": [{"type": "bn"}]}],
            r"layer 1 \(residual\): residual needs a \(C, H, W\) input",
        ),
    ],
)
def test_invalid_layers_name_position_rule_and_value(layers: list, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        Architecture.from_dict(layers)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"schema": "tapaskit.arch/2", "layers": []}, r"schema must be 'tapaskit.arch/1', but got"),
        ({"layers": [{"type": "gap"}], "name": "x"}, r"unknown top-level key 'name'"),
        ({"schema": SCHEMA}, r"missing top-level key 'layers'"),
        ("conv", r"a list of layers, but got str"),
        ({"layers": {"type": "gap"}}, r"a list of layers, but got dict"),
    ],
)
def test_invalid_top_level(obj: object, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        Architecture.from_dict(obj)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"conv: kernel must be one of 1, 3, 5, 7"):
        Conv(8, kernel=4)
    with pytest.raises(InvalidArchitectureError, match=r"layer 1: expected a layer record"):
        Architecture((Conv(8), {"type": "bn"}))  # type: ignore[arg-type]
    assert Pool(3).stride == 3
    assert Dropout(0).rate == 0.0 and isinstance(Dropout(0).rate, float)


def test_from_json_rejects_broken_text() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"architecture is not valid JSON"):
        Architecture.from_json('{"layers": [')


def test_parse_architecture_accepts_every_form(tmp_path) -> None:
    arch = Architecture.from_dict(FULL)
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"schema": SCHEMA, "layers": SPARSE}, indent=2))
    assert parse_architecture(str(path)) == arch
    assert parse_architecture(path) == arch
    assert parse_architecture(arch.to_json()) == arch
    assert parse_architecture(json.dumps(SPARSE)) == arch
    metaqnn = parse_architecture("[C(8,3,1), P(2,2), SM(10)]")
    assert metaqnn.layers == (Conv(8, 3, 1), Activation("relu"), Pool(2, 2))
    mq_file = tmp_path / "net.txt"
    mq_file.write_text("[C(8,3,1), SM(10)]\n")
    assert parse_architecture(mq_file).layers == (Conv(8, 3, 1), Activation("relu"))


def test_parse_architecture_rejects_anything_else(tmp_path) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"path of a file .* \(no such file\)"):
        parse_architecture("resnet18")
    with pytest.raises(InvalidArchitectureError, match=r"or the path of a file"):
        parse_architecture("x" * 5000)
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(InvalidArchitectureError, match=r"notes.txt: expected JSON or a MetaQNN"):
        parse_architecture(bad)
    with pytest.raises(InvalidArchitectureError, match=r"layer 0 \(conv\): kernel must be"):
        parse_architecture('[{"type": "conv", "filters": 8, "kernel": 9}]')
