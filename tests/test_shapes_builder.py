"""Shape inference and the builder, with torch as the oracle for shapes and parameter counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from tapaskit.space.architecture import (
    Activation,
    Architecture,
    BatchNorm,
    Conv,
    FullyConnected,
    GlobalAvgPool,
    Pool,
    Residual,
)
from tapaskit.space.builder import ResidualBlock, build_module
from tapaskit.errors import InvalidArchitectureError
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import count_params, infer_shapes, shortcut_stride

CASES = [((1, 8, 8), 2), ((1, 28, 28), 10), ((3, 32, 32), 7), ((3, 17, 11), 3)]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # hundreds of tiny forwards: thread hand-offs cost more than the maths, and far more on a
    # machine shared with other test runs
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _oracle_check(arch: Architecture, input_shape: tuple[int, int, int], classes: int) -> None:
    summary = infer_shapes(arch, input_shape, classes)
    module = build_module(arch, input_shape, classes).eval()
    assert len(module) == len(summary.layers)
    assert sum(p.numel() for p in module.parameters()) == summary.params
    seen: list[tuple[int, ...]] = []
    hooks = [
        child.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
        for child in module
    ]
    with torch.no_grad():
        logits = module(torch.randn(2, *input_shape))
    for hook in hooks:
        hook.remove()
    assert tuple(logits.shape) == (2, classes)
    assert seen == [(2, *row.output_shape) for row in summary.layers], arch.to_json()
    for child, row in zip(module, summary.layers):
        assert sum(p.numel() for p in child.parameters()) == row.params, (row, arch.to_json())


def test_torch_agrees_on_sampled_architectures() -> None:
    sampler = ArchitectureSampler(
        seed=7, max_depth=12, filters=(4, 8, 16), fc_units=(8, 16, 32), p_residual=0.4
    )
    checked = 0
    for input_shape, classes in CASES:
        for arch in sampler.sample_many(55, input_shape, classes):
            _oracle_check(arch, input_shape, classes)
            checked += 1
    assert checked >= 200


def test_hand_computed_counts_pin_the_conventions() -> None:
    arch = Architecture(
        (Conv(4, 3, 1), BatchNorm(), Activation(), Pool(2), FullyConnected(5))
    )
    s = infer_shapes(arch, (3, 8, 8), 2)
    rows = [(r.index, r.type, r.output_shape, r.params, r.flops, r.activation_memory)
            for r in s.layers]
    assert rows == [
        (0, "conv", (4, 8, 8), 3 * 4 * 9 + 4, 2 * 3 * 9 * 4 * 64, 256),
        (1, "bn", (4, 8, 8), 8, 0, 256),
        (2, "act", (4, 8, 8), 0, 0, 256),
        (3, "pool", (4, 4, 4), 0, 0, 64),
        (4, "fc", (5,), 64 * 5 + 5, 2 * 64 * 5, 5),
        (5, "head", (2,), 5 * 2 + 2, 2 * 5 * 2, 2),
    ]
    assert (s.params, s.flops, s.activation_memory) == (457, 14484, 839)
    assert s.output_shape == (2,)
    assert s.depth == 3 == arch.depth
    assert s.input_shape == (3, 8, 8)
    assert count_params(arch, (3, 8, 8), 2) == 457


def test_residual_projection_is_counted() -> None:
    arch = Architecture((Residual((Conv(8, 3, 2),)),))
    row = infer_shapes(arch, (3, 8, 8), 2).layers[0]
    assert row.output_shape == (8, 4, 4)
    assert row.params == (3 * 8 * 9 + 8) + (3 * 8 + 8)
    assert row.flops == 2 * 27 * 8 * 16 + 2 * 3 * 8 * 16
    assert row.activation_memory == 3 * 128  # conv output, projection output, sum
    module = build_module(arch, (3, 8, 8), 2)
    block = module[0]
    assert isinstance(block, ResidualBlock)
    assert isinstance(block.shortcut, torch.nn.Conv2d) and block.shortcut.stride == (2, 2)
    _oracle_check(arch, (3, 8, 8), 2)


def test_identity_shortcut_when_shapes_match() -> None:
    arch = Architecture((Conv(8), Residual((Conv(8), BatchNorm(), Activation(), Conv(8, 5)))))
    row = infer_shapes(arch, (3, 9, 9), 4).layers[1]
    assert row.params == 2 * (8 * 8 * 9 + 8) + 16 + 8 * 8 * 25 + 8 - (8 * 8 * 9 + 8)
    assert isinstance(build_module(arch, (3, 9, 9), 4)[1].shortcut, torch.nn.Identity)
    _oracle_check(arch, (3, 9, 9), 4)


@pytest.mark.parametrize(
    ("in_hw", "out_hw", "stride"),
    [
        ((8, 8), (8, 8), 1),
        ((32, 32), (16, 16), 2),
        ((7, 7), (4, 4), 2),
        ((7, 7), (3, 3), 3),
        ((6, 4), (3, 2), 2),
        ((32, 32), (30, 30), None),
        ((6, 6), (3, 2), None),
    ],
)
def test_shortcut_stride(in_hw, out_hw, stride) -> None:
    assert shortcut_stride(in_hw, out_hw) == stride


def test_odd_sizes_with_strided_and_pooled_residuals_build() -> None:
    arch = Architecture(
        (
            Residual((Conv(4, 3, 2), Activation(), Conv(6, 3, 2))),
            Residual((Pool(2), Conv(6, 1))),
            GlobalAvgPool(),
        )
    )
    _oracle_check(arch, (2, 13, 7), 3)


@pytest.mark.parametrize(
    ("layers", "input_shape", "classes", "match"),
    [
        (
            (Pool(2), Pool(2), Pool(2), Conv(4), Activation(), Pool(2)),
            (1, 8, 8),
            10,
            r"layer 5 \(pool\): output spatial size would be 0x0 from input 1x1 with kernel 2, "
            r"stride 2",
        ),
        (
            (Pool(5, 1),),
            (1, 28, 3),
            10,
            r"layer 0 \(pool\): output spatial size would be 24x0 from input 28x3 with kernel 5",
        ),
        (
            (Conv(8), Residual((Pool(3, 1),))),
            (3, 32, 32),
            10,
            r"layer 1 \(residual\): the 1x1 shortcut needs an integer stride s with "
            r"ceil\(32/s\) = 30 and ceil\(32/s\) = 30, but none exists",
        ),
        (
            (Residual((Conv(4), Pool(2))), Residual((Pool(3), Pool(3)))),
            (1, 8, 8),
            10,
            r"layer 1\.1 \(pool\): output spatial size would be 0x0 from input 1x1 with kernel 3",
        ),
        ((Conv(4),), (3, 8, 8), 1, r"num_classes must be an integer >= 2, but got 1"),
        ((Conv(4),), (0, 8, 8), 2, r"input_shape must be \(channels, height, width\) with three "
                                   r"positive integers, but got \(0, 8, 8\)"),
        ((Conv(4),), (8, 8), 2, r"input_shape must be .* but got \(8, 8\)"),
    ],
)
def test_invalid_for_the_input(layers, input_shape, classes, match) -> None:
    arch = Architecture(layers)
    with pytest.raises(InvalidArchitectureError, match=match):
        infer_shapes(arch, input_shape, classes)
    with pytest.raises(InvalidArchitectureError, match=match):
        build_module(arch, input_shape, classes)


def test_conv_after_flattening_is_rejected_before_inference() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"layer 1 \(conv\): conv needs a"):
        Architecture((FullyConnected(8), Conv(4)))


def test_shape_inference_imports_no_torch() -> None:
    # the search controller runs it on thousands of candidates; torch must stay out of its imports
    root = Path(__file__).resolve().parents[1] / "tapaskit" / "space"
    for name in ("shapes.py", "architecture.py", "formats.py", "sampler.py", "__init__.py"):
        tree = ast.parse((root / name).read_text())
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert "torch" not in imported, name
