"""`tapas benchmark search`: the percentile arithmetic, pick quality and the simulated search's
sample efficiency on a synthetic LDE."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import json_out, run_tapas
from lde import DuckDBStore, export_experiments, import_experiments
from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.evaluation import search_benchmark
from tapaskit.evaluation.search_benchmark import (
    METHODS,
    expected_best_percentile,
    percentile_of,
    random_picks_percentile,
    run_sample_efficiency,
    run_search_benchmark,
)
from tapaskit.predictor.synthetic import synthetic_lde


def test_percentiles_by_hand() -> None:
    pool = np.array([0.1, 0.2, 0.3, 0.4])
    assert percentile_of(pool, 0.4) == 100.0 and percentile_of(pool, 0.2) == 50.0
    # one pick from four: each rank 25, 50, 75, 100 equally likely -> 62.5 on average
    rng = np.random.default_rng(0)
    assert random_picks_percentile(pool, 1, rng, draws=20_000) == pytest.approx(62.5, abs=1.0)
    assert random_picks_percentile(pool, 4, rng) == 100.0  # picking all finds the best


@pytest.fixture(scope="module")
def store():
    # the synthetic rule: accuracy a known function of depth, width and DCN, on every dataset
    return synthetic_lde(n_datasets=4, n_archs=40, seed=9)


def test_picks_beat_random_picks_on_a_learnable_rule(store) -> None:
    report = run_search_benchmark(store, predictor="lightgbm", picks=3, track=False)
    assert report["datasets"] == 4 and report["unseen_architectures"] is False
    assert all(d["pool"] == 40 for d in report["per_dataset"].values())
    assert report["tap_best_percentile_mean"] > report["random_best_percentile_mean"] + 5


def test_unseen_architectures_pick_from_pools_the_predictor_never_saw(store) -> None:
    report = run_search_benchmark(store, predictor="lightgbm", picks=3, track=False,
                                  unseen_architectures=True)
    assert report["unseen_architectures"] is True
    for entry in report["per_dataset"].values():
        assert entry["pool"] == 20  # two folds of the 40 architectures
        assert entry["train_experiments"] == 3 * 20  # the fold's architectures are left out
    assert report["tap_best_percentile_mean"] > report["random_best_percentile_mean"]


def test_too_few_datasets_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="needs >= 2 datasets with a DCN"):
        run_search_benchmark(synthetic_lde(n_datasets=1, n_archs=30, seed=0), track=False)


@pytest.mark.parametrize("options, message", [
    ({"picks": 0}, "picks must be an integer >= 1, but got 0"),
    ({"min_pool": 0}, "min_pool must be an integer >= 1"),
    ({"tau": -0.1}, "tau must be a number >= 0, but got -0.1"),
])
def test_bad_options_are_refused_before_any_fit(options, message) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        run_search_benchmark(synthetic_lde(n_datasets=3, n_archs=30, seed=0), track=False, **options)


# ------------------------------------------------------------------ sample efficiency (issue 17)
CHECKS = (1, 2, 5, 10, 20)


def test_expected_best_percentile_is_exact() -> None:
    pool = np.array([0.1, 0.2, 0.3, 0.4])
    # n picks of 4: the best is the m-th with probability C(m-1, n-1) / C(4, n)
    assert expected_best_percentile(pool).tolist() == pytest.approx([62.5, 250 / 3, 93.75, 100.0])
    ties = np.array([0.5, 0.5, 0.9])  # a tie shares the higher percentile: 2/3 of the pool is <= 0.5
    assert expected_best_percentile(ties)[0] == pytest.approx((200 / 3 * 2 + 100) / 3)
    large = np.random.default_rng(3).random(120)
    assert expected_best_percentile(large, 7)[-1] == pytest.approx(
        random_picks_percentile(large, 7, np.random.default_rng(4), draws=20_000), abs=0.3)


@pytest.fixture(scope="module")
def efficiency(store, tmp_path_factory):
    plots = tmp_path_factory.mktemp("plots")
    return run_sample_efficiency(store, predictor="lightgbm", seeds=2, track=False, plot_dir=plots), store


def test_the_curves_table_has_every_method_and_checkpoint(efficiency) -> None:
    report, _ = efficiency
    assert report.checkpoints == CHECKS and tuple(report.curves) == METHODS
    assert report.runs == 4 * 2 and report.datasets == 4
    assert report.fits == report.runs * 4  # the first fit and a refit after each of 3 of the 4 rounds
    for table in (report.curves, report.curves_mean, *(d["curves"] for d in report.per_dataset.values())):
        for method in METHODS:
            values = [table[method][n] for n in CHECKS]
            assert all(0.0 <= v <= 100.0 for v in values)
            assert values == sorted(values), (method, values)  # the best so far never gets worse
    # the picks come from the predictor: far better than chance early on
    assert report.curves["rounds"][5] > report.curves["random"][5] + 5
    assert report.curves["one_pass"][5] > report.curves["random"][5] + 5


def test_random_curve_is_the_closed_form(efficiency) -> None:
    report, store = efficiency
    frame = store.query()
    expected = [expected_best_percentile(frame.loc[frame["dataset_name"] == name, "peak_accuracy"].to_numpy())
                for name in report.per_dataset]
    for n in CHECKS:  # every seed of a dataset has the same expectation; the median over datasets
        assert report.curves["random"][n] == pytest.approx(float(np.median([e[n - 1] for e in expected])))


def test_sample_efficiency_is_what_random_needs_over_what_rounds_needed(efficiency) -> None:
    report, store = efficiency
    frame = store.query()
    random = np.median([expected_best_percentile(frame.loc[frame["dataset_name"] == name, "peak_accuracy"]
                                                 .to_numpy()) for name in report.per_dataset], axis=0)
    at_budget, at_99 = report.efficiency_at_budget, report.efficiency_at_99th
    assert at_budget.target_percentile == report.curves["rounds"][20] and at_budget.rounds_trainings == 20
    assert at_99.target_percentile == 99.0
    for eff in (at_budget, at_99):
        needed = eff.random_trainings
        assert random[needed - 1] >= eff.target_percentile - 1e-9
        assert needed == 1 or random[needed - 2] < eff.target_percentile
        if eff.rounds_trainings is not None:
            assert eff.ratio == pytest.approx(needed / eff.rounds_trainings)


def test_report_keeps_the_one_pass_figures_and_draws_the_curves(efficiency) -> None:
    report, _ = efficiency
    data = json.loads(json.dumps(report.to_dict()))
    assert data["curves"]["rounds"]["5"] == report.curves["rounds"][5]
    for key in ("tap_best_percentile_mean", "random_best_percentile_mean", "tap_at_or_above_95th", "predictor",
                "picks", "datasets"):
        assert key in data
    for entry in data["per_dataset"].values():
        assert {"tap_best_percentile", "random_best_percentile", "pool", "dcn"} <= set(entry)
    assert report.tap_best_percentile_mean > report.random_best_percentile_mean
    png = Path(report.plot)
    assert png.name == "search_sample_efficiency.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_curves_other_seed_other_evolution(store) -> None:
    def run(seed: int):
        return run_sample_efficiency(store, predictor="lightgbm", seeds=1, seed=seed, trainings=5, track=False)

    first, again, other = run(0), run(0), run(1)
    assert first.curves == again.curves
    assert first.curves["evolution"] != other.curves["evolution"]


def test_family_holdout_keeps_the_whole_family_out(store) -> None:
    frame = store.query()
    names = sorted(frame["dataset_name"].unique())
    frame["dataset_name"] = frame["dataset_name"].replace({names[0]: "fam[a=1]", names[1]: "fam[a=2]"})

    class FrameStore:  # the benchmark reads nothing but the query
        def query(self):
            return frame.copy()

    by_family = run_sample_efficiency(FrameStore(), predictor="lightgbm", seeds=1, trainings=5, track=False)
    alone = run_sample_efficiency(FrameStore(), predictor="lightgbm", seeds=1, trainings=5, track=False,
                                  holdout="dataset")
    assert by_family.per_dataset["fam[a=1]"]["train_experiments"] == 2 * 40  # fam[a=2] left with it
    assert by_family.per_dataset[names[2]]["train_experiments"] == 3 * 40  # another family: both stay
    assert alone.per_dataset["fam[a=1]"]["train_experiments"] == 3 * 40
    assert by_family.checkpoints == (1, 2, 5)


def test_unseen_architectures_search_folds_of_the_pool(store) -> None:
    report = run_sample_efficiency(store, predictor="lightgbm", seeds=1, trainings=10, top_k=5, track=False,
                                   unseen_architectures=True)
    assert report.runs == 4 * 2 and report.config["unseen_architectures"] is True
    for entry in report.per_dataset.values():
        assert entry["pool"] == 20 and entry["train_experiments"] == 3 * 20


@pytest.mark.parametrize("options, message", [
    ({"trainings": 41}, "trainings must be at most the largest pool, the 40 trained networks"),
    ({"top_k": 0}, "top_k must be an integer >= 1, but got 0"),
    ({"seeds": 0}, "seeds must be an integer >= 1"),
    ({"holdout": "nope"}, "holdout must be one of family, dataset"),
    ({"acquisition": "nope"}, "acquisition must be one of"),
    ({"target_weight": 0}, "target_weight must be an integer >= 1"),
])
def test_sample_efficiency_refuses_bad_options_before_any_fit(store, options, message) -> None:
    seen: list[str] = []
    with pytest.raises(InvalidOptionError, match=message):
        run_sample_efficiency(store, predictor="lightgbm", track=False, progress=lambda *a: seen.append(a[0]),
                              **options)
    assert seen == []


def test_the_run_logs_the_report_and_the_curves(store, monkeypatch) -> None:
    logged: dict[str, object] = {}

    class FakeRun:
        run_id = "fake"

        def log_metrics(self, metrics):
            logged["metrics"] = metrics

        def log_dict(self, obj, artifact_file):
            logged[artifact_file] = obj

        def log_figure(self, figure, artifact_file):
            logged[artifact_file] = figure

    class FakeTracker:
        @contextmanager
        def run(self, kind, name, params):
            logged["params"] = params
            yield FakeRun()

    monkeypatch.setattr(search_benchmark, "Tracker", FakeTracker)
    report = run_sample_efficiency(store, predictor="lightgbm", seeds=1, trainings=5)
    assert report.mlflow_run_id == "fake" and report.plot is None
    assert "plots/search_sample_efficiency.png" in logged
    assert logged["search_benchmark.json"]["curves"]["rounds"][5] == report.curves["rounds"][5]
    assert logged["metrics"]["rounds_at_5"] == report.curves["rounds"][5]
    assert logged["params"]["holdout"] == "family" and logged["params"]["target_weight"] == 10


def test_cli_prints_the_table_as_json(tmp_path, home, monkeypatch) -> None:
    monkeypatch.setenv("TAPAS_TRACKING", "off")  # the MLflow run is checked above, without MLflow's start-up
    export_experiments(synthetic_lde(n_datasets=3, n_archs=25, seed=1), tmp_path / "tiny.parquet")
    import_experiments(DuckDBStore(tmp_path / "tiny.duckdb"), tmp_path / "tiny.parquet")
    data = json_out(run_tapas("benchmark", "search", "--predictor", "lightgbm", "--seeds", "1", "--trainings", "10",
                              "--lde", str(tmp_path / "tiny.duckdb"), "--plot", str(tmp_path / "plots"), "--json",
                              home=home))
    assert set(data["curves"]) == set(METHODS) and data["checkpoints"] == [1, 2, 5, 10]
    assert data["runs"] == 3 and data["efficiency_at_99th"]["target_percentile"] == 99.0
    assert (tmp_path / "plots" / "search_sample_efficiency.png").is_file()
