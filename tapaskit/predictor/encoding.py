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
    ``log2_in_height``, ``log2_in_width``, ``log10_lr``, ``log2_epochs``, ``log2_batch_size``.
    Unknown values (NaN) stay NaN here; the estimators fill them with training statistics.

Speed: the encoder walks the layer list once in plain Python, writing raw counts into one flat
list for a whole frame; the logarithms are then taken by numpy for all steps at once. JSON texts
(LDE rows) are parsed and walked once per (text, input shape, classes) and cached; Architecture
objects are walked afresh (walking costs about what hashing the object for a cache would).
:func:`tapaskit.space.shapes.infer_shapes` stays the reference: the tests check the cumulative counts
against it, and an invalid network is handed to it for the error message.
"""

from __future__ import annotations

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
from tapaskit.predictor.inputs import check_frame
from tapaskit.space.shapes import infer_shapes, shortcut_stride

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
    "log10_lr", "log2_epochs", "log2_batch_size",
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


class _Invalid(Exception):
    """Raised inside the walker; the caller asks infer_shapes for the user-facing message."""


_ONEHOT = {t: tuple(1.0 if u == t else 0.0 for u in STEP_TYPES) for t in STEP_TYPES}
_ACT_SLOT = {fn: j for j, fn in enumerate(ACTIVATIONS)}
# columns stored raw by the walker and transformed for a whole batch at once
_LOG2_1P = np.array([_IDX[n] for n in ("log2_width", "log2_out_channels", "log2_out_height",
                                        "log2_out_width")])
_LOG10_1P = np.array([_IDX[n] for n in ("log10_params", "log10_flops", "log10_cum_params",
                                         "log10_cum_flops", "log10_cum_memory")])
_LOG2 = _IDX["log2_receptive_field"]


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
    flat: list[float] = []
    steps = _walk(arch, tuple(int(s) for s in input_shape), int(num_classes), flat)
    raw = np.array(flat, dtype=np.float64).reshape(steps, N_STEP)
    return _transform(raw).astype(np.float32)


@lru_cache(maxsize=_CACHE_SIZE)
def architecture_from_json(text: str) -> Architecture:
    """Parse canonical architecture JSON once (cached: parsing costs ~0.4 ms a network).

    Raises:
        InvalidArchitectureError: the text is not a valid architecture.
    """
    return Architecture.from_json(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _raw_from_json(text: str, input_shape: tuple[int, int, int], num_classes: int
                   ) -> tuple[float, ...]:
    """Raw step rows of a JSON architecture, cached by (text, input shape, classes)."""
    flat: list[float] = []
    _walk(architecture_from_json(text), input_shape, num_classes, flat)
    return tuple(flat)


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
    """

    flat: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    context: np.ndarray

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

    Rows with an ``architecture`` object are walked directly (about as fast as hashing the
    object); rows with ``arch_json`` are parsed and encoded once per (text, input shape, classes)
    and cached.

    Raises:
        DataError: the frame lacks a required column.
        InvalidArchitectureError: a network is invalid for its row's input, naming the row.
    """
    X = check_frame(X)
    shapes = _shapes(X).tolist()
    use_objects = "architecture" in X.columns
    items = X["architecture" if use_objects else "arch_json"].tolist()
    flat: list[float] = []
    lengths = np.empty(len(items), dtype=np.int64)
    for i, item in enumerate(items):
        c, h, w, k = shapes[i]
        try:
            if use_objects:
                if not isinstance(item, Architecture):
                    raise InvalidArchitectureError(
                        "the architecture column must hold Architecture objects, "
                        f"but got {type(item).__name__}"
                    )
                lengths[i] = _walk(item, (c, h, w), k, flat)
            else:
                if not isinstance(item, str):
                    raise InvalidArchitectureError(
                        f"arch_json must be JSON text, but got {type(item).__name__}"
                    )
                raw = _raw_from_json(item, (c, h, w), k)
                flat.extend(raw)
                lengths[i] = len(raw) // N_STEP
        except InvalidArchitectureError as exc:
            raise InvalidArchitectureError(f"row {i}: {exc}") from None
    raw = np.array(flat, dtype=np.float64).reshape(-1, N_STEP)
    offsets = np.cumsum(lengths) - lengths
    return EncodedFrame(flat=_transform(raw).astype(np.float32), offsets=offsets,
                        lengths=lengths, context=context_features(X))
