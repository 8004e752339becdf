"""The TAPAS layer encoding: one vector per step of a network, plus a per-network context vector.

TAP (Istrate et al., 2019, Sec. 4) reads a network layer by layer. Each **step** vector holds the
layer's own description and what the sub-network from the input up to that layer amounts to. This
module computes the *static* part; the accuracy field ``A_i`` is appended by the model
(:mod:`tapaskit.predictor.network`) because it is the model's own running prediction.

Steps
    Step 0 is the **input** (its output shape is the input shape, every cost 0). Then one step per
    ``conv``, ``pool``, ``residual`` block (one step for the whole block; its inner convs and
    kernels are summarised in the step), ``gap`` and ``fc`` layer, and a last step for the implicit
    classifier **head**. The element-wise layers ``bn``, ``act`` and ``dropout`` change neither
    shape nor (much) cost, so they are *folded* into the step before them as flags (batch norm
    present, activation one-hot, dropout rate); their parameters and memory still count. This
    halves the length of typical chains (conv-bn-relu is one step) and so the time of the LSTM.

Step features (:data:`STEP_FEATURES`, in this order)
    - ``is_input``, ``is_conv``, ``is_pool``, ``is_residual``, ``is_gap``, ``is_fc``, ``is_head``:
      the step type, one-hot;
    - ``kernel``, ``stride``: of the conv or pool; for a residual block the largest inner conv
      kernel and the shortcut stride; 0 otherwise;
    - ``log2_width``: ``log2(1 + filters / units / classes)`` of a conv, fc or head, the output
      channels of a residual block, 0 otherwise;
    - ``pool_avg`` (1 for average pooling), ``res_convs`` (convs inside a residual block),
      ``res_projection`` (1 when its shortcut is a 1x1 conv);
    - ``bn`` (batch-norm layers folded in), ``act_<fn>`` for the six activations (how many of each
      were folded in), ``dropout`` (the largest folded dropout rate);
    - ``log2_out_channels``, ``log2_out_height``, ``log2_out_width``: ``log2(1 + size)`` of the
      step's output (features, 0, 0 once the tensor is flat);
    - ``log10_params``, ``log10_flops``: ``log10(1 + x)`` of the step's own parameters and FLOPs;
    - ``depth``: weighted layers from the input up to and including the step (convs, inner convs,
      fc layers, the head: :attr:`Architecture.depth` at the last step);
    - ``log10_cum_params``, ``log10_cum_flops``, ``log10_cum_memory``: ``log10(1 + x)`` of the
      parameters, FLOPs and activation memory of the sub-network up to the step (the counts of
      :mod:`tapaskit.space.shapes`; at the head they are the network's totals);
    - ``log2_receptive_field`` and ``rf_coverage``: the receptive field of one output unit in input
      pixels (``rf += (k - 1) * jump; jump *= stride`` through convs and pools; a ``gap``, and
      an ``fc`` or the head that flattens a map, add the whole remaining map) and its share of
      ``max(H, W)``, at most 1.

Context features (:data:`CONTEXT_FEATURES`), one vector per row of the input frame
    ``dcn``, ``log2_classes``, ``inv_classes`` (= ``A_0``), ``log2_in_channels``,
    ``log2_in_height``, ``log2_in_width``, ``log10_lr``, ``log2_epochs``, ``log2_batch_size``,
    ``log2_train_samples`` (the training samples behind the row,
    :func:`~tapaskit.predictor.inputs.train_samples`: the regime a network was trained in).
    Unknown values (NaN) stay NaN here; the estimators fill them with training statistics.

Speed: all networks of a call are encoded together in one batched numpy pass. The layers are
gathered into one flat sequence (the only per-layer Python work: one pass over each layer type's
fields); the tensor's shape is then carried along all networks at once, position by position
(one numpy operation per position for every network), every count is a function of each layer's
input and output shapes, summed along the sequence once (``cumsum``) and read off at the ends of
steps and networks, and the logarithms are taken for all steps at once. JSON texts (LDE rows) are
parsed once per text and cached. The per-network walk this replaced is kept in
``tests/test_predictor_encoding_oracle.py`` as the oracle the batched pass must equal bit for
bit; :func:`tapaskit.space.shapes.infer_shapes` stays the reference for the counts and gives an
invalid network its error message.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

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
from tapaskit.errors import InvalidArchitectureError
from tapaskit.predictor.inputs import check_frame, train_samples
from tapaskit.predictor.proxies import proxy_matrix
from tapaskit.space.shapes import infer_shapes

STEP_TYPES: tuple[str, ...] = ("input", "conv", "pool", "residual", "gap", "fc", "head")
STEP_FEATURES: tuple[str, ...] = (
    *(f"is_{t}" for t in STEP_TYPES),
    "kernel", "stride", "log2_width",
    "pool_avg", "res_convs", "res_projection",
    "bn", *(f"act_{fn}" for fn in ACTIVATIONS), "dropout",
    "log2_out_channels", "log2_out_height", "log2_out_width",
    "log10_params", "log10_flops",
    "depth", "log10_cum_params", "log10_cum_flops", "log10_cum_memory",
    "log2_receptive_field", "rf_coverage",
)
CONTEXT_FEATURES: tuple[str, ...] = (
    "dcn", "log2_classes", "inv_classes", "log2_in_channels", "log2_in_height", "log2_in_width",
    "log10_lr", "log2_epochs", "log2_batch_size", "log2_train_samples",
)
N_STEP = len(STEP_FEATURES)
N_CONTEXT = len(CONTEXT_FEATURES)
_IDX = {name: i for i, name in enumerate(STEP_FEATURES)}
_CACHE_SIZE = 200_000

__all__ = [
    "CONTEXT_FEATURES",
    "N_CONTEXT",
    "N_STEP",
    "STEP_FEATURES",
    "STEP_TYPES",
    "EncodedFrame",
    "architecture_from_json",
    "context_features",
    "encode_architecture",
    "encode_frame",
]


# Codes of the entries of the flattened layer sequence: every network starts with an input
# marker and ends with a head marker; a residual block becomes its begin marker, its inner layers
# and an end marker.
_INPUT, _CONV, _POOL, _GAP, _FC, _HEAD, _BEGIN, _END, _ACT, _BN, _DROP = range(11)
# the inner layers of a residual block, told apart once the sequence is laid out
_ICONV, _IPOOL, _IBN, _IMEM = range(11, 15)
_N_CODES = 15
_KIND_OF = np.zeros(_N_CODES, dtype=np.int64)  # code of a step's first entry -> STEP_TYPES index
_KIND_OF[[_INPUT, _CONV, _POOL, _BEGIN, _GAP, _FC, _HEAD]] = [0, 1, 2, 3, 4, 5, 6]


def _table(*codes: int) -> np.ndarray:
    out = np.zeros(_N_CODES, dtype=bool)
    out[list(codes)] = True
    return out


_STARTS_STEP = _table(_INPUT, _CONV, _POOL, _GAP, _FC, _HEAD, _BEGIN)
_SHAPE_CHANGE = _table(_CONV, _POOL, _GAP, _FC, _HEAD, _ICONV, _IPOOL)
_WEIGHTED = _table(_CONV, _ICONV, _FC, _HEAD)
_WINDOW = _table(_CONV, _ICONV, _POOL, _IPOOL)
_IS_CONV = _table(_CONV, _ICONV)
_IS_POOL = _table(_POOL, _IPOOL)
_IS_DENSE = _table(_FC, _HEAD)
_IS_BN = _table(_BN, _IBN)
_FLATTENS = _table(_GAP, _FC, _HEAD)
_SETS_CHANNELS = _table(_CONV, _ICONV, _FC, _HEAD)
_NO_MEMORY = _table(_INPUT, _BEGIN)
_SHOWS_KERNEL = _table(_CONV, _POOL)
_SHOWS_WIDTH = _table(_CONV, _FC, _HEAD)
_INNER_OF = np.arange(_N_CODES)  # an element-wise layer's code inside a residual block
_INNER_OF[[_CONV, _POOL, _BN, _ACT, _DROP]] = [_ICONV, _IPOOL, _IBN, _IMEM, _IMEM]


_CODE = {Conv: _CONV, Pool: _POOL, GlobalAvgPool: _GAP, FullyConnected: _FC, Activation: _ACT,
         BatchNorm: _BN, Dropout: _DROP, Residual: _BEGIN}
_ACT_SLOT = {fn: j for j, fn in enumerate(ACTIVATIONS)}
_MODE, _FN, _RATE = (operator.attrgetter(n) for n in ("mode", "fn", "rate"))
_AVERAGE = "avg"
# columns stored raw by the walk and transformed for a whole batch at once
_LOG2_1P = np.array([_IDX[n] for n in ("log2_width", "log2_out_channels", "log2_out_height",
                                        "log2_out_width")])
_LOG10_1P = np.array([_IDX[n] for n in ("log10_params", "log10_flops", "log10_cum_params",
                                         "log10_cum_flops", "log10_cum_memory")])
_LOG2 = _IDX["log2_receptive_field"]


def _sequence(archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every network's layers as one flat sequence: codes ``(T,)``, fields ``(T, 4)``, lengths.

    The only per-layer Python work of the encoding: the layers are gathered into one list, a
    residual block is spliced into its begin marker, inner layers and end marker, and each
    type's fields are read in one pass over that type's layers (conv: filters, kernel, stride;
    pool: kernel, stride, average; fc: units; activation: its slot; dropout: its rate, as the
    bits of a float64 in the last column). Each network then gets its input and head markers.
    """
    layer_lists = [arch.layers for arch in archs]
    counts = np.fromiter(map(len, layer_lists), np.int64, len(layer_lists))
    flat = list(itertools.chain.from_iterable(layer_lists))
    code_of = _CODE.__getitem__
    codes = np.fromiter(map(code_of, map(type, flat)), np.int64, len(flat))
    objects = np.fromiter(flat, dtype=object, count=len(flat))
    blocks = np.flatnonzero(codes == _BEGIN)
    if len(blocks):  # splice each block's inner layers in after it, then its end marker
        inner_lists = [block.layers for block in objects[blocks]]
        inner = list(itertools.chain.from_iterable(inner_lists))
        count = np.fromiter(map(len, inner_lists), np.int64, len(blocks))
        shift = np.zeros(len(flat) + 1, dtype=np.int64)
        shift[blocks + 1] = count + 1
        position = np.arange(len(flat)) + np.cumsum(shift)[:-1]
        spliced_codes = np.full(len(flat) + len(inner) + len(blocks), _END, dtype=np.int64)
        spliced = np.empty(len(spliced_codes), dtype=object)
        spliced[position] = objects
        spliced_codes[position] = codes
        at = np.repeat(position[blocks] + 1 - (np.cumsum(count) - count), count) + np.arange(len(inner))
        spliced[at] = np.fromiter(inner, dtype=object, count=len(inner))
        spliced_codes[at] = np.fromiter(map(code_of, map(type, inner)), np.int64, len(inner))
        network = np.repeat(np.arange(len(archs)), counts)
        counts = counts + np.bincount(network[blocks], weights=count + 1,
                                      minlength=len(archs)).astype(np.int64)
        codes, objects = spliced_codes, spliced
    fields = np.zeros((len(codes), 4), dtype=np.int64)
    for code, names in ((_CONV, ("filters", "kernel", "stride")), (_POOL, ("kernel", "stride")),
                        (_FC, ("units",))):
        where = np.flatnonzero(codes == code)
        values = np.fromiter(itertools.chain.from_iterable(
            map(operator.attrgetter(*names), objects[where])) if len(names) > 1
            else map(operator.attrgetter(*names), objects[where]), np.int64, len(names) * len(where))
        fields[where, :len(names)] = values.reshape(len(where), len(names))
    where = np.flatnonzero(codes == _POOL)
    fields[where, 2] = np.fromiter(map(_AVERAGE.__eq__, map(_MODE, objects[where])), np.int64,
                                   len(where))
    where = np.flatnonzero(codes == _ACT)
    fields[where, 0] = np.fromiter(map(_ACT_SLOT.__getitem__, map(_FN, objects[where])),
                                   np.int64, len(where))
    where = np.flatnonzero(codes == _DROP)
    fields[where, 3] = np.fromiter(map(_RATE, objects[where]), np.float64, len(where)).view(np.int64)
    # each network: its input marker, its layers, its head marker
    ends = np.cumsum(counts)
    at = np.concatenate([ends, ends - counts])  # where one network ends the next one starts:
    marks = np.repeat([_HEAD, _INPUT], len(counts))  # the head goes first (a stable insert)
    codes = np.insert(codes, at, marks)
    fields = np.insert(fields, at, 0, axis=0)
    return codes, fields, counts + 2


def _walk_batch(codes: np.ndarray, fields: np.ndarray, lengths: np.ndarray,
                shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw step rows of every network, all networks at once.

    Only the tensor's shape is carried from layer to layer (a loop over the positions of the
    layers that change it, each one numpy operation for all networks); every count is then a
    function of each layer's input and output shape, summed along the flat sequence once
    (``cumsum``) and read off at the ends of the steps and networks. Shapes and costs follow
    :mod:`tapaskit.space.shapes` exactly (and the per-network walk this replaced, which the tests
    keep as the oracle); counts are int64, as exact as Python's ints for any network that fits in
    memory.

    Args:
        codes, fields, lengths: :func:`_sequence`.
        shapes: ``(N, 4)`` int64 ``(C, H, W, classes)`` of every row.

    Returns:
        ``(raw, steps, invalid)``: ``(N_STEP, sum(steps))`` float64 raw columns (counts, not yet
        logarithms) of the steps network after network, the steps of each network, and which
        networks cannot be built for their input (a pool or a shortcut the map is too small for).
    """
    n, total = len(lengths), len(codes)
    starts = np.cumsum(lengths) - lengths
    network = np.repeat(np.arange(n), lengths)
    block = np.cumsum(codes == _BEGIN) - np.cumsum(codes == _END)  # blocks never nest
    inside = (block > 0) & (codes != _BEGIN)
    codes = np.where(inside, _INNER_OF[codes], codes)
    f0, f1, f2 = fields[:, 0], fields[:, 1], fields[:, 2]
    conv = _IS_CONV[codes]
    pool = _IS_POOL[codes]
    kernel = np.where(pool, f0, f1)  # conv fields: filters, kernel, stride; pool: kernel, stride
    stride = np.where(pool, f1, f2)

    # 1. the tensor's shape after every layer that changes it, position by position (networks
    # with the most such layers first, so that those still changing at a position are a prefix)
    changes = np.flatnonzero(_SHAPE_CHANGE[codes])
    owner = network[changes]
    counts = np.bincount(owner, minlength=n)
    order = np.argsort(-counts, kind="stable")
    rank = np.arange(len(changes)) - np.repeat(np.cumsum(counts) - counts, counts)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    longest = int(counts.max(initial=0))
    grid = np.zeros((longest, n), dtype=np.int64)  # (position, network by rank): flat index
    grid[rank, inverse[owner]] = changes
    live = np.arange(longest)[:, None] < counts[order][None, :]   # (position, network)
    active = live.sum(axis=1)
    g_code, g_kernel, g_stride, g_filters = (x[grid] for x in (codes, kernel, stride, f0))
    g_c, g_h, g_w, g_jump = (np.zeros((longest, n), dtype=np.int64) for _ in range(4))
    c, h, w = shapes[order, 0].copy(), shapes[order, 1].copy(), shapes[order, 2].copy()
    classes = shapes[order, 3]
    jump = np.ones(n, dtype=np.int64)
    invalid_sorted = np.zeros(n, dtype=bool)
    for r in range(longest):
        a = int(active[r])
        code, k, s = g_code[r, :a], g_kernel[r, :a], g_stride[r, :a]
        g_jump[r, :a] = jump[:a]
        window = _WINDOW[code]
        pad = np.where(_IS_CONV[code], k // 2, 0)
        s = np.where(window, s, 1)
        ho = np.where(window, (h[:a] + 2 * pad - k) // s + 1, h[:a])
        wo = np.where(window, (w[:a] + 2 * pad - k) // s + 1, w[:a])
        invalid_sorted[:a] |= _IS_POOL[code] & ((ho < 1) | (wo < 1))
        flattens = _FLATTENS[code]
        ho = np.where(flattens, 0, np.maximum(ho, 1))
        wo = np.where(flattens, 0, np.maximum(wo, 1))
        c[:a] = np.where(_SETS_CHANNELS[code], np.where(code == _HEAD, classes[:a], g_filters[r, :a]),
                         c[:a])
        h[:a], w[:a] = ho, wo
        jump[:a] *= s
        g_c[r, :a], g_h[r, :a], g_w[r, :a] = c[:a], ho, wo
    where = grid[live]
    c_out, h_out, w_out, jump_before = (np.zeros(total, dtype=np.int64) for _ in range(4))
    c_out[where], h_out[where], w_out[where] = g_c[live], g_h[live], g_w[live]
    jump_before[where] = g_jump[live]
    invalid = np.empty(n, dtype=bool)
    invalid[order] = invalid_sorted
    # every other layer keeps the shape of the last change before it (or the input's)
    last = np.maximum.accumulate(np.where(_SHAPE_CHANGE[codes], np.arange(total), -1))
    fresh = last < np.repeat(starts, lengths)                     # no change yet in this network
    src = np.maximum(last, 0)
    c_out = np.where(fresh, np.repeat(shapes[:, 0], lengths), c_out[src])
    h_out = np.where(fresh, np.repeat(shapes[:, 1], lengths), h_out[src])
    w_out = np.where(fresh, np.repeat(shapes[:, 2], lengths), w_out[src])
    c_in, h_in, w_in = np.empty_like(c_out), np.empty_like(h_out), np.empty_like(w_out)
    c_in[1:], h_in[1:], w_in[1:] = c_out[:-1], h_out[:-1], w_out[:-1]
    c_in[starts], h_in[starts], w_in[starts] = shapes[:, 0], shapes[:, 1], shapes[:, 2]

    # 2. what each layer costs, from its input and output shapes
    numel_out = c_out * np.where(h_out > 0, h_out * w_out, 1)
    numel_in = c_in * np.where(h_in > 0, h_in * w_in, 1)
    dense = _IS_DENSE[codes]
    params = np.where(conv, c_in * f0 * f1 * f1 + f0,
                      np.where(dense, numel_in * c_out + c_out,
                               np.where(_IS_BN[codes], 2 * c_in, 0)))
    flops = np.where(conv, 2 * c_in * f1 * f1 * f0 * h_out * w_out,
                     np.where(dense, 2 * numel_in * c_out, 0))
    memory = np.where(_NO_MEMORY[codes], 0, numel_out)
    # a block's end: the shortcut (a 1x1 projection when the shape changes) and the sum
    ends = np.flatnonzero(codes == _END)
    begins = np.flatnonzero(codes == _BEGIN)  # one per end, in the same order
    c0, h0, w0 = c_in[begins], h_in[begins], w_in[begins]
    co, ho, wo = c_out[ends], h_out[ends], w_out[ends]
    changed = (co != c0) | (ho != h0) | (wo != w0)
    shortcut = np.maximum(-(-h0 // np.maximum(ho, 1)), -(-w0 // np.maximum(wo, 1)))
    fits = (-(-h0 // shortcut) == ho) & (-(-w0 // shortcut) == wo)
    invalid[network[ends[changed & ~fits]]] = True
    params[ends] = np.where(changed, c0 * co + co, 0)
    flops[ends] = np.where(changed, 2 * c0 * co * ho * wo, 0)
    memory[ends] = np.where(changed, 2, 1) * co * ho * wo
    # the receptive field: windows of convs and pools; a gap, or a flattening fc or head,
    # adds the whole remaining map
    grow = np.where(_WINDOW[codes], kernel - 1,
                    np.where((codes == _GAP) | (dense & (h_in > 0)), np.maximum(h_in, w_in) - 1, 0))
    grow *= jump_before
    counted = np.stack([params, flops, memory, _WEIGHTED[codes], grow])
    sums = np.zeros((len(counted), total + 1), dtype=np.int64)    # sums[:, i]: before entry i
    np.cumsum(counted, axis=1, out=sums[:, 1:])

    # 3. one step per run of layers that starts with a structural one: its own counts are the
    # sums over the run, the sub-network's the sums since the network's start
    is_start = _STARTS_STEP[codes]
    step_start = np.flatnonzero(is_start)
    step_end = np.append(step_start[1:], total) - 1
    step_of = np.cumsum(is_start) - 1                             # the step of every entry
    steps = np.bincount(network[step_start], minlength=n)
    n_steps = len(step_start)
    at_end = sums[:, step_end + 1]
    own = at_end[:2] - sums[:2, step_start]                       # params, FLOPs
    cumulative = at_end - sums[:, starts[network[step_start]]]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(step_of[mask], minlength=n_steps)

    act = codes == _ACT
    acts = np.bincount(step_of[act] * len(ACTIVATIONS) + f0[act],
                       minlength=n_steps * len(ACTIVATIONS)).reshape(n_steps, len(ACTIVATIONS))
    start_code = codes[step_start]
    raw = np.zeros((N_STEP, len(step_start)))
    raw[_KIND_OF[start_code], np.arange(len(step_start))] = 1.0
    raw[_IDX["kernel"]] = np.where(_SHOWS_KERNEL[start_code], kernel[step_start], 0)
    raw[_IDX["stride"]] = np.where(_SHOWS_KERNEL[start_code], stride[step_start], 0)
    raw[_IDX["log2_width"]] = np.where(_SHOWS_WIDTH[start_code], c_out[step_start], 0)
    raw[_IDX["pool_avg"]] = np.where(start_code == _POOL, f2[step_start], 0)
    if len(ends):  # a block's step: the largest inner kernel, the shortcut, the output width
        block_step = np.searchsorted(step_start, begins)
        inner_kernel = np.where(codes == _ICONV, kernel, 0)
        bounds = np.stack([begins, ends]).T.reshape(-1)
        raw[_IDX["kernel"], block_step] = np.maximum.reduceat(inner_kernel, bounds)[::2]
        raw[_IDX["stride"], block_step] = np.where(changed, shortcut, 1)
        raw[_IDX["log2_width"], block_step] = co
        raw[_IDX["res_projection"], block_step] = changed
    raw[_IDX["res_convs"]] = count(codes == _ICONV)
    raw[_IDX["bn"]] = count(codes == _BN)
    raw[_IDX["act_relu"]:_IDX["act_relu"] + len(ACTIVATIONS)] = acts.T
    rate = fields[:, 3].view(np.float64)
    raw[_IDX["dropout"]] = np.maximum.reduceat(np.where(codes == _DROP, rate, 0.0), step_start)
    raw[_IDX["log2_out_channels"]] = c_out[step_end]
    raw[_IDX["log2_out_height"]] = h_out[step_end]
    raw[_IDX["log2_out_width"]] = w_out[step_end]
    raw[_IDX["log10_params"]] = own[0]
    raw[_IDX["log10_flops"]] = own[1]
    raw[_IDX["depth"]] = cumulative[3]
    raw[_IDX["log10_cum_params"]] = cumulative[0]
    raw[_IDX["log10_cum_flops"]] = cumulative[1]
    raw[_IDX["log10_cum_memory"]] = cumulative[2]
    rf = cumulative[4] + 1                                         # one pixel to start with
    raw[_IDX["log2_receptive_field"]] = rf
    span = np.maximum(shapes[:, 1], shapes[:, 2])[network[step_start]]
    raw[_IDX["rf_coverage"]] = np.minimum(1.0, rf / span)
    return raw, steps, invalid


def _transform(raw: np.ndarray) -> np.ndarray:
    """Raw ``(N_STEP, steps)`` columns -> the encoded ``(steps, N_STEP)`` float32 steps."""
    raw[_LOG2_1P] = np.log2(1.0 + raw[_LOG2_1P])
    raw[_LOG10_1P] = np.log10(1.0 + raw[_LOG10_1P])
    raw[_LOG2] = np.log2(raw[_LOG2])
    return raw.T.astype(np.float32)


def _encode_objects(archs: Sequence[Architecture], shapes: np.ndarray, *, rows: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Encoded steps (float32, logarithms taken) and step counts of networks on their inputs.

    Raises:
        InvalidArchitectureError: a network that cannot be built for its input, with the message
            of :func:`tapaskit.space.shapes.infer_shapes` (prefixed by its row with ``rows``).
    """
    bad = np.flatnonzero((shapes[:, 3] < 2) | (shapes[:, :3].min(axis=1) < 1))
    invalid = None
    if not len(bad):
        raw, steps, invalid = _walk_batch(*_sequence(archs), shapes)
        bad = np.flatnonzero(invalid)
    if len(bad):
        i = int(bad[0])
        c, h, w, k = (int(v) for v in shapes[i])
        try:
            infer_shapes(archs[i], (c, h, w), k)  # raises the rule's message
            message = "the network cannot be built for this input"
        except InvalidArchitectureError as exc:
            message = str(exc)
        raise InvalidArchitectureError(f"row {i}: {message}" if rows else message) from None
    return _transform(raw), steps


def encode_architecture(
    arch: Architecture, input_shape: Sequence[int], num_classes: int
) -> np.ndarray:
    """The step vectors of one network on one input.

    Args:
        arch: the architecture.
        input_shape: ``(C, H, W)``.
        num_classes: classes of the head (>= 2).

    Returns:
        A float32 array of shape ``(steps, len(STEP_FEATURES))``; ``steps`` = 2 + the number of
        conv / pool / residual / gap / fc layers.

    Raises:
        InvalidArchitectureError: the network cannot be built for this input (the message of
            :func:`tapaskit.space.shapes.infer_shapes`).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        infer_shapes(arch, shape, int(num_classes))  # raises the rule's message
    flat, _ = _encode_objects([arch], np.array([[*shape, int(num_classes)]], dtype=np.int64),
                              rows=False)
    return flat


@lru_cache(maxsize=_CACHE_SIZE)
def architecture_from_json(text: str) -> Architecture:
    """Parse canonical architecture JSON once (cached: parsing costs ~0.4 ms a network).

    Raises:
        InvalidArchitectureError: the text is not a valid architecture.
    """
    return Architecture.from_json(text)


def _column(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X.columns:
        return np.full(len(X), np.nan)
    return pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def context_features(X: pd.DataFrame) -> np.ndarray:
    """The context vectors of every row (NaN where the frame has no value).

    Returns:
        A float64 array of shape ``(len(X), len(CONTEXT_FEATURES))``.
    """
    classes = _column(X, "num_classes")
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = _column(X, "lr")
        out = np.stack([
            _column(X, "dcn"),
            np.log2(classes),
            1.0 / classes,
            np.log2(_column(X, "in_channels")),
            np.log2(_column(X, "in_height")),
            np.log2(_column(X, "in_width")),
            np.where(lr > 0, np.log10(lr), np.nan),
            np.log2(_column(X, "epochs")),
            np.log2(_column(X, "batch_size")),
            np.log2(train_samples(X)),
        ], axis=1)
    return out


@dataclass(frozen=True)
class EncodedFrame:
    """The encoding of a predictor input frame.

    Attributes:
        flat: ``(total_steps, N_STEP)`` float32, the steps of every row one after the other.
        offsets: ``(N,)`` int64, where each row's steps start in ``flat``.
        lengths: ``(N,)`` int64, the number of steps of each row.
        context: ``(N, N_CONTEXT)`` float64 context vectors (NaN where unknown).
        proxies: ``(N, 2 * len(PROXY_COLUMNS))`` float64, the zero-cost proxies of every row, raw
            and standardised per dataset (:func:`tapaskit.predictor.proxies.proxy_matrix`; NaN
            where missing); ``None`` when not computed (readers then compute them from the frame).
    """

    flat: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    context: np.ndarray
    proxies: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def steps(self, row: int) -> np.ndarray:
        """The ``(steps, N_STEP)`` vectors of one row."""
        start = int(self.offsets[row])
        return self.flat[start: start + int(self.lengths[row])]

    def padded(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Stack (a subset of) the rows, zero-padded to the longest.

        Returns:
            ``(steps, lengths)``: ``(n, T, N_STEP)`` float32 and ``(n,)`` int64.
        """
        idx = np.arange(len(self.lengths)) if rows is None else np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[idx]
        n, longest = len(idx), int(lengths.max())
        out = np.zeros((n, longest, N_STEP), dtype=np.float32)
        which = np.repeat(np.arange(n), lengths)  # the padded row of every gathered step
        # position of each gathered step within its row
        position = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        source = np.repeat(self.offsets[idx], lengths) + position
        out[which, position] = self.flat[source]
        return out, lengths


def _shapes(X: pd.DataFrame) -> np.ndarray:
    return X[["in_channels", "in_height", "in_width", "num_classes"]].to_numpy(dtype=np.int64)


def encode_frame(X: pd.DataFrame) -> EncodedFrame:
    """Encode every row of a predictor input frame (see :mod:`tapaskit.predictor.inputs`).

    All rows are walked together, position by position, in one batched numpy pass; rows with
    ``arch_json`` are parsed first (cached per text).

    Raises:
        DataError: the frame lacks a required column.
        InvalidArchitectureError: a network is invalid for its row's input, naming the row.
    """
    X = check_frame(X)
    shapes = _shapes(X)
    use_objects = "architecture" in X.columns
    items = X["architecture" if use_objects else "arch_json"].tolist()
    wanted = Architecture if use_objects else str
    if any(not issubclass(t, wanted) for t in set(map(type, items))):
        i = next(i for i, item in enumerate(items) if not isinstance(item, wanted))
        got = type(items[i]).__name__
        raise InvalidArchitectureError(
            f"row {i}: the architecture column must hold Architecture objects, but got {got}"
            if use_objects else f"row {i}: arch_json must be JSON text, but got {got}")
    if not use_objects:
        archs = []
        for i, text in enumerate(items):
            try:
                archs.append(architecture_from_json(text))
            except InvalidArchitectureError as exc:
                raise InvalidArchitectureError(f"row {i}: {exc}") from None
        items = archs
    flat, lengths = _encode_objects(items, shapes)
    offsets = np.cumsum(lengths) - lengths
    return EncodedFrame(flat=flat, offsets=offsets, lengths=lengths, context=context_features(X),
                        proxies=proxy_matrix(X))
