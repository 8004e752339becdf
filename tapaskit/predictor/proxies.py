"""Zero-cost proxies as predictor inputs: read from the frame, optionally standardised per dataset.

A zero-cost proxy scores a (network, dataset) pair at initialisation from one minibatch (synflow,
snip, grad-norm, jacob-cov, NASWOT); the LDE's experiment frame holds them in the ``proxy_*``
columns of :data:`~tapaskit.predictor.inputs.PROXY_COLUMNS`, log-scaled where the raw values span
magnitudes, NaN where not computed. They are optional inputs: imported records have none, and a
search scores thousands of proposals without them and computes them for a shortlist only. So
every predictor that reads them (TAP, LightGBM, the random forest) works with the columns absent,
NaN, or present on some rows only:

- it uses only the proxies its training rows hold (fitted ``proxies_``; one never seen in
  training is ignored at prediction, so no untrained weight ever reads a value);
- TAP reads each proxy's value (the training mean where missing) and a presence flag; LightGBM
  reads NaN natively; the random forest reads the training mean and the flag;
- ``proxy_dropout``: while fitting, a seeded share of the training rows that have proxies is shown
  without them, so that a predictor fitted with proxies still predicts well for rows without.

Scaling (``proxy_scaling``): ``"raw"`` reads the values as they are; ``"dataset"`` their z-scores
within the rows of one dataset (``dataset_name``; all rows when absent) of the frame at hand,
which drops each dataset's level and spread (a proxy ranks networks within a dataset; its level
differs between datasets); ``"both"`` reads both. A z-score needs the other rows of the dataset
in the same frame, so with ``"dataset"`` a row's prediction depends on which candidates are scored
with it (on the benchmark's test sets: every network of the held-out dataset).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tapaskit.errors import InvalidOptionError
from tapaskit.predictor.inputs import PROXY_COLUMNS, group_codes

__all__ = [
    "MIN_PROXY_ROWS",
    "PROXY_SCALINGS",
    "check_proxy_params",
    "hidden_rows",
    "proxy_block",
    "proxy_matrix",
    "reads_proxies",
    "used_proxies",
]

#: How the proxies are read (see the module docstring).
PROXY_SCALINGS: tuple[str, ...] = ("raw", "dataset", "both")
#: A proxy is used only when at least this many training rows hold it.
MIN_PROXY_ROWS = 10
#: Fewest rows with a value a dataset needs for its z-scores (else they are NaN).
_MIN_GROUP = 3


def proxy_matrix(X: pd.DataFrame) -> np.ndarray:
    """The proxies of every row, raw then standardised per dataset.

    Returns:
        A float64 array ``(len(X), 2 * len(PROXY_COLUMNS))``: the raw values of
        :data:`PROXY_COLUMNS`, then their z-scores within the rows of each dataset; NaN where a
        row has no value (and for the z-scores of a dataset with fewer than 3 values).
    """
    n, p = len(X), len(PROXY_COLUMNS)
    out = np.full((n, 2 * p), np.nan)
    present = [j for j, c in enumerate(PROXY_COLUMNS) if c in X.columns]
    if not present:
        return out
    groups = group_codes(X)
    for j in present:
        values = pd.to_numeric(X[PROXY_COLUMNS[j]], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
        values = np.where(np.isfinite(values), values, np.nan)
        out[:, j] = values
        if np.isnan(values).all():
            continue
        series = pd.Series(values)
        by = series.groupby(groups)
        mean = by.transform("mean").to_numpy()
        std = by.transform("std", ddof=0).to_numpy()
        count = by.transform("count").to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(std > 1e-12, (values - mean) / std, 0.0)
        out[:, p + j] = np.where((count >= _MIN_GROUP) & ~np.isnan(values), z, np.nan)
    return out


def check_proxy_params(proxies: Sequence[str] | None, scaling: str, dropout: float) -> tuple[str, ...]:
    """The checked proxy names of a predictor's ``proxies`` hyperparameter.

    Raises:
        InvalidOptionError: an unknown proxy or scaling, or a dropout outside [0, 1).
    """
    names = () if proxies is None else (proxies,) if isinstance(proxies, str) else tuple(proxies)
    unknown = [name for name in names if name not in PROXY_COLUMNS]
    if unknown:
        raise InvalidOptionError(
            f"proxies must be among {', '.join(PROXY_COLUMNS)}, but got {unknown[0]!r}"
        )
    if scaling not in PROXY_SCALINGS:
        raise InvalidOptionError(
            f"proxy_scaling must be one of {', '.join(PROXY_SCALINGS)}, but got {scaling!r}"
        )
    if not (isinstance(dropout, (int, float)) and 0.0 <= float(dropout) < 1.0):
        raise InvalidOptionError(f"proxy_dropout must be a number in [0, 1), but got {dropout!r}")
    return tuple(dict.fromkeys(names))


def used_proxies(matrix: np.ndarray, names: Sequence[str]) -> list[str]:
    """The proxies among ``names`` that at least :data:`MIN_PROXY_ROWS` training rows hold."""
    counts = np.sum(~np.isnan(matrix[:, :len(PROXY_COLUMNS)]), axis=0)
    return [name for name in PROXY_COLUMNS
            if name in names and counts[PROXY_COLUMNS.index(name)] >= MIN_PROXY_ROWS]


def proxy_block(matrix: np.ndarray, names: Sequence[str], scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """The columns a predictor reads: values (NaN where missing) and presence flags.

    Args:
        matrix: :func:`proxy_matrix` of the frame.
        names: the fitted ``proxies_``.
        scaling: ``"raw"``, ``"dataset"`` or ``"both"``.

    Returns:
        ``(values, present)``: ``(N, len(names) * (2 if both else 1))`` float64 and
        ``(N, len(names))`` float64 of 0/1 (a row has the raw value).
    """
    p = len(PROXY_COLUMNS)
    raw = [PROXY_COLUMNS.index(name) for name in names]
    columns = {"raw": raw, "dataset": [p + j for j in raw], "both": raw + [p + j for j in raw]}[scaling]
    present = (~np.isnan(matrix[:, raw])).astype(np.float64)
    return matrix[:, columns], present


def hidden_rows(present: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A seeded ``share`` of the rows holding a proxy, to be shown without their proxies (bool)."""
    out = np.zeros(len(present), dtype=bool)
    if share <= 0 or present.shape[1] == 0:
        return out
    rows = np.flatnonzero(present.any(axis=1))
    rng = np.random.default_rng([seed, 1_000_003, len(present)])
    out[rows[rng.random(len(rows)) < share]] = True
    return out


def reads_proxies(predictor: object) -> bool:
    """Whether a fitted predictor, or a member or the level model of an ensemble, uses a proxy
    (a search computes proxies for its shortlist only when one does)."""
    if getattr(predictor, "proxies_", None):
        return True
    parts = [*(getattr(predictor, "estimators_", None) or []), getattr(predictor, "level_", None)]
    return any(part is not None and hasattr(part, "predict") and reads_proxies(part) for part in parts)
