"""Metrics against scipy/sklearn, the DCN-window training set, and the benchmark end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from lde import MemoryStore

from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor import (
    DEFAULT_MIN_DATASETS,
    DatasetMeanPredictor,
    LightGBMPredictor,
    TAPRegressor,
    regression_report,
    select_training_set,
)
from tapaskit.predictor.metrics import (
    CALIBRATION_METRICS,
    METRICS,
    kendall_tau,
    spearman_rho,
    top_fraction_precision,
)
from tapaskit.predictor.synthetic import synthetic_lde
from tapaskit.evaluation.predictor_benchmark import (
    ARCHITECTURE_FOLDS,
    _same_network_reference,
    _scenario_f,
    _splits,
    _Task,
    run_predictor_benchmark,
)

# -- metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scipy_and_sklearn(seed) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(57)
    p = y + rng.normal(0, 0.2, 57)
    p[:5] = p[5]  # ties
    report = regression_report(y, p)
    assert report["mse"] == pytest.approx(skm.mean_squared_error(y, p))
    assert report["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert report["r2"] == pytest.approx(skm.r2_score(y, p))
    assert report["kendall_tau"] == pytest.approx(stats.kendalltau(y, p).statistic)
    assert report["spearman_rho"] == pytest.approx(stats.spearmanr(y, p).statistic)
    assert list(report) == list(METRICS)


def test_top10_precision_by_hand_and_degenerate_cases() -> None:
    y = np.arange(20, dtype=float)  # the true top 10 % are rows 18 and 19
    p = y.copy()
    p[19] = -1.0  # the best network predicted worst: the predicted top 2 are 18 and 17
    assert top_fraction_precision(y, p, 0.1) == 0.5
    assert top_fraction_precision(y, y, 0.1) == 1.0
    assert kendall_tau(y, np.full(20, 0.5)) == 0.0 and spearman_rho(y, np.ones(20)) == 0.0
    assert math.isnan(kendall_tau([1.0], [1.0]))
    assert math.isnan(regression_report(np.ones(4), np.arange(4.0))["r2"])
    with pytest.raises(DataError, match="same length, but got 3 and 2"):
        regression_report([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\]"):
        top_fraction_precision(y, y, 0.0)


# -- training-set selection --------------------------------------------------------------------


@pytest.fixture(scope="module")
def five_datasets() -> MemoryStore:
    # DCNs 0.1, 0.3, 0.5, 0.7, 0.9; 20 experiments each
    return synthetic_lde(n_datasets=5, n_archs=20, seed=3)


def test_window_holds_the_datasets_within_tau(five_datasets) -> None:
    frame, tau, widened = select_training_set(five_datasets, 0.5, 0.2, min_experiments=1,
                                              min_datasets=1)
    assert sorted(frame["dcn"].unique()) == [0.3, 0.5, 0.7]  # bounds included
    assert tau == 0.2 and widened is False


def test_window_widens_until_enough_experiments_and_datasets(five_datasets) -> None:
    selection = select_training_set(five_datasets, 0.5, 0.05, min_experiments=30, min_datasets=2,
                                    exclude=["synthetic-2"])  # the dataset at 0.5 itself
    assert selection.widened and selection.tau == pytest.approx(0.2)
    assert sorted(selection.frame["dcn"].unique()) == [0.3, 0.7]
    # a frame works as well as a store, and the window never grows beyond [0, 1]
    frame = five_datasets.query()
    everything = select_training_set(frame, 0.1, 0.05, min_experiments=10_000)
    assert len(everything.frame) == 100 and everything.tau == pytest.approx(0.9)


def test_window_holds_six_datasets_by_default() -> None:
    # DCNs 0.05, 0.15, ..., 0.95, 40 networks each: around 0.5 the window widens to 0.25 for six
    store = synthetic_lde(n_datasets=10, n_archs=40, seed=3)
    assert DEFAULT_MIN_DATASETS == 6
    selection = select_training_set(store, 0.5)
    assert selection.frame["dataset_name"].nunique() == 6 and selection.widened
    assert selection.tau == pytest.approx(0.25)


def test_selection_errors(five_datasets) -> None:
    with pytest.raises(InvalidOptionError, match="min_datasets must be an integer >= 1, but got 0"):
        select_training_set(five_datasets, 0.5, min_datasets=0)
    with pytest.raises(InvalidOptionError, match=r"dcn must be a number in \[0, 1\], but got 1.5"):
        select_training_set(five_datasets, 1.5)
    with pytest.raises(InvalidOptionError, match="tau must be a number >= 0, but got -0.1"):
        select_training_set(five_datasets, 0.5, -0.1)
    with pytest.raises(InvalidOptionError, match="tau_step must be a positive number, but got 0"):
        select_training_set(five_datasets, 0.5, tau_step=0)
    names = [f"synthetic-{i}" for i in range(5)]
    with pytest.raises(DataError, match="no experiments to learn from"):
        select_training_set(five_datasets, None, exclude=names)
    assert select_training_set(five_datasets, None).tau is None


# -- the benchmark ---------------------------------------------------------------------------


def _fast_predictors() -> dict:
    return {
        "tap": TAPRegressor(train_steps=30, hidden_size=16, head_size=8),
        "lightgbm": LightGBMPredictor(n_estimators=50),
        "dataset_mean": DatasetMeanPredictor(),
    }


def test_benchmark_end_to_end_on_a_tiny_lde(tmp_path) -> None:
    store = synthetic_lde(n_datasets=3, n_archs=40, seed=4)
    calls = []
    report = run_predictor_benchmark(
        store, predictors=_fast_predictors(), tau=0.05, min_experiments=50, plot_dir=tmp_path,
        track=False, progress=lambda done, total, label: calls.append((done, total)))
    assert set(report) >= {"scenarios", "lde", "config", "plots", "seconds", "mlflow_run_id"}
    assert report["lde"]["experiments"] == 120 and report["lde"]["datasets_with_dcn"] == 3
    for scenario in ("A", "B", "C", "F"):
        entry = report["scenarios"][scenario]
        assert entry["skipped"] is False
        assert set(entry["predictors"]) == {"tap", "lightgbm", "dataset_mean"}
        tap = entry["predictors"]["tap"]
        for metric in (*METRICS, *CALIBRATION_METRICS):
            assert f"{metric}_mean" in tap
        assert set(tap["per_dataset"]) == {"synthetic-0", "synthetic-1", "synthetic-2"}
        assert set(tap["per_dataset"]["synthetic-0"]) == {*METRICS, *CALIBRATION_METRICS}
        assert 0.0 <= tap["coverage_1sigma_mean"] <= tap["coverage_2sigma_mean"] <= 1.0
        assert set(tap["calibration_pooled"]) == set(CALIBRATION_METRICS)
        # every synthetic dataset is a family of its own
        assert set(tap["per_family"]) == {"synthetic-0", "synthetic-1", "synthetic-2"}
        assert report["summary"]["tap"][scenario]["kendall_tau_mean"] == tap["kendall_tau_mean"]
    # A: half of each dataset held out; C: the window around each DCN had to widen
    assert report["scenarios"]["A"]["datasets"]["synthetic-1"] == {"n_train": 20, "n_test": 20}
    c_info = report["scenarios"]["C"]["datasets"]["synthetic-0"]
    assert c_info["widened"] is True and c_info["tau_used"] > 0.05 and c_info["n_train"] >= 40
    # the dataset mean knows nothing of networks
    assert report["scenarios"]["A"]["predictors"]["dataset_mean"]["kendall_tau_mean"] == 0.0
    assert calls[-1] == (36, 36) and len(calls) == 36  # 4 scenarios x 3 datasets x 3 predictors
    assert sorted(p.split("/")[-1] for p in report["plots"]) == sorted(
        f"predictor_{s}_{n}.png" for s in "ABCF" for n in ("tap", "lightgbm", "dataset_mean"))
    assert all((tmp_path / p.split("/")[-1]).stat().st_size > 1000 for p in report["plots"])
    json.dumps(report, allow_nan=False)  # strict JSON: undefined values are None
    # B and C carry the same-network reference (one pool on every dataset: all covered); A not
    assert "reference" not in report["scenarios"]["A"]
    reference = report["scenarios"]["C"]["reference"]
    assert reference["name"] == "same_networks" and reference["coverage_mean"] == 1.0
    assert set(reference["per_dataset"]) == {"synthetic-0", "synthetic-1", "synthetic-2"}
    assert -1.0 <= reference["kendall_tau_mean"] <= 1.0


def test_same_network_reference_by_hand() -> None:
    # train: a 2-class dataset where a reaches 0.6 (chance-corrected 0.2), b 0.8 (0.6);
    # test: a 4-class dataset with a, b and c, which was never trained on the train side
    train = pd.DataFrame({"arch_hash": ["a", "b"], "num_classes": [2, 2],
                          "peak_accuracy": [0.6, 0.8]})
    test = pd.DataFrame({"arch_hash": ["a", "b", "c"], "num_classes": [4, 4, 4],
                         "peak_accuracy": [0.5, 0.6, 0.9]})
    metrics, coverage = _same_network_reference(_Task("t", train, test))
    # predicted 0.25 + 0.2 * 0.75 = 0.4 for a and 0.25 + 0.6 * 0.75 = 0.7 for b
    assert coverage == pytest.approx(2 / 3)
    assert metrics["mae"] == pytest.approx((0.1 + 0.1) / 2)
    assert metrics["kendall_tau"] == pytest.approx(1.0)
    assert _same_network_reference(_Task("t", train, test.iloc[2:])) is None


def test_unseen_architecture_splits_keep_test_architectures_out_of_training() -> None:
    frame = synthetic_lde(n_datasets=3, n_archs=30, seed=7).query()
    held = frame["dataset_name"] == "synthetic-0"
    task = _Task("synthetic-0", frame[~held], frame[held])
    assert _splits(task, "C", False, 0) == [(task.train, task.test)]
    pairs = _splits(task, "C", True, 0)
    assert len(pairs) == ARCHITECTURE_FOLDS == 2
    for train, test in pairs:
        assert not set(train["arch_hash"]) & set(test["arch_hash"])
        assert len(train) == 2 * 15 and len(test) == 15  # the other half, on both datasets
    # every test network is scored exactly once, and the folds follow the seed
    scored = pd.concat([test for _, test in pairs])["experiment_id"]
    assert sorted(scored) == sorted(task.test["experiment_id"])
    again = _splits(task, "C", True, 0)
    assert [list(t["arch_hash"]) for _, t in again] == [list(t["arch_hash"]) for _, t in pairs]
    # A: one split whose training part loses the test architectures (a repeated one here)
    part = frame[held]
    repeated = pd.concat([part, part.iloc[:3]])
    a_task = _Task("synthetic-0", repeated.iloc[10:], repeated.iloc[:10])
    [(train, test)] = _splits(a_task, "A", True, 0)
    assert len(train) == len(repeated) - 10 - 3 and test is a_task.test
    assert not set(train["arch_hash"]) & set(test["arch_hash"])


def test_benchmark_on_unseen_architectures_scores_every_fold() -> None:
    store = synthetic_lde(n_datasets=3, n_archs=30, seed=8)
    calls = []
    report = run_predictor_benchmark(
        store, scenarios="BC", predictors={"lightgbm": LightGBMPredictor(n_estimators=20)},
        min_experiments=20, unseen_architectures=True, track=False,
        progress=lambda done, total, label: calls.append((done, total)))
    assert calls[-1] == (12, 12)  # 2 scenarios x 3 datasets x 2 folds
    assert report["config"]["unseen_architectures"] is True
    assert report["config"]["architecture_folds"] == 2
    for scenario in ("B", "C"):
        entry = report["scenarios"][scenario]
        assert "reference" not in entry  # every test network is unseen: nothing to refer to
        per = entry["predictors"]["lightgbm"]["per_dataset"]
        assert set(per) == {"synthetic-0", "synthetic-1", "synthetic-2"}
        assert all(-1.0 <= d["kendall_tau"] <= 1.0 for d in per.values())


def test_single_dataset_without_dcn_runs_only_scenario_a() -> None:
    frame = synthetic_lde(n_datasets=1, n_archs=30, seed=5).query().assign(dcn=np.nan)
    report = run_predictor_benchmark(frame, predictors={"lightgbm": LightGBMPredictor(
        n_estimators=20)}, track=False)
    assert report["scenarios"]["A"]["skipped"] is False
    for scenario in ("B", "C", "F"):
        assert report["scenarios"][scenario]["skipped"] is True
        assert "needs" in report["scenarios"][scenario]["note"]
        assert report["scenarios"][scenario]["predictors"] == {}


def test_benchmark_argument_errors() -> None:
    store = synthetic_lde(n_datasets=2, n_archs=5, seed=0)
    with pytest.raises(InvalidOptionError, match="scenarios must be among A, B, C"):
        run_predictor_benchmark(store, scenarios=("D",), track=False)
    only_a = run_predictor_benchmark(store, scenarios="a", track=False,
                                     predictors={"mean": DatasetMeanPredictor()})
    assert list(only_a["scenarios"]) == ["A"] and only_a["config"]["scenarios"] == ["A"]
    with pytest.raises(InvalidOptionError, match=r"test_fraction must be in \(0, 1\)"):
        run_predictor_benchmark(store, test_fraction=1.0, track=False)
    with pytest.raises(InvalidOptionError, match="min_datasets must be an integer >= 1"):
        run_predictor_benchmark(store, min_datasets=0, track=False)  # before any scenario runs
    with pytest.raises(InvalidOptionError, match="predictor must be one of"):
        run_predictor_benchmark(store, predictors=["oracle"], track=False)
    with pytest.raises(DataError, match="no ok experiment"):
        run_predictor_benchmark(MemoryStore(), track=False)


class _MustNotBeFitted(DatasetMeanPredictor):
    def fit(self, X, y):
        raise AssertionError("fitted before the plot folder was made")


def test_a_plot_folder_that_cannot_be_made_fails_before_any_fit(tmp_path) -> None:
    a_file = tmp_path / "plots"
    a_file.write_text("a file where the folder goes")
    with pytest.raises(FileExistsError):
        run_predictor_benchmark(synthetic_lde(n_datasets=2, n_archs=5, seed=0), plot_dir=a_file,
                                predictors={"mean": _MustNotBeFitted()}, track=False)
    nested = tmp_path / "new" / "plots"
    run_predictor_benchmark(synthetic_lde(n_datasets=2, n_archs=5, seed=0), scenarios="A",
                            plot_dir=nested, predictors={"mean": DatasetMeanPredictor()}, track=False)
    assert sorted(p.name for p in nested.iterdir()) == ["predictor_A_mean.png"]


@pytest.mark.slow
def test_benchmark_logs_an_mlflow_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("TAPAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TAPAS_TRACKING", "on")
    monkeypatch.chdir(tmp_path)  # with a user's store MLflow puts artifacts in ./mlruns, not in the repo
    store = synthetic_lde(n_datasets=2, n_archs=20, seed=6)
    report = run_predictor_benchmark(store, scenarios=("A",), predictors={
        "lightgbm": LightGBMPredictor(n_estimators=20)}, track=True)
    assert report["mlflow_run_id"]
    from tapaskit.tracking import Tracker

    run = Tracker().client.get_run(report["mlflow_run_id"])
    assert "A.lightgbm.kendall_tau_mean" in run.data.metrics
    artifacts = {a.path for a in Tracker().client.list_artifacts(report["mlflow_run_id"])}
    assert "predictor_benchmark.json" in artifacts and "plots" in artifacts


# -- scenario F: the held-out dataset's whole family leaves the training set --------------------


def _families_lde() -> pd.DataFrame:
    """Six synthetic datasets renamed into three families (one with a recorded lineage)."""
    frame = synthetic_lde(n_datasets=6, n_archs=12, seed=2).query()
    names = {"synthetic-0": "alpha", "synthetic-1": "alpha[n=100]", "synthetic-2": "alpha[noise=0.2]",
             "synthetic-3": "beta[size=8]", "synthetic-4": "beta", "synthetic-5": "cells"}
    frame["dataset_name"] = frame["dataset_name"].map(names)
    frame["dataset_lineage"] = np.where(frame["dataset_name"] == "cells", "beta", None)
    return frame


def test_family_of_reads_the_base_name_or_the_lineage() -> None:
    from tapaskit.predictor import dataset_families, family_of

    assert family_of("fashion-mnist[classes=1,8;n=2000;size=16]") == "fashion-mnist"
    assert family_of("mnist-5k[n=600;size=16]") == "mnist-5k"
    assert family_of("digits") == "digits"
    assert family_of("my data/cells[n=50]") == "my data/cells"
    assert family_of("cells", lineage="lab") == "lab" and family_of("cells", lineage=None) == "cells"
    frame = _families_lde()
    families = dataset_families(frame)
    assert dict(zip(frame["dataset_name"], families)) == {
        "alpha": "alpha", "alpha[n=100]": "alpha", "alpha[noise=0.2]": "alpha",
        "beta[size=8]": "beta", "beta": "beta", "cells": "beta"}


def test_scenario_f_leaves_the_whole_family_out() -> None:
    frame = _families_lde()
    frame["_dataset"] = frame["dataset_name"]
    from tapaskit.predictor import dataset_families

    frame["_family"] = dataset_families(frame).to_numpy()
    tasks, note = _scenario_f(frame, 0.05, min_experiments=10, min_datasets=1)
    assert note is None and len(tasks) == 6
    for task in tasks:
        family = task.info["family"]
        assert not (task.train["_family"] == family).any()  # no sibling left in training
        assert set(task.test["_dataset"]) == {task.dataset}
        assert task.info["family_left_out"] == 2
    one_family = frame.assign(_family="alpha")
    assert _scenario_f(one_family, 0.05, 10, 1) == ([], "needs datasets with a DCN from at least "
                                                       "2 families, but the LDE has 1 (alpha)")


def test_benchmark_reports_f_beside_c_per_family() -> None:
    report = run_predictor_benchmark(
        _families_lde(), scenarios="CF", predictors={"lightgbm": LightGBMPredictor(n_estimators=20)},
        min_experiments=10, min_datasets=5, track=False)
    c, f = (report["scenarios"][s] for s in "CF")
    assert report["families"] == {"alpha": ["alpha", "alpha[n=100]", "alpha[noise=0.2]"],
                                  "beta": ["beta", "beta[size=8]", "cells"]}
    # F trains on the other family only: never more rows than C for the same held-out dataset
    for dataset, info in f["datasets"].items():
        assert info["n_train"] == 36 and info["family_left_out"] == 2  # all of the other family
    assert set(f["predictors"]["lightgbm"]["per_family"]) == {"alpha", "beta"}
    assert f["predictors"]["lightgbm"]["per_family"]["alpha"]["datasets"] == 3
    assert set(report["summary"]["lightgbm"]) == {"C", "F"}
    json.dumps(report, allow_nan=False)
    assert all(info["n_train"] == 60 for info in c["datasets"].values())  # C keeps the siblings
