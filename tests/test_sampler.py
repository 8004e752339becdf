"""The random architecture sampler: reproducible, valid for the input, and diverse."""

from __future__ import annotations

import numpy as np
import pytest

from tapaskit.space.architecture import Architecture, Dropout, Residual
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import infer_shapes


def _hashes(archs: list[Architecture]) -> list[str]:
    return [a.arch_hash for a in archs]


def test_same_seed_same_architectures_other_seed_different() -> None:
    first = ArchitectureSampler(seed=11).sample_many(30, (3, 32, 32), 10)
    again = ArchitectureSampler(seed=11).sample_many(30, (3, 32, 32), 10)
    other = ArchitectureSampler(seed=12).sample_many(30, (3, 32, 32), 10)
    assert _hashes(first) == _hashes(again)
    assert _hashes(first) != _hashes(other)
    assert len(set(_hashes(first)) & set(_hashes(other))) < 10


def test_does_not_touch_the_global_numpy_generator() -> None:
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    ArchitectureSampler(seed=None).sample_many(5, (1, 8, 8), 10)
    assert np.random.random() == expected


@pytest.mark.parametrize(
    ("input_shape", "classes"),
    [((1, 8, 8), 10), ((1, 28, 28), 10), ((3, 32, 32), 100), ((3, 1, 1), 2), ((1, 5, 40), 3)],
)
def test_only_valid_networks_even_for_tiny_inputs(input_shape, classes) -> None:
    sampler = ArchitectureSampler(seed=5, max_depth=16, p_pool=1.0)
    for arch in sampler.sample_many(60, input_shape, classes):
        assert infer_shapes(arch, input_shape, classes).output_shape == (classes,)


def test_diversity() -> None:
    sampler = ArchitectureSampler(seed=1, min_depth=2, max_depth=12)
    archs = sampler.sample_many(300, (3, 32, 32), 10)
    depths = [a.depth for a in archs]
    assert set(depths) == set(range(2, 13))
    kinds = [{layer.kind for layer in a.layers} for a in archs]

    def share(kind: str) -> float:
        return sum(kind in k for k in kinds) / len(archs)

    for kind in ("residual", "pool", "bn", "dropout", "gap", "fc"):
        assert 0.1 < share(kind) < 0.9, kind
    params = [infer_shapes(a, (3, 32, 32), 10).params for a in archs]
    assert min(params) < 10_000 < 1_000_000 < max(params)
    residual_sizes = {
        len([x for x in layer.layers if x.kind == "conv"])
        for a in archs
        for layer in a.layers
        if isinstance(layer, Residual)
    }
    assert residual_sizes == {1, 2}
    assert any(isinstance(x, Dropout) for a in archs for x in a.layers)


def test_depth_range_is_respected() -> None:
    archs = ArchitectureSampler(seed=2, min_depth=5, max_depth=6).sample_many(40, (1, 8, 8), 10)
    assert {a.depth for a in archs} == {5, 6}


def test_unique_and_repeating_draws() -> None:
    tiny = ArchitectureSampler(
        seed=0,
        min_depth=2,
        max_depth=2,
        filters=(8,),
        kernels=(1,),
        activations=("relu",),
        max_fc=0,
        p_bn=0,
        p_dropout=0,
        p_pool=0,
        p_residual=0,
        p_stride=0,
        p_gap=0,
    )
    repeated = tiny.sample_many(3, (1, 8, 8), 10, unique=False)
    assert len(set(_hashes(repeated))) == 1
    with pytest.raises(InvalidOptionError, match=r"could draw only 1 distinct architectures of"):
        tiny.sample_many(2, (1, 8, 8), 10)
    many = ArchitectureSampler(seed=4).sample_many(100, (1, 8, 8), 10)
    assert len(set(_hashes(many))) == 100


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_depth": 1}, r"min_depth must be an integer >= 2, but got 1"),
        ({"min_depth": 5, "max_depth": 4}, r"max_depth must be an integer >= 5, but got 4"),
        ({"kernels": (3, 4)}, r"kernels must be a subset of \(1, 3, 5, 7\), but got \(3, 4\)"),
        ({"filters": ()}, r"filters must be a non-empty list of positive integers, but got \(\)"),
        ({"fc_units": (0,)}, r"fc_units must be a non-empty list of positive integers"),
        ({"activations": ("swish",)}, r"activations must be a non-empty subset of"),
        ({"p_bn": 1.5}, r"p_bn must be a number in \[0, 1\], but got 1.5"),
        ({"max_fc": -1}, r"max_fc must be an integer >= 0, but got -1"),
    ],
)
def test_invalid_options(options: dict, match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        ArchitectureSampler(**options)


def test_invalid_input_is_reported_by_shape_rules() -> None:
    sampler = ArchitectureSampler(seed=0)
    with pytest.raises(InvalidArchitectureError, match=r"num_classes must be an integer >= 2"):
        sampler.sample((1, 8, 8), 1)
    with pytest.raises(InvalidArchitectureError, match=r"input_shape must be"):
        sampler.sample((1, 0, 8), 10)
    with pytest.raises(InvalidOptionError, match=r"n must be an integer >= 0, but got -1"):
        sampler.sample_many(-1, (1, 8, 8), 10)
