"""Shared fixtures: an isolated data home per test and a helper to run the real `tapas` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TWO_CONV = {"layers": [
    {"type": "conv", "filters": 32, "kernel": 3}, {"type": "bn"}, {"type": "act"},
    {"type": "pool", "kernel": 2},
    {"type": "conv", "filters": 64, "kernel": 3}, {"type": "bn"}, {"type": "act"},
    {"type": "pool", "kernel": 2},
]}
TINY = {"layers": [{"type": "conv", "filters": 8, "kernel": 3}, {"type": "act"}, {"type": "gap"}]}
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TAPAS_HOME (LDE + MLflow store) for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("TAPAS_HOME", str(path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return path


def run_tapas(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would (`python -m cli` is the same entry point)."""
    env = {**os.environ, "TAPAS_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=Path(__file__).resolve().parents[1])


def json_out(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def digits():
    from tapaskit.datasets import load_dataset

    return load_dataset("digits")
