"""The TAPAS layer encoding: hand-computed vectors, shapes.py as the oracle, frames and caching."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tapaskit.space.architecture import (
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
from tapaskit.errors import DataError, InvalidArchitectureError
from tapaskit.predictor import (
    CONTEXT_FEATURES,
    FLAT_FEATURES,
    STEP_FEATURES,
    architecture_frame,
    encode_architecture,
    encode_frame,
    flat_features,
)
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import infer_shapes

L2 = math.log2
L10 = math.log10


def _vector(**values: float) -> np.ndarray:
    out = np.zeros(len(STEP_FEATURES))
    for name, value in values.items():
        out[STEP_FEATURES.index(name)] = value
    return out


def test_three_layer_network_encodes_to_hand_computed_vectors() -> None:
    # conv 3x3 (4 filters) + relu (folded into the conv step), 2x2 max pool; input 1x8x8, 2 classes
    arch = Architecture((Conv(filters=4, kernel=3), Activation("relu"), Pool(kernel=2)))
    got = encode_architecture(arch, (1, 8, 8), 2)
    expected = np.stack([
        # the input: its shape, nothing spent yet, receptive field 1 pixel of 8
        _vector(is_input=1, log2_out_channels=L2(2), log2_out_height=L2(9), log2_out_width=L2(9),
                rf_coverage=1 / 8),
        # conv: 1*4*9 + 4 = 40 params, 2*1*9*4*64 = 4608 FLOPs, memory conv 256 + relu 256
        _vector(is_conv=1, kernel=3, stride=1, log2_width=L2(5), act_relu=1,
                log2_out_channels=L2(5), log2_out_height=L2(9), log2_out_width=L2(9),
                log10_params=L10(41), log10_flops=L10(4609), depth=1, log10_cum_params=L10(41),
                log10_cum_flops=L10(4609), log10_cum_memory=L10(513),
                log2_receptive_field=L2(3), rf_coverage=3 / 8),
        # pool: 4x4x4 output (64 more memory), receptive field 3 + 1 = 4 (jump 2 afterwards)
        _vector(is_pool=1, kernel=2, stride=2, log2_out_channels=L2(5), log2_out_height=L2(5),
                log2_out_width=L2(5), depth=1, log10_cum_params=L10(41),
                log10_cum_flops=L10(4609), log10_cum_memory=L10(577), log2_receptive_field=2,
                rf_coverage=0.5),
        # head: Linear(64, 2): 130 params, 256 FLOPs, 2 outputs; it sees the whole 4x4 map:
        # rf 4 + 3 * 2 = 10
        _vector(is_head=1, log2_width=L2(3), log2_out_channels=L2(3), log10_params=L10(131),
                log10_flops=L10(257), depth=2, log10_cum_params=L10(171),
                log10_cum_flops=L10(4865), log10_cum_memory=L10(579),
                log2_receptive_field=L2(10), rf_coverage=1.0),
    ])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_folded_layers_and_residual_block_fields() -> None:
    block = Residual((Conv(8, kernel=5, stride=2), BatchNorm(), Activation("elu"), Conv(8)))
    arch = Architecture((Conv(4), BatchNorm(), Activation("tanh"), Dropout(0.3), Dropout(0.2),
                         block, GlobalAvgPool(), FullyConnected(16), Activation("gelu")))
    got = encode_architecture(arch, (3, 16, 16), 10)
    col = {name: i for i, name in enumerate(STEP_FEATURES)}
    assert got.shape == (6, len(STEP_FEATURES))  # input, conv, residual, gap, fc, head
    conv, res, gap, fc = got[1], got[2], got[3], got[4]
    assert conv[col["bn"]] == 1 and conv[col["act_tanh"]] == 1
    assert conv[col["dropout"]] == pytest.approx(0.3)
    assert res[col["is_residual"]] == 1 and res[col["res_convs"]] == 2
    assert res[col["res_projection"]] == 1 and res[col["stride"]] == 2 and res[col["kernel"]] == 5
    assert res[col["depth"]] == 3 and gap[col["log2_out_height"]] == 0
    assert fc[col["act_gelu"]] == 1 and fc[col["log2_width"]] == pytest.approx(L2(17))


def _sampled() -> list[Architecture]:
    sampler = ArchitectureSampler(seed=3, max_depth=14, p_residual=0.6, p_bn=0.6)
    return sampler.sample_many(60, (3, 16, 16), 10)


@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 32, 32)])
def test_last_step_carries_the_totals_of_infer_shapes(shape) -> None:
    col = {name: i for i, name in enumerate(STEP_FEATURES)}
    for arch in _sampled():
        summary = infer_shapes(arch, shape, 10)
        last = encode_architecture(arch, shape, 10)[-1].astype(float)
        assert last[col["log10_cum_params"]] == pytest.approx(L10(1 + summary.params), rel=1e-6)
        assert last[col["log10_cum_flops"]] == pytest.approx(L10(1 + summary.flops), rel=1e-6)
        assert last[col["log10_cum_memory"]] == pytest.approx(
            L10(1 + summary.activation_memory), rel=1e-6)
        assert last[col["depth"]] == summary.depth
        # one step per non-element-wise layer, plus the input and the head
        structural = [r for r in summary.layers[:-1] if r.type not in ("bn", "act", "dropout")]
        assert len(encode_architecture(arch, shape, 10)) == len(structural) + 2


def test_invalid_network_raises_the_shape_rule_naming_the_row() -> None:
    arch = Architecture((Pool(kernel=4), Pool(kernel=4)))
    with pytest.raises(InvalidArchitectureError, match="spatial size"):
        encode_architecture(arch, (1, 8, 8), 10)
    frame = architecture_frame([Architecture((Conv(4),)), arch], input_shape=(1, 8, 8),
                               num_classes=10)
    with pytest.raises(InvalidArchitectureError, match="row 1: .*pool"):
        encode_frame(frame)


def test_frame_from_json_equals_frame_from_objects_and_pads_with_zeros() -> None:
    archs = _sampled()[:12]
    objects = architecture_frame(archs, input_shape=(3, 16, 16), num_classes=10, dcn=0.4, lr=1e-3)
    texts = objects.drop(columns=["architecture"]).assign(arch_json=[a.to_json() for a in archs])
    a, b = encode_frame(objects), encode_frame(texts)
    np.testing.assert_array_equal(a.flat, b.flat)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    steps, lengths = a.padded()
    assert steps.shape == (12, lengths.max(), len(STEP_FEATURES))
    for i, arch in enumerate(archs):
        expected = encode_architecture(arch, (3, 16, 16), 10)
        np.testing.assert_allclose(steps[i, : lengths[i]], expected)
        assert not steps[i, lengths[i]:].any()
    # a subset, in a given order
    sub, sub_lengths = a.padded(np.array([5, 2]))
    np.testing.assert_array_equal(sub[1, : sub_lengths[1]], a.steps(2))


def test_context_features_and_unknown_values() -> None:
    frame = architecture_frame([Architecture((Conv(4),))] * 2, input_shape=(3, 32, 16),
                               num_classes=4, dcn=None, lr=0.01, epochs=8, batch_size=64,
                               train_samples=1024)
    context = encode_frame(frame).context
    expected = [math.nan, 2, 0.25, L2(3), 5, 4, -2, 3, 6, 10]
    assert list(CONTEXT_FEATURES)[:3] == ["dcn", "log2_classes", "inv_classes"]
    assert CONTEXT_FEATURES[-1] == "log2_train_samples"
    np.testing.assert_allclose(context[0], expected)
    # no hyperparameter columns at all: NaN, not an error
    bare = frame.drop(columns=["lr", "epochs", "batch_size", "dcn", "train_samples"])
    assert np.isnan(encode_frame(bare).context[:, [0, 6, 7, 8, 9]]).all()


def test_missing_columns_and_wrong_types_are_data_errors() -> None:
    with pytest.raises(DataError, match="missing columns: arch_json .*num_classes"):
        encode_frame(pd.DataFrame({"in_channels": [1], "in_height": [8], "in_width": [8]}))
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        encode_frame([Architecture((Conv(4),))])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty"):
        encode_frame(architecture_frame([], input_shape=(1, 8, 8), num_classes=10))
    frame = architecture_frame([Architecture((Conv(4),))] * 2, input_shape=(1, 8, 8),
                               num_classes=10)
    frame["num_classes"] = pd.array([10, None], dtype="Int64")
    with pytest.raises(DataError, match="num_classes must hold positive integers, but got <NA>"):
        encode_frame(frame)


def test_flat_features_of_a_small_network() -> None:
    arch = Architecture((Conv(4, kernel=3), BatchNorm(), Activation(), Pool(2, mode="avg"),
                         Conv(8, kernel=5, stride=2), Activation(), Dropout(0.25), GlobalAvgPool(),
                         FullyConnected(32), Activation()))
    frame = architecture_frame([arch], input_shape=(1, 16, 16), num_classes=10, dcn=0.2)
    row = dict(zip(FLAT_FEATURES, flat_features(encode_frame(frame))[0]))
    assert row["n_steps"] == 7 and row["depth"] == 4 and row["n_conv"] == 2
    assert row["n_pool"] == 1 and row["n_avg_pool"] == 1 and row["n_gap"] == 1 and row["n_fc"] == 1
    assert row["n_bn"] == 1 and row["n_act"] == 3 and row["n_dropout"] == 1
    assert row["max_dropout"] == pytest.approx(0.25) and row["n_stride2"] == 1
    assert row["n_kernel3"] == 1 and row["n_kernel5"] == 1 and row["max_kernel"] == 5
    assert row["first_width"] == pytest.approx(L2(5)) and row["last_width"] == pytest.approx(L2(9))
    assert row["final_channels"] == pytest.approx(L2(33)) and row["final_height"] == 0
    assert row["log10_params"] == pytest.approx(L10(1 + infer_shapes(arch, (1, 16, 16), 10).params),
                                                rel=1e-6)
    assert row["dcn"] == pytest.approx(0.2)
    no_dcn = flat_features(encode_frame(frame), use_dcn=False)[0]
    assert no_dcn[FLAT_FEATURES.index("dcn")] == 0
