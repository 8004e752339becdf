"""`tapas benchmark predictor` as a user runs it, on a small LDE file."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_tapas
from lde import export_experiments
from tapaskit.predictor.synthetic import synthetic_lde


@pytest.fixture(scope="module")
def tiny_lde(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tiny")
    export_experiments(synthetic_lde(n_datasets=4, n_archs=30, seed=2), folder / "tiny.parquet")
    path = folder / "tiny.duckdb"
    proc = run_tapas("lde", "import", str(folder / "tiny.parquet"), "--lde", str(path),
                     home=folder / "home")
    assert proc.returncode == 0, proc.stderr
    return str(path)


def test_benchmark_predictor_json_and_table(tiny_lde, tmp_path) -> None:
    args = ("benchmark", "predictor", "--lde", tiny_lde, "--scenario", "C",
            "--predictors", "lightgbm,dataset_mean", "--min-datasets", "2")
    proc = run_tapas(*args, "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    entry = report["scenarios"]["C"]
    assert report["config"]["min_datasets"] == 2
    assert set(entry["predictors"]) == {"lightgbm", "dataset_mean"}
    assert all(info["train_datasets"] >= 2 for info in entry["datasets"].values())
    assert entry["reference"]["coverage_mean"] == 1.0  # one pool of networks on every dataset
    table = run_tapas(*args, home=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "Scenario C" in table.stdout and "lightgbm" in table.stdout
    assert "reference, not a predictor" in table.stdout
    # 4 datasets x 30 experiments are fewer than the 200 a window wants, so every window widened
    assert all(info["widened"] for info in entry["datasets"].values())
    taus = sorted(info["tau_used"] for info in entry["datasets"].values())
    assert (f"DCN window tau 0.05, widened for 4 of 4 held-out datasets to tau {taus[0]:.3g}-{taus[-1]:.3g} "
            "to hold 2 datasets and 200 experiments") in table.stdout
    assert re.search(r"^MLflow run [0-9a-f]{32} \(tapas ui\)$", table.stdout, re.MULTILINE)


def test_benchmark_predictor_on_unseen_architectures(tiny_lde, tmp_path) -> None:
    proc = run_tapas("benchmark", "predictor", "--lde", tiny_lde, "--scenario", "C",
                     "--predictors", "lightgbm", "--min-datasets", "2", "--unseen-architectures",
                     "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["config"]["unseen_architectures"] is True
    assert "reference" not in report["scenarios"]["C"]
    assert len(report["scenarios"]["C"]["predictors"]["lightgbm"]["per_dataset"]) == 4
    table = run_tapas("benchmark", "predictor", "--lde", tiny_lde, "--scenario", "C",
                      "--predictors", "lightgbm", "--min-datasets", "2", "--unseen-architectures",
                      home=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "unseen architectures: test networks kept out of training (2 folds" in table.stdout
    assert "reference, not a predictor" not in table.stdout


def test_benchmark_predictor_rejects_a_bad_window_in_one_line(tiny_lde, tmp_path) -> None:
    proc = run_tapas("benchmark", "predictor", "--lde", tiny_lde, "--scenario", "C",
                     "--min-datasets", "0", home=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: min_datasets must be an integer >= 1, but got 0"


def test_benchmark_predictor_regime_scenario_and_proxy_ablation(tiny_lde, tmp_path) -> None:
    # one regime only: scenario R is reported as its three parts, each skipped with a note
    proc = run_tapas("benchmark", "predictor", "--lde", tiny_lde, "--scenario", "R",
                     "--predictors", "dataset_mean", "--json", home=tmp_path)
    report = json.loads(proc.stdout) if proc.returncode == 0 else pytest.fail(proc.stderr)
    parts = ["R_small_to_large", "R_large_to_small", "R_large_by_family"]
    assert list(report["scenarios"]) == parts
    assert all(report["scenarios"][p]["skipped"] for p in parts)
    assert report["regimes"] == {"small": sorted(report["lde"]["per_dataset"])}
    table = run_tapas("benchmark", "predictor", "--lde", tiny_lde, "--ablation-proxies",
                      "--predictors", "lightgbm", "--scenario", "C", "--min-datasets", "2",
                      home=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "Proxy ablation: lightgbm" in table.stdout and "rows with proxies: 0 of 120" in table.stdout
    for variant in ("none", "synflow", "naswot", "all"):
        assert re.search(rf"^\W*{variant}\W", table.stdout, re.MULTILINE), variant
