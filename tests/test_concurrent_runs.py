"""Runs that start together all succeed and all are recorded, on a fresh and on an existing data home,
with the default tracking store or a user's sqlite one; a tracking store that fails costs a warning
line, never the training's LDE row; artifacts never land in the user's current folder."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lde import DuckDBStore
from lde.default import embedded_default_path, embedded_rows

ROOT = Path(__file__).resolve().parents[1]
ARCH = "[C(8,3,1), SM(10)]"

pytestmark = pytest.mark.slow


def _train(home: Path, lde: Path | None, env_extra: dict[str, str] | None = None,
           cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = {**os.environ, "TAPAS_HOME": str(home), "PYTHONPATH": str(ROOT), **(env_extra or {})}
    if "MLFLOW_TRACKING_URI" not in (env_extra or {}):
        env.pop("MLFLOW_TRACKING_URI", None)
    where = ["--lde", str(lde)] if lde is not None else []
    return subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "train", "digits", "--arch", ARCH,
                             "--epochs", "1", *where, "--json"], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _all_succeed(procs: list[subprocess.Popen[str]]) -> list[dict]:
    """Wait for every run; each exits 0 without a traceback and prints its result."""
    outcomes = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
    assert [code for code, _, _ in outcomes] == [0] * len(procs), [err[-2000:] for _, _, err in outcomes]
    assert all("Traceback" not in err for _, _, err in outcomes)
    return [json.loads(out) for _, out, _ in outcomes]


@pytest.mark.parametrize("writers", [2, pytest.param(3, marks=pytest.mark.long)])
def test_runs_started_together_on_a_fresh_home_all_succeed_and_are_recorded(tmp_path, writers):
    home, lde = tmp_path / "home", tmp_path / "same.duckdb"
    results = _all_succeed([_train(home, lde) for _ in range(writers)])
    assert DuckDBStore(lde).stats()["experiments"] == writers
    assert len({r["mlflow_run_id"] for r in results}) == writers  # each tracked too


@pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")
def test_runs_started_together_fill_the_default_lde_once(tmp_path):
    """Three first uses of one fresh home at once: the default LDE is filled once, all three recorded."""
    home = tmp_path / "home"
    _all_succeed([_train(home, None) for _ in range(3)])
    stats = DuckDBStore(home / "lde.duckdb").stats()
    assert stats["experiments"] == embedded_rows() + 3 and stats["by_source"]["train"] == 3
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".lde")) == []  # no private fill file left


@pytest.mark.parametrize("writers", [2, pytest.param(3, marks=pytest.mark.long)])
def test_runs_started_together_on_an_existing_home_all_succeed_and_are_recorded(tmp_path, writers):
    home, lde = tmp_path / "home", tmp_path / "same.duckdb"
    _all_succeed([_train(home, lde)])  # the LDE and the tracking store exist from here on
    _all_succeed([_train(home, lde) for _ in range(writers)])
    assert DuckDBStore(lde).stats()["experiments"] == 1 + writers


def test_runs_started_together_on_a_users_sqlite_store_keep_artifacts_out_of_the_current_folder(tmp_path):
    """With MLFLOW_TRACKING_URI=sqlite:... of a new file, two runs started in an empty folder both
    succeed, and their artifacts go to the data home, not to ./mlruns of that folder."""
    home, lde, work = tmp_path / "home", tmp_path / "same.duckdb", tmp_path / "work"
    work.mkdir()
    uri = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/user-mlflow.db"}
    results = _all_succeed([_train(home, lde, uri, cwd=work) for _ in range(2)])
    assert DuckDBStore(lde).stats()["experiments"] == 2
    assert list(work.iterdir()) == []
    with sqlite3.connect(tmp_path / "user-mlflow.db") as con:
        uris = dict(con.execute("SELECT run_uuid, artifact_uri FROM runs").fetchall())
    assert {r["mlflow_run_id"] for r in results} <= set(uris)
    assert all(uri.startswith((home / "mlartifacts").as_uri()) for uri in uris.values()), uris


def test_a_broken_tracking_store_costs_a_warning_not_the_result(tmp_path):
    lde = tmp_path / "l.duckdb"
    (tmp_path / "blocker").write_text("a file where the store's folder would go")
    proc = _train(tmp_path / "home", lde, {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/blocker/mlflow.db"})
    code, err = proc.wait(timeout=600), proc.stderr.read()
    assert code == 0, err
    assert err.count("warning: MLflow tracking failed") == 1 and "Traceback" not in err
    assert DuckDBStore(lde).stats()["experiments"] == 1
