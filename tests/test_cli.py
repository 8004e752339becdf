"""The `tapas` command as a user runs it: real processes, real data, real LDE and MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TWO_CONV, json_out, run_tapas


def _one_line_error(proc) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_datasets_lists_offline_builtins(home):
    data = json_out(run_tapas("datasets", "--json", home=home))
    available = {d["name"] for d in data if d["available"]}
    assert {"digits", "mnist-5k", "shapes", "textures"} <= available
    assert len(available) >= 4
    assert all(d["reason"] for d in data if not d["available"])


@pytest.mark.slow
def test_train_reports_result_and_appends_to_the_lde(home, tmp_path):
    arch = tmp_path / "net.json"
    arch.write_text(json.dumps(TWO_CONV))
    result = json_out(run_tapas("train", "digits", "--arch", str(arch), "--epochs", "3", "--json", home=home))
    assert result["status"] == "ok" and result["peak_accuracy"] >= 0.9
    assert result["params"] == 21578 and result["mlflow_run_id"]
    stats = json_out(run_tapas("lde", "stats", "--json", home=home))
    rows = [d for d in stats["per_dataset"] if d["name"] == "digits"]
    assert rows and rows[0]["experiments"] >= 1


def test_user_mistakes_give_one_line_and_exit_1(home, tmp_path):
    (tmp_path / "empty").mkdir()
    arch = '[{"type": "conv", "filters": 8}]'
    lde = tmp_path / "untouched.duckdb"
    assert "unknown dataset 'nope'" in _one_line_error(
        run_tapas("train", "nope", "--arch", arch, "--lde", str(lde), home=home))
    assert "filters must be >= 1" in _one_line_error(
        run_tapas("train", "digits", "--arch", '[{"type": "conv", "filters": 0}]', "--lde", str(lde), home=home))
    assert "no class sub-folders" in _one_line_error(
        run_tapas("train", str(tmp_path / "empty"), "--arch", arch, "--lde", str(lde), home=home))
    assert not lde.exists()  # nothing was written


def test_characterize_stores_the_dcn_and_answers_from_cache(home):
    first = json_out(run_tapas("characterize", "digits", "--json", home=home))
    assert 0.0 <= first["dcn"] <= 1.0 and first["cached"] is False
    assert {"dataset", "fingerprint", "dcn", "probe", "seconds", "cached"} <= set(first)
    second = json_out(run_tapas("characterize", "digits", "--json", home=home))
    assert second["cached"] is True and second["dcn"] == first["dcn"]
    fresh = json_out(run_tapas("characterize", "digits", "--no-cache", "--json", home=home))
    assert fresh["cached"] is False


def test_characterize_bad_input_stores_nothing(home, tmp_path):
    import numpy as np

    path = tmp_path / "one_class.npz"
    np.savez(path, x=np.zeros((20, 8, 8), np.float32), y=np.zeros(20, np.int64))
    lde = tmp_path / "fresh.duckdb"
    assert "only one class" in _one_line_error(run_tapas("characterize", str(path), "--lde", str(lde), home=home))
    assert not lde.exists()
