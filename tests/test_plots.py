"""The search's figures: drawn from plain numbers, written as PNG, logged on a run, legible."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tapaskit.evaluation.plots import (
    pareto_figure,
    pareto_front,
    predicted_vs_real_figure,
    save_figure,
    search_progress_figure,
    series_styles,
)
from tapaskit.tracking import TrackedRun

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 5_000


def _legend_clear_of_axes(figure) -> bool:
    """Every legend lies beside its axes, not over the data."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = [(ax, ax.get_legend()) for ax in figure.axes if ax.get_legend() is not None]
    assert legends
    return all(not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
               for ax, legend in legends)


def test_each_figure_is_written_as_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rewards = 0.5 + 0.3 * (1 - np.exp(-np.arange(40) / 10)) + rng.normal(0, 0.02, 40)
    real = rng.uniform(0.3, 0.95, 30)
    params = 10 ** rng.uniform(3, 6, 30)
    figures = {
        "progress.png": search_progress_figure(rewards, random_rewards=rng.normal(0.5, 0.02, 40),
                                               round_starts=[15, 30], round_best=[0.8, 0.85, 0.86],
                                               title="search digits · reinforce"),
        "progress_plain.png": search_progress_figure(list(rewards[:5]), random_rewards=0.5),
        "predicted.png": predicted_vs_real_figure(real, real + rng.normal(0, 0.05, 30), highlight=2),
        "pareto.png": pareto_figure(real, params, params * 40, groups=[f"round {i % 3 + 1}" for i in range(30)],
                                    highlight=int(np.argmax(real))),
    }
    for name, figure in figures.items():
        path = save_figure(figure, tmp_path / "plots" / name)
        assert path == tmp_path / "plots" / name and _is_png(path), name
    assert len(figures["progress.png"].axes) == 2 and len(figures["progress_plain.png"].axes) == 1
    assert "Kendall tau" in figures["predicted.png"].axes[0].get_title()


def test_thirteen_and_more_series_are_told_apart_and_the_legend_is_off_the_data(tmp_path) -> None:
    styles = series_styles(40)
    assert len(set(styles)) == 40  # (colour, marker) pairs
    assert len({colour for colour, _ in styles[:20]}) == 20
    assert all(a[0] != b[0] and a[1] != b[1] for a, b in itertools.pairwise(styles))  # neighbours differ twice

    rng = np.random.default_rng(1)
    groups = [f"dataset-{i % 15:02d}" for i in range(300)]
    real = rng.uniform(0.2, 1.0, 300)
    figure = predicted_vs_real_figure(real, real + rng.normal(0, 0.05, 300), groups=groups)
    assert len(figure.axes[0].get_legend().get_texts()) == 15
    assert _legend_clear_of_axes(figure)
    assert _legend_clear_of_axes(pareto_figure(real, real * 1e5, real * 1e7, groups=groups))
    assert _is_png(save_figure(figure, tmp_path / "many.png"))


def test_pareto_front() -> None:
    cost = [10, 20, 30, 40, 15, 25, np.nan, 5]
    acc = [0.5, 0.7, 0.6, 0.9, 0.5, 0.7, 0.99, 0.3]
    # 7 is cheapest; 0 beats 4 (same accuracy, less cost); 1 beats 5; 2 is dominated by 1; NaN is out
    assert pareto_front(cost, acc).tolist() == [7, 0, 1, 3]
    assert pareto_front([1, 1], [0.5, 0.5]).tolist() == [0]  # duplicates: the first
    assert pareto_front([], []).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        pareto_front([1, 2], [0.5])


def test_save_figure_logs_on_a_run(tmp_path) -> None:
    logged = []

    class Client:  # stands in for MlflowClient: the call TrackedRun makes
        def log_figure(self, run_id, figure, artifact_file):
            path = tmp_path / "artifacts" / run_id / artifact_file
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path)
            logged.append(artifact_file)

    run = TrackedRun(Client(), "run-1")
    figure = search_progress_figure([0.5, 0.6, 0.7])
    save_figure(figure, tmp_path / "out" / "progress.png", run=run)
    save_figure(figure, run=run, artifact_file="plots/again.png")
    assert logged == ["plots/progress.png", "plots/again.png"]
    assert _is_png(tmp_path / "artifacts" / "run-1" / "plots" / "progress.png")
    TrackedRun(None, None).log_figure(figure, "plots/x.png")  # tracking off: nothing, no error
    with pytest.raises(ValueError, match="artifact_file"):
        save_figure(figure, run=run)


def test_bad_input_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="batch_rewards must hold at least one value"):
        search_progress_figure([])
    with pytest.raises(ValueError, match="same length"):
        predicted_vs_real_figure([0.5, 0.6], [0.5])
    with pytest.raises(ValueError, match="one label per point"):
        predicted_vs_real_figure([0.5, 0.6], [0.5, 0.6], groups=["a"])
