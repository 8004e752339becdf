"""The figures a search leaves behind, drawn from plain numbers.

- :func:`search_progress_figure`: mean reward per controller batch against random sampling's, and
  with rounds, the best real accuracy after each round;
- :func:`predicted_vs_real_figure`: predicted against real accuracy of the trained candidates
  (Kendall's tau and MAE in the title), optionally coloured by group (round, dataset);
- :func:`pareto_figure`: accuracy against parameters and against FLOPs, with the Pareto front
  (:func:`pareto_front`: no other network is at least as accurate for at most the cost).

Every function takes lists or arrays (not a search's result object, which lives above this room)
and returns a matplotlib :class:`~matplotlib.figure.Figure` on the Agg canvas, without pyplot's
global state, so figures can be drawn in any thread and on machines without a display.
:func:`save_figure` writes one to a file and logs it on an MLflow run. Series get distinguishable
styles up to 40 of them (:func:`series_styles`: ``tab20`` colours with varying markers), and legends
sit outside the axes, never on the data.

matplotlib is imported where a figure is made, not when this module is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tapaskit.tracking import TrackedRun

#: Marker shapes cycled with the 20 colours: 40 series have a unique (colour, marker) pair.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FRONT_COLOR = "black"  # not one of the series' tab20 colours
_CHOSEN_COLOR = "gold"


def series_styles(n: int) -> list[tuple[tuple[float, float, float], str]]:
    """``n`` (colour, marker) pairs: the 10 strong ``tab20`` colours, then the 10 light ones,
    with markers cycling so that neighbours differ in shape as well as colour."""
    from matplotlib import colormaps

    tab20 = colormaps["tab20"].colors  # pairs: (strong, light) per hue
    order = [*tab20[0::2], *tab20[1::2]]
    return [(tuple(order[i % 20]), MARKERS[i % len(MARKERS)]) for i in range(n)]


def _figure(width: float, height: float, panels: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _legend_outside(ax: Axes, **kwargs: Any) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7,
                  frameon=False, **kwargs)


def _floats(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise ValueError(f"{name} must hold at least one value, but got none")
    return array


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{', '.join(lengths)} must have the same length, but got {lengths}")


def search_progress_figure(
    batch_rewards: Sequence[float] | np.ndarray,
    *,
    random_rewards: Sequence[float] | np.ndarray | float | None = None,
    round_starts: Sequence[int] | None = None,
    round_best: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """How the search went.

    Args:
        batch_rewards: the strategy's mean reward of each controller batch, in order.
        random_rewards: random sampling's mean reward per batch (same x axis), or one number (the
            mean reward of random architectures), drawn as a line to beat.
        round_starts: the batch index where each round after the first starts (dotted lines).
        round_best: the best real (validation) accuracy after each round; adds a second panel.
        title: the figure's title (e.g. ``"search digits · reinforce"``).

    Returns:
        The figure: one panel, or two with ``round_best``.
    """
    rewards = _floats("batch_rewards", batch_rewards)
    figure, axes = _figure(9.5 if round_best is not None else 6.2, 3.8, 2 if round_best is not None else 1)
    ax = axes[0]
    batches = np.arange(1, len(rewards) + 1)
    ax.plot(batches, rewards, color=series_styles(1)[0][0], linewidth=1.4, label="search (mean per batch)")
    if len(rewards) >= 10:  # the trend through a noisy curve
        window = max(3, len(rewards) // 10)
        smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
        ax.plot(batches[window - 1:], smooth, color="black", linewidth=1.0, alpha=0.7,
                label=f"search ({window}-batch mean)")
    if random_rewards is not None:
        if np.ndim(random_rewards) == 0:
            ax.axhline(float(random_rewards), color="grey", linestyle="--", linewidth=1.1, label="random sampling")
        else:
            rand = _floats("random_rewards", random_rewards)
            ax.plot(np.arange(1, len(rand) + 1), rand, color="grey", linewidth=1.1, label="random sampling")
    for start in round_starts or ():
        ax.axvline(start + 0.5, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("controller batch")
    ax.set_ylabel("reward (predicted accuracy)")
    ax.set_title("reward per batch", fontsize=10)
    _legend_outside(ax)
    if round_best is not None:
        best = _floats("round_best", round_best)
        rounds = np.arange(1, len(best) + 1)
        ax2 = axes[1]
        ax2.plot(rounds, best, marker="o", color=series_styles(2)[1][0], linewidth=1.4)
        ax2.set_xticks(rounds)
        ax2.set_xlabel("round")
        ax2.set_ylabel("best real accuracy (validation)")
        ax2.set_title("best trained network after each round", fontsize=10)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return math.nan
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def predicted_vs_real_figure(
    real: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    highlight: int | None = None,
    title: str | None = None,
) -> Figure:
    """Predicted against real accuracy, one point per trained network, with the diagonal.

    Args:
        real: each network's real accuracy.
        predicted: the predictor's accuracy for it, in the same order.
        groups: a label per point (a round, a dataset): one colour and marker per group, the legend
            outside the axes; None draws one colour.
        highlight: index of a point to mark (the chosen network).
        title: put before the tau/MAE summary in the title.
    """
    x, y = _floats("real", real), _floats("predicted", predicted)
    _same_length(real=x, predicted=y)
    figure, (ax,) = _figure(6.4 if groups is not None else 5.0, 4.8)
    _scatter_groups(ax, x, y, groups)
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.any():
        low, high = float(min(x[finite].min(), y[finite].min())), float(max(x[finite].max(), y[finite].max()))
        pad = 0.02 + 0.05 * (high - low)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="black", linestyle="--", linewidth=0.8)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
    if highlight is not None:
        ax.scatter([x[highlight]], [y[highlight]], s=160, marker="*", color=_CHOSEN_COLOR, edgecolor="black",
                   linewidth=0.6, zorder=5, label="chosen")
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("real accuracy")
    ax.set_ylabel("predicted accuracy")
    tau = _kendall_tau(x[finite], y[finite])
    mae = float(np.abs(x[finite] - y[finite]).mean()) if finite.any() else math.nan
    summary = f"n {int(finite.sum())}, MAE {mae:.3f}" + (f", Kendall tau {tau:.3f}" if math.isfinite(tau) else "")
    ax.set_title(f"{title}: {summary}" if title else summary, fontsize=10)
    _legend_outside(ax)
    return figure


def _scatter_groups(ax: Axes, x: np.ndarray, y: np.ndarray, groups: Sequence[str] | None, **kwargs: Any) -> None:
    if groups is None:
        color, marker = series_styles(1)[0]
        ax.scatter(x, y, s=18, alpha=0.75, color=color, marker=marker, **kwargs)
        return
    labels = [str(g) for g in groups]
    if len(labels) != len(x):
        raise ValueError(f"groups must have one label per point ({len(x)}), but got {len(labels)}")
    names = list(dict.fromkeys(labels))  # first-seen order
    for name, (color, marker) in zip(names, series_styles(len(names))):
        mask = np.array([label == name for label in labels])
        ax.scatter(x[mask], y[mask], s=18, alpha=0.8, color=color, marker=marker, label=name, **kwargs)


def pareto_front(cost: Sequence[float] | np.ndarray, accuracy: Sequence[float] | np.ndarray) -> np.ndarray:
    """Indices of the Pareto-optimal points, by increasing cost.

    A point is on the front when no other point has at most its cost and more accuracy, or less
    cost and at least its accuracy. Points with a missing (non-finite) value are never on it; of
    exact duplicates, the first is.
    """
    c, a = np.asarray(cost, dtype=float).ravel(), np.asarray(accuracy, dtype=float).ravel()
    _same_length(cost=c, accuracy=a)
    valid = np.flatnonzero(np.isfinite(c) & np.isfinite(a))
    order = valid[np.lexsort((valid, -a[valid], c[valid]))]  # cost up, accuracy down, index up
    front, best = [], -math.inf
    for i in order:
        if a[i] > best:
            front.append(int(i))
            best = a[i]
    return np.asarray(front, dtype=int)


def pareto_figure(
    accuracy: Sequence[float] | np.ndarray,
    params: Sequence[float] | np.ndarray,
    flops: Sequence[float] | np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    highlight: int | None = None,
    accuracy_label: str = "real accuracy (validation)",
    title: str | None = None,
) -> Figure:
    """Accuracy against parameters and against FLOPs (log scales), each with its Pareto front.

    Args:
        accuracy: each network's accuracy.
        params: its parameter count, in the same order.
        flops: its FLOPs per image, in the same order.
        groups: a label per point (e.g. the round that trained it), or None.
        highlight: index of a point to mark (the chosen network).
        accuracy_label: the y axis's label.
        title: the figure's title.
    """
    acc = _floats("accuracy", accuracy)
    costs = {"parameters": _floats("params", params), "FLOPs": _floats("flops", flops)}
    _same_length(accuracy=acc, **{k: v for k, v in costs.items()})
    figure, axes = _figure(10.0 if groups is not None else 9.0, 4.0, 2)
    for ax, (name, cost) in zip(axes, costs.items()):
        _scatter_groups(ax, cost, acc, groups)
        front = pareto_front(cost, acc)
        if len(front):
            ax.step(cost[front], acc[front], where="post", color=_FRONT_COLOR, linewidth=1.3,
                    label="Pareto front", zorder=4)
            ax.scatter(cost[front], acc[front], s=36, facecolor="none", edgecolor=_FRONT_COLOR, linewidth=1.1,
                       zorder=4)
        if highlight is not None:
            ax.scatter([cost[highlight]], [acc[highlight]], s=160, marker="*", color=_CHOSEN_COLOR,
                       edgecolor="black", linewidth=0.6, zorder=5, label="chosen")
        if np.nanmin(cost) > 0:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(accuracy_label)
        ax.set_title(f"accuracy against {name}", fontsize=10)
    _legend_outside(axes[1])
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def save_figure(
    figure: Figure,
    path: str | Path | None = None,
    *,
    run: TrackedRun | None = None,
    artifact_file: str | None = None,
    dpi: int = 110,
) -> Path | None:
    """Write ``figure`` to ``path`` (format from the suffix, e.g. ``.png``) and/or log it on ``run``.

    Args:
        path: the file to write (parent folders are made); None writes no file.
        run: an MLflow run to log the figure on (``mlflow.log_figure``); a run with tracking off
            logs nothing.
        artifact_file: where in the run's artifacts; default ``plots/<path's name>``.
        dpi: resolution of raster formats.

    Returns:
        ``path`` as a :class:`Path`, or None when no path was given.
    """
    out = None
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=dpi, bbox_inches="tight")
    if run is not None:
        if artifact_file is None:
            if out is None:
                raise ValueError("save_figure needs artifact_file when no path is given")
            artifact_file = f"plots/{out.name}"
        run.log_figure(figure, artifact_file)
    return out
