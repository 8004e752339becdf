"""Runs that start together on a fresh data home all succeed and all are recorded; a tracking
store that fails costs a warning line, never the training's LDE row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lde import DuckDBStore

ROOT = Path(__file__).resolve().parents[1]
ARCH = "[C(8,3,1), SM(10)]"

pytestmark = pytest.mark.slow


def _train(home: Path, lde: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "TAPAS_HOME": str(home), **(env_extra or {})}
    if "MLFLOW_TRACKING_URI" not in (env_extra or {}):
        env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "train", "digits", "--arch", ARCH,
                             "--epochs", "1", "--lde", str(lde), "--json"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("writers", [2, 3])
def test_runs_started_together_on_a_fresh_home_all_succeed_and_are_recorded(tmp_path, writers):
    home, lde = tmp_path / "home", tmp_path / "same.duckdb"
    procs = [_train(home, lde) for _ in range(writers)]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0] * writers, outcomes
    assert all("Traceback" not in err for _, err in outcomes)
    assert DuckDBStore(lde).stats()["experiments"] == writers


def test_a_broken_tracking_store_costs_a_warning_not_the_result(tmp_path):
    lde = tmp_path / "l.duckdb"
    (tmp_path / "blocker").write_text("a file where the store's folder would go")
    proc = _train(tmp_path / "home", lde, {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/blocker/mlflow.db"})
    code, err = proc.wait(timeout=600), proc.stderr.read()
    assert code == 0, err
    assert err.count("warning: MLflow tracking failed") == 1 and "Traceback" not in err
    assert DuckDBStore(lde).stats()["experiments"] == 1
