"""Flat architecture features for the tree and linear baselines.

The baselines see one fixed-length vector per row: counts and statistics of the network, read off
the same step encoding TAP uses (:mod:`tapaskit.predictor.encoding`), plus the context features
(DCN, dataset shape, hyperparameters). Everything is computed with numpy reductions over the flat
step array, so a frame of 20,000 networks takes milliseconds once encoded.

Features (:data:`FLAT_FEATURES`):

- ``n_steps``, ``depth``, ``n_conv``, ``n_pool``, ``n_avg_pool``, ``n_residual``, ``n_gap``,
  ``n_fc``, ``n_bn``, ``n_act``, ``n_dropout``, ``max_dropout``, ``n_stride2`` (strided convs
  and residual blocks), ``n_kernel1`` ... ``n_kernel7`` (convs by kernel);
- ``log10_params``, ``log10_flops``, ``log10_memory`` (network totals), ``log10_head_params``;
- ``mean_width``, ``max_width``, ``min_width``, ``first_width``, ``last_width`` (``log2(1 + f)``
  over convs and residual blocks), ``mean_kernel``, ``max_kernel``;
- ``final_height``, ``final_channels`` (``log2(1 + size)`` of the tensor the head reads),
  ``log2_receptive_field`` and ``rf_coverage`` at the last spatial step;
- the context features of :data:`~tapaskit.predictor.encoding.CONTEXT_FEATURES` (DCN, dataset
  shape, schedule, ``log2_train_samples``).

The tree models append the zero-cost proxies they use (:mod:`tapaskit.predictor.proxies`) to
these columns themselves (``baselines.py``).
"""

from __future__ import annotations

import numpy as np

from tapaskit.predictor.encoding import CONTEXT_FEATURES, STEP_FEATURES, EncodedFrame

__all__ = ["ARCH_FEATURES", "FLAT_FEATURES", "flat_features"]

ARCH_FEATURES: tuple[str, ...] = (
    "n_steps", "depth", "n_conv", "n_pool", "n_avg_pool", "n_residual", "n_gap", "n_fc", "n_bn",
    "n_act", "n_dropout", "max_dropout", "n_stride2", "n_kernel1", "n_kernel3", "n_kernel5",
    "n_kernel7", "log10_params", "log10_flops", "log10_memory", "log10_head_params",
    "mean_width", "max_width", "min_width", "first_width", "last_width", "mean_kernel",
    "max_kernel", "final_height", "final_channels", "log2_receptive_field", "rf_coverage",
)
FLAT_FEATURES: tuple[str, ...] = ARCH_FEATURES + CONTEXT_FEATURES
_I = {name: i for i, name in enumerate(STEP_FEATURES)}
_DCN = CONTEXT_FEATURES.index("dcn")
_HPARAMS = [CONTEXT_FEATURES.index(n) for n in ("log10_lr", "log2_epochs", "log2_batch_size",
                                                "log2_train_samples")]


def _masked(values: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    return np.where(mask, values, fill)


def flat_features(encoded: EncodedFrame, *, use_dcn: bool = True,
                  use_hparams: bool = True) -> np.ndarray:
    """The flat feature matrix of an encoded frame.

    Args:
        encoded: the encoding of the predictor input frame.
        use_dcn: keep the DCN column (else it is set to 0).
        use_hparams: keep the hyperparameter columns (else set to 0).

    Returns:
        A float64 array ``(len(encoded), len(FLAT_FEATURES))``; NaN where a context value is
        unknown.
    """
    s = encoded.flat.astype(np.float64)
    starts = encoded.offsets
    lengths = encoded.lengths
    last = starts + lengths - 1
    before_head = last - 1

    def total(col: np.ndarray) -> np.ndarray:
        return np.add.reduceat(col, starts)

    def largest(col: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(col, starts)

    conv = s[:, _I["is_conv"]] > 0
    residual = s[:, _I["is_residual"]] > 0
    weighted = conv | residual
    pool = s[:, _I["is_pool"]] > 0
    kernel = s[:, _I["kernel"]]
    width = s[:, _I["log2_width"]]
    n_weighted = total(weighted.astype(float))
    spatial = s[:, _I["log2_out_height"]] > 0
    step_index = np.arange(len(s))
    # last step that still has a spatial map (the input at least), and first / last conv
    last_spatial = np.maximum.reduceat(np.where(spatial, step_index, -1), starts)
    last_spatial = np.where(last_spatial < starts, starts, last_spatial)
    first_conv = np.minimum.reduceat(np.where(weighted, step_index, len(s)), starts)
    last_conv = np.maximum.reduceat(np.where(weighted, step_index, -1), starts)
    has_conv = n_weighted > 0
    acts = [_I[n] for n in STEP_FEATURES if n.startswith("act_")]

    with np.errstate(invalid="ignore", divide="ignore"):
        arch = np.stack([
            lengths.astype(float),
            s[last, _I["depth"]],
            total(conv.astype(float)) + total(s[:, _I["res_convs"]]),
            total(pool.astype(float)),
            total(s[:, _I["pool_avg"]]),
            total(residual.astype(float)),
            total(s[:, _I["is_gap"]]),
            total(s[:, _I["is_fc"]]),
            total(s[:, _I["bn"]]),
            total(s[:, acts].sum(axis=1)),
            total((s[:, _I["dropout"]] > 0).astype(float)),
            largest(s[:, _I["dropout"]]),
            total((weighted & (s[:, _I["stride"]] >= 2)).astype(float)),
            *(total((conv & (kernel == k)).astype(float)) for k in (1, 3, 5, 7)),
            s[last, _I["log10_cum_params"]],
            s[last, _I["log10_cum_flops"]],
            s[last, _I["log10_cum_memory"]],
            s[last, _I["log10_params"]],
            np.where(has_conv, total(_masked(width, weighted, 0.0)) / n_weighted, 0.0),
            largest(_masked(width, weighted, 0.0)),
            np.where(has_conv, -largest(_masked(-width, weighted, -np.inf)), 0.0),
            np.where(has_conv, width[np.minimum(first_conv, len(s) - 1)], 0.0),
            np.where(has_conv, width[np.maximum(last_conv, 0)], 0.0),
            np.where(has_conv, total(_masked(kernel, weighted, 0.0)) / n_weighted, 0.0),
            largest(_masked(kernel, weighted, 0.0)),
            s[before_head, _I["log2_out_height"]],
            s[before_head, _I["log2_out_channels"]],
            s[last_spatial, _I["log2_receptive_field"]],
            s[last_spatial, _I["rf_coverage"]],
        ], axis=1)
    context = encoded.context.copy()
    if not use_dcn:
        context[:, _DCN] = 0.0
    if not use_hparams:
        context[:, _HPARAMS] = 0.0
    return np.concatenate([arch, context], axis=1)
