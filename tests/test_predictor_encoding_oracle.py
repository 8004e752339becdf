"""The batched layer encoding equals the per-network walk it replaced (kept here as the oracle).

``encode_frame`` walks all networks of a frame together, position by position, in numpy. The
functions below are the encoder as it was before (one plain-Python walk per network, verbatim but
for names), and the tests compare the two on random networks of the sampler, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from tapaskit.errors import InvalidArchitectureError
from tapaskit.predictor import STEP_FEATURES, architecture_frame, encode_architecture, encode_frame
from tapaskit.predictor.encoding import STEP_TYPES
from tapaskit.space.architecture import (
    ACTIVATIONS,
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
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import infer_shapes, shortcut_stride

N_STEP = len(STEP_FEATURES)
_IDX = {name: i for i, name in enumerate(STEP_FEATURES)}
_LOG2_1P = np.array([_IDX[n] for n in ("log2_width", "log2_out_channels", "log2_out_height",
                                        "log2_out_width")])
_LOG10_1P = np.array([_IDX[n] for n in ("log10_params", "log10_flops", "log10_cum_params",
                                         "log10_cum_flops", "log10_cum_memory")])
_LOG2 = _IDX["log2_receptive_field"]


def _transform(raw: np.ndarray) -> np.ndarray:
    raw[:, _LOG2_1P] = np.log2(1.0 + raw[:, _LOG2_1P])
    raw[:, _LOG10_1P] = np.log10(1.0 + raw[:, _LOG10_1P])
    raw[:, _LOG2] = np.log2(raw[:, _LOG2])
    return raw


class _Invalid(Exception):
    """Raised inside the walker; the caller asks infer_shapes for the user-facing message."""


_ONEHOT = {t: tuple(1.0 if u == t else 0.0 for u in STEP_TYPES) for t in STEP_TYPES}
_ACT_SLOT = {fn: j for j, fn in enumerate(ACTIVATIONS)}


def _walk(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int,
          flat: list[float]) -> int:
    """Append the raw step rows of ``arch`` to ``flat`` (one flat list of floats); return the count.

    Sizes and costs are written raw (plain counts); :func:`_transform` takes the logarithms of a
    whole batch at once, which is much faster than per value in Python. Shapes and costs follow
    :mod:`tapaskit.space.shapes` exactly. One function with local variables, because a search scores
    tens of thousands of networks a second and attribute look-ups would double the time.

    Raises:
        InvalidArchitectureError: the message of :func:`tapaskit.space.shapes.infer_shapes`.
    """
    if len(input_shape) != 3 or min(input_shape) < 1 or num_classes < 2:
        infer_shapes(arch, input_shape, num_classes)  # raises the rule's message
    mark = len(flat)
    try:
        return _walk_unchecked(arch.layers, input_shape, num_classes, flat)
    except _Invalid:
        del flat[mark:]
        infer_shapes(arch, input_shape, num_classes)
        raise InvalidArchitectureError("the network cannot be built for this input") from None


def _walk_unchecked(layers: tuple, input_shape: tuple[int, int, int], num_classes: int,
                    flat: list[float]) -> int:
    c, h, w = input_shape  # the current tensor; h = w = 0 once it is flat
    span = max(h, w)
    params = flops = memory = depth = 0
    rf = jump = 1
    steps = 0
    # the open step
    kind = _ONEHOT["input"]
    kernel = stride = width = pool_avg = res_convs = res_projection = bn = 0
    acts = [0.0] * len(ACTIVATIONS)
    dropout = 0.0
    own_params = own_flops = 0
    extend = flat.extend
    for layer in (*layers, None):  # None: the head
        t = type(layer)
        if t is Activation:
            memory += c * h * w if h else c
            acts[_ACT_SLOT[layer.fn]] += 1.0
            continue
        if t is BatchNorm:
            memory += c * h * w if h else c
            params += 2 * c
            own_params += 2 * c
            bn += 1
            continue
        if t is Dropout:
            memory += c * h * w if h else c
            if layer.rate > dropout:
                dropout = layer.rate
            continue
        # a structural layer (or the head) closes the open step
        extend(kind)
        extend((kernel, stride, width, pool_avg, res_convs, res_projection, bn))
        extend(acts)
        extend((dropout, c, h, w, own_params, own_flops, depth, params, flops, memory, rf,
                min(1.0, rf / span)))
        steps += 1
        kernel = stride = width = pool_avg = res_convs = res_projection = bn = 0
        acts = [0.0] * len(ACTIVATIONS)
        dropout = 0.0
        if t is Conv:
            k, s, f = layer.kernel, layer.stride, layer.filters
            pad = k // 2
            ho, wo = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
            own_params, own_flops = c * f * k * k + f, 2 * c * k * k * f * ho * wo
            memory += f * ho * wo
            kind, kernel, stride, width = _ONEHOT["conv"], k, s, f
            rf += (k - 1) * jump
            jump *= s
            depth += 1
            c, h, w = f, ho, wo
        elif t is Pool:
            k, s = layer.kernel, layer.stride
            ho, wo = (h - k) // s + 1, (w - k) // s + 1
            if ho < 1 or wo < 1:
                raise _Invalid
            own_params = own_flops = 0
            memory += c * ho * wo
            kind, kernel, stride = _ONEHOT["pool"], k, s
            pool_avg = 1 if layer.mode == "avg" else 0
            rf += (k - 1) * jump
            jump *= s
            h, w = ho, wo
        elif t is Residual:
            (co, ho, wo), own_params, own_flops, m, kernel, res_convs, windows = _residual(
                layer, c, h, w)
            if (co, ho, wo) != (c, h, w):
                stride = shortcut_stride((h, w), (ho, wo))
                if stride is None:
                    raise _Invalid
                res_projection = 1
                own_params += c * co + co
                own_flops += 2 * c * co * ho * wo
                m += co * ho * wo
            else:
                stride = 1
            memory += m + co * ho * wo
            for k, s in windows:
                rf += (k - 1) * jump
                jump *= s
            kind, width = _ONEHOT["residual"], co
            depth += res_convs
            c, h, w = co, ho, wo
        elif t is GlobalAvgPool:
            own_params = own_flops = 0
            memory += c
            kind = _ONEHOT["gap"]
            rf += (max(h, w) - 1) * jump
            h = w = 0
        else:  # FullyConnected, or None for the head
            units = layer.units if t is FullyConnected else num_classes
            features = c * h * w if h else c
            own_params, own_flops = features * units + units, 2 * features * units
            memory += units
            kind, width = _ONEHOT["fc" if t is FullyConnected else "head"], units
            if h:
                rf += (max(h, w) - 1) * jump
            depth += 1
            c, h, w = units, 0, 0
        params += own_params
        flops += own_flops
    # the head is the last open step
    extend(kind)
    extend((kernel, stride, width, pool_avg, res_convs, res_projection, bn))
    extend(acts)
    extend((dropout, c, h, w, own_params, own_flops, depth, params, flops, memory, rf,
            min(1.0, rf / span)))
    return steps + 1


def _residual(layer: Residual, c: int, h: int, w: int
              ) -> tuple[tuple[int, int, int], int, int, int, int, int, list[tuple[int, int]]]:
    """Output shape, params, FLOPs, memory, largest kernel, convs and windows of a block body."""
    params = flops = memory = kernel = convs = 0
    windows = []
    for inner in layer.layers:
        t = type(inner)
        if t is Conv:
            k, s, f = inner.kernel, inner.stride, inner.filters
            pad = k // 2
            ho, wo = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
            params += c * f * k * k + f
            flops += 2 * c * k * k * f * ho * wo
            c, h, w = f, ho, wo
            convs += 1
            kernel = max(kernel, k)
            windows.append((k, s))
        elif t is Pool:
            k, s = inner.kernel, inner.stride
            h, w = (h - k) // s + 1, (w - k) // s + 1
            if h < 1 or w < 1:
                raise _Invalid
            windows.append((k, s))
        elif t is BatchNorm:
            params += 2 * c
        memory += c * h * w
    return (c, h, w), params, flops, memory, kernel, convs, windows


def _transform(raw: np.ndarray) -> np.ndarray:
    """Raw step rows -> encoded features, in place on a float64 ``(steps, N_STEP)`` array."""
    raw[:, _LOG2_1P] = np.log2(1.0 + raw[:, _LOG2_1P])
    raw[:, _LOG10_1P] = np.log10(1.0 + raw[:, _LOG10_1P])
    raw[:, _LOG2] = np.log2(raw[:, _LOG2])
    return raw




def oracle_encode(archs, input_shape, num_classes) -> tuple[np.ndarray, np.ndarray]:
    """The old encoder: one walk per network, logarithms taken at the end (float32 steps)."""
    flat: list[float] = []
    lengths = [_walk(arch, input_shape, num_classes, flat) for arch in archs]
    raw = np.array(flat, dtype=np.float64).reshape(-1, N_STEP)
    return _transform(raw).astype(np.float32), np.array(lengths)


SAMPLERS = {
    "default": {},
    "deep_residual": {"max_depth": 20, "p_residual": 0.9, "p_pool": 0.8, "p_stride": 0.4},
    "plain_wide": {"max_depth": 14, "p_residual": 0.0, "filters": (64, 256, 1024),
                   "p_bn": 1.0, "p_dropout": 1.0},
    "tiny": {"max_depth": 3, "p_gap": 1.0},
}
SHAPES = [((1, 16, 16), 10), ((3, 32, 32), 100), ((3, 28, 20), 2), ((1, 8, 8), 5)]


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("shape,classes", SHAPES)
def test_batched_encoding_equals_the_per_network_walk(sampler, shape, classes) -> None:
    archs = ArchitectureSampler(seed=hash((sampler, shape)) % 1000,
                                **SAMPLERS[sampler]).sample_many(300, shape, classes)
    expected, lengths = oracle_encode(archs, shape, classes)
    encoded = encode_frame(architecture_frame(archs, input_shape=shape, num_classes=classes))
    np.testing.assert_array_equal(encoded.lengths, lengths)
    np.testing.assert_array_equal(encoded.flat, expected)  # bit for bit


def test_batched_encoding_of_mixed_shapes_and_json_rows() -> None:
    import pandas as pd

    frames, expected = [], []
    for k, (shape, classes) in enumerate(SHAPES):
        archs = ArchitectureSampler(seed=k, p_residual=0.5).sample_many(50, shape, classes)
        frame = architecture_frame(archs, input_shape=shape, num_classes=classes)
        frames.append(frame.assign(arch_json=[a.to_json() for a in archs]))
        expected.append(oracle_encode(archs, shape, classes)[0])
    mixed = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)
    oracle = np.concatenate(expected)
    starts = np.cumsum([0] + [len(f) for f in frames])
    flat_lengths = np.concatenate([oracle_encode(
        [a for a in f["architecture"]], shape, classes)[1] for f, (shape, classes) in zip(frames, SHAPES)])
    offsets = np.cumsum(flat_lengths) - flat_lengths
    for column in ("architecture", "arch_json"):
        encoded = encode_frame(mixed.drop(columns=[c for c in ("architecture",) if column == "arch_json"]))
        for row, original in enumerate(mixed.index):
            want = oracle[offsets[original]: offsets[original] + flat_lengths[original]]
            np.testing.assert_array_equal(encoded.steps(row), want)
    assert starts[-1] == len(mixed)


def test_single_network_encoding_equals_the_walk() -> None:
    arch = Architecture((Conv(4), Residual((Conv(8, stride=2), BatchNorm(), Activation("elu"))),
                         Pool(2, mode="avg"), Dropout(0.2), FullyConnected(7), Activation("tanh")))
    np.testing.assert_array_equal(encode_architecture(arch, (3, 16, 16), 10),
                                  oracle_encode([arch], (3, 16, 16), 10)[0])


@pytest.mark.parametrize("arch,shape", [
    (Architecture((Conv(4), Pool(4), Pool(4), Pool(4))), (1, 16, 16)),          # map collapses
    (Architecture((Residual((Conv(4), Pool(2, stride=1))),)), (1, 4, 4)),       # no shortcut stride
    (Architecture((Conv(4), Residual((Pool(8),)))), (1, 4, 4)),                 # collapses inside
])
def test_an_invalid_row_is_named_with_the_shape_rules_message(arch, shape) -> None:
    ok = ArchitectureSampler(seed=0).sample_many(5, shape, 10)
    with pytest.raises(InvalidArchitectureError) as expected:
        infer_shapes(arch, shape, 10)
    frame = architecture_frame(ok + [arch], input_shape=shape, num_classes=10)
    with pytest.raises(InvalidArchitectureError, match=r"^row 5: ") as got:
        encode_frame(frame)
    assert str(expected.value) in str(got.value)
    with pytest.raises(_Invalid):
        _walk_unchecked(arch.layers, shape, 10, [])
