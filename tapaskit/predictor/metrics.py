"""How good a predictor is on one test set: errors and ranking quality.

A search only needs the predictor to *rank* candidates well, so the benchmark reports ranking
metrics (Kendall tau, Spearman rho, top-10% precision) next to the errors (MSE, MAE, R²), and
for ``predict(X, return_std=True)`` its calibration (:func:`calibration_report`): the share of true
accuracies within one and two standard deviations of the prediction (about 68 % and 95 % for a
calibrated Gaussian spread).

Conventions for degenerate inputs (one held-out dataset can be tiny or a baseline constant):

- a constant prediction (or constant truth) has no ranking: Kendall tau and Spearman rho are
  **0.0** (scipy says NaN), i.e. "no better than chance";
- R² of a constant truth is NaN (undefined);
- fewer than 2 rows: every ranking metric is NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from tapaskit.errors import DataError

__all__ = [
    "CALIBRATION_METRICS",
    "METRICS",
    "calibration_report",
    "kendall_tau",
    "mae",
    "mse",
    "r2",
    "regression_report",
    "spearman_rho",
    "top_fraction_precision",
]

#: The metric names of :func:`regression_report`, in report order.
METRICS: tuple[str, ...] = ("mse", "mae", "kendall_tau", "spearman_rho", "r2", "top10_precision")
#: The metric names of :func:`calibration_report`, in report order.
CALIBRATION_METRICS: tuple[str, ...] = ("coverage_1sigma", "coverage_2sigma", "mean_std",
                                        "std_scale_68")


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise DataError(
            f"y_true and y_pred must have the same length, but got {t.shape[0]} and {p.shape[0]}"
        )
    if t.size == 0:
        raise DataError("metrics need at least one prediction, but got 0")
    return t, p


def _constant(x: np.ndarray) -> bool:
    return bool(np.ptp(x) == 0.0)


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination (NaN when the truth is constant)."""
    t, p = _pair(y_true, y_pred)
    total = float(np.sum((t - t.mean()) ** 2))
    if total == 0.0:
        return math.nan
    return 1.0 - float(np.sum((t - p) ** 2)) / total


def kendall_tau(y_true: Any, y_pred: Any) -> float:
    """Kendall's tau-b between truth and prediction (0 for a constant, NaN below 2 rows)."""
    t, p = _pair(y_true, y_pred)
    if t.size < 2:
        return math.nan
    if _constant(t) or _constant(p):
        return 0.0
    return float(stats.kendalltau(t, p).statistic)


def spearman_rho(y_true: Any, y_pred: Any) -> float:
    """Spearman's rank correlation (0 for a constant, NaN below 2 rows)."""
    t, p = _pair(y_true, y_pred)
    if t.size < 2:
        return math.nan
    if _constant(t) or _constant(p):
        return 0.0
    return float(stats.spearmanr(t, p).statistic)


def top_fraction_precision(y_true: Any, y_pred: Any, fraction: float = 0.1) -> float:
    """Share of the predicted top ``fraction`` that is truly in the top ``fraction``.

    ``k = max(1, round(fraction * n))`` rows on each side; ties are broken by position (stable
    sort), so a constant prediction picks the first ``k`` rows.

    Raises:
        DataError: ``fraction`` outside (0, 1].
    """
    t, p = _pair(y_true, y_pred)
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"fraction must be in (0, 1], but got {fraction!r}")
    k = max(1, int(round(fraction * t.size)))
    true_top = set(np.argsort(-t, kind="stable")[:k].tolist())
    pred_top = np.argsort(-p, kind="stable")[:k]
    return sum(int(i) in true_top for i in pred_top) / k


def regression_report(y_true: Any, y_pred: Any) -> dict[str, float]:
    """All metrics of :data:`METRICS` for one test set."""
    return {
        "mse": mse(y_true, y_pred),
        "mae": mae(y_true, y_pred),
        "kendall_tau": kendall_tau(y_true, y_pred),
        "spearman_rho": spearman_rho(y_true, y_pred),
        "r2": r2(y_true, y_pred),
        "top10_precision": top_fraction_precision(y_true, y_pred, 0.1),
    }


def calibration_report(y_true: Any, y_pred: Any, y_std: Any) -> dict[str, float]:
    """How well a predicted standard deviation covers the errors of one test set.

    Returns:
        ``coverage_1sigma`` / ``coverage_2sigma``: the share of rows with
        ``|y_true - y_pred| <= 1 (2) * y_std`` (0.683 / 0.954 for a calibrated Gaussian);
        ``mean_std``: the mean standard deviation; ``std_scale_68``: the factor the standard
        deviations would need for 68.3 % coverage (the 68.3th percentile of ``|error| / std``,
        1.0 when calibrated). All NaN without standard deviations (``y_std`` None or NaN).
    """
    t, p = _pair(y_true, y_pred)
    if y_std is None:
        return {name: math.nan for name in CALIBRATION_METRICS}
    s = np.asarray(y_std, dtype=np.float64).reshape(-1)
    if s.shape != t.shape:
        raise DataError(f"y_std must have one value per row ({len(t)}), but got {s.shape[0]}")
    if not np.all(np.isfinite(s)):
        return {name: math.nan for name in CALIBRATION_METRICS}
    error = np.abs(t - p)
    s = np.maximum(s, 1e-12)
    return {
        "coverage_1sigma": float(np.mean(error <= s)),
        "coverage_2sigma": float(np.mean(error <= 2.0 * s)),
        "mean_std": float(np.mean(s)),
        "std_scale_68": float(np.quantile(error / s, 0.6827)),
    }
