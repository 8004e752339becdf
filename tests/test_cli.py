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
    assert "filters must be an integer >= 1" in _one_line_error(
        run_tapas("train", "digits", "--arch", '[{"type": "conv", "filters": 0}]', "--lde", str(lde), home=home))
    assert "no class sub-folders" in _one_line_error(
        run_tapas("train", str(tmp_path / "empty"), "--arch", arch, "--lde", str(lde), home=home))
    assert "unknown dataset 'nope'" in _one_line_error(
        run_tapas("search", "nope", "--preset", "quick", "--lde", str(lde), home=home))
    assert "probe must be one of" in _one_line_error(
        run_tapas("characterize", "digits", "--probe", "resnet", "--lde", str(lde), home=home))
    assert "device must be like 'cpu' or 'cuda', but got 'tpu'" in _one_line_error(
        run_tapas("train", "digits", "--arch", arch, "--device", "tpu", "--lde", str(lde), home=home))
    assert "device must be like 'cpu' or 'cuda', but got 'tpu'" in _one_line_error(
        run_tapas("search", "digits", "--preset", "quick", "--device", "tpu", "--lde", str(lde),
                  "--out", str(tmp_path / "out"), home=home))
    assert not lde.exists()  # nothing was written
    assert "predictor must be one of" in _one_line_error(  # an empty list is no shorthand for "all"
        run_tapas("benchmark", "predictor", "--predictors", "", home=home))
    assert "predictor must be one of" in _one_line_error(
        run_tapas("benchmark", "search", "--predictor", "oracle", home=home))


def test_characterize_stores_the_dcn_and_answers_from_cache(home, tmp_path):
    lde = str(tmp_path / "c.duckdb")  # an empty LDE: the default one already knows digits
    first = json_out(run_tapas("characterize", "digits", "--lde", lde, "--json", home=home))
    assert 0.0 <= first["dcn"] <= 1.0 and first["cached"] is False
    assert {"dataset", "fingerprint", "dcn", "probe", "seconds", "cached"} <= set(first)
    second = json_out(run_tapas("characterize", "digits", "--lde", lde, "--json", home=home))
    assert second["cached"] is True and second["dcn"] == first["dcn"]
    fresh = json_out(run_tapas("characterize", "digits", "--lde", lde, "--no-cache", "--json", home=home))
    assert fresh["cached"] is False


def _fashion_available() -> bool:
    from tapaskit.datasets import list_builtin

    return any(i.name == "fashion-mnist" and i.available for i in list_builtin())


@pytest.mark.skipif(not _fashion_available(), reason="Debian's dataset-fashion-mnist is not installed")
def test_easier_variant_gets_a_higher_dcn(home):
    easy = json_out(run_tapas("characterize", "fashion-mnist[classes=1,8]", "--json", home=home))
    hard = json_out(run_tapas("characterize", "fashion-mnist[label_noise=0.4]", "--json", home=home))
    assert easy["dcn"] > hard["dcn"] + 0.3


def test_characterize_bad_input_stores_nothing(home, tmp_path):
    import numpy as np

    path = tmp_path / "one_class.npz"
    np.savez(path, x=np.zeros((20, 8, 8), np.float32), y=np.zeros(20, np.int64))
    lde = tmp_path / "fresh.duckdb"
    assert "only one class" in _one_line_error(run_tapas("characterize", str(path), "--lde", str(lde), home=home))
    assert not lde.exists()


def test_lde_refuses_a_corrupt_file_and_bad_imports_without_writing(home, tmp_path):
    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(b"this is not a database" * 100)
    before = corrupt.read_bytes()
    message = _one_line_error(run_tapas("lde", "stats", "--lde", str(corrupt), home=home))
    assert "corrupt.duckdb" in message and corrupt.read_bytes() == before
    bad = tmp_path / "bad.csv"
    bad.write_text("net,training_dataset,lr,acc_1\n\"[C(8,3,1), SM(10)]\",cifar10,0.001,1.7\n")
    lde = tmp_path / "m.duckdb"
    assert "1.7" in _one_line_error(run_tapas("lde", "import", str(bad), "--format", "metaqnn", "--lde", str(lde), home=home))
    for options, message in ((("--format", "foo"), "format must be one of parquet, csv, metaqnn, but got 'foo'"),
                             (("--dcn", "0.5"), "--dcn applies to --format metaqnn only")):
        never = tmp_path / "never.duckdb"
        assert message in _one_line_error(run_tapas("lde", "import", str(bad), *options, "--lde", str(never), home=home))
        assert not never.exists()
    missing = tmp_path / "missing.csv"
    missing.write_text("net,training_dataset\nx,y\n")
    assert "missing" in _one_line_error(run_tapas("lde", "import", str(missing), "--format", "metaqnn", "--lde", str(lde), home=home))
    if lde.exists():
        assert json_out(run_tapas("lde", "stats", "--lde", str(lde), "--json", home=home))["experiments"] == 0


def test_lde_import_says_in_one_sentence_what_it_wrote(home, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("net,training_dataset,lr,acc_1,acc_2\n"
                    "\"[C(8,3,1), SM(10)]\",cifar10,0.001,0.30,0.40\n"
                    "\"[C(16,3,1), P(2,2), SM(10)]\",cifar10,0.001,0.35,0.50\n")
    lde, export = tmp_path / "m.duckdb", tmp_path / "all.parquet"

    def said(*args: str) -> str:
        proc = run_tapas(*args, "--lde", str(lde), home=home)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.rstrip("\n")  # one line, even in a pipe wider than 80 columns

    assert said("lde", "import", str(good), "--format", "metaqnn") == (
        f"imported 2 of 2 experiments from {good} (metaqnn; 0 already stored) into {lde}")
    assert said("lde", "import", str(good), "--format", "metaqnn") == (
        f"imported 0 of 2 experiments from {good} (metaqnn; 2 already stored) into {lde}")
    said("lde", "export", str(export))
    assert said("lde", "import", str(export)) == (  # the same LDE holds both already
        f"imported 0 of 2 experiments from {export} (parquet; 2 already stored) into {lde}")


def test_tables_in_a_pipe_keep_long_dataset_names_whole(home, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # rich would take it as the width
    proc = run_tapas("lde", "stats", home=home)  # the embedded default LDE, stdout a pipe
    assert proc.returncode == 0, proc.stderr
    assert "fashion-mnist[classes=0,2,4,6;n=2000;size=16]" in proc.stdout  # 46 characters


def test_reading_commands_refuse_a_missing_lde_file_and_create_none(home, tmp_path):
    typo = tmp_path / "no-such-dir" / "typo.duckdb"
    for args in (("lde", "stats", "--lde", str(typo)), ("lde", "query", "--lde", str(typo)),
                 ("lde", "export", str(tmp_path / "out.csv"), "--lde", str(typo)),
                 ("benchmark", "predictor", "--lde", str(typo)),
                 ("benchmark", "search", "--lde", str(typo)),
                 ("--lde", str(typo), "lde", "stats")):
        message = _one_line_error(run_tapas(*args, home=home))
        assert f"no LDE file at {typo}" in message and "tapas lde import" in message, args
    assert not typo.parent.exists() and not (tmp_path / "out.csv").exists()


def test_output_paths_get_their_folders_or_one_line_when_the_file_system_refuses(home, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    assert f"out {a_file} is a file" in _one_line_error(
        run_tapas("search", "digits", "--preset", "quick", "--out", str(a_file), home=home))
    message = _one_line_error(run_tapas("lde", "query", "-o", str(a_file / "runs.csv"), home=home))
    assert f"{a_file}: a file is in the way where a folder is needed" in message
    assert a_file.read_text() == "not a folder"
    nested = tmp_path / "new" / "folder" / "runs.csv"
    assert run_tapas("lde", "query", "--limit", "1", "-o", str(nested), home=home).returncode == 0
    assert len(nested.read_text().splitlines()) > 1000  # header + every row, not only the shown one


def test_ui_refuses_a_busy_or_impossible_port_in_one_line(home):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = _one_line_error(run_tapas("ui", "--port", str(port), home=home))
        assert f"cannot listen on 127.0.0.1:{port}" in message and "--port" in message
    assert "port must be in 1..65535, but got 70000" in _one_line_error(run_tapas("ui", "--port", "70000", home=home))


@pytest.mark.slow
def test_ui_serves_mlflow_on_localhost(home):
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TAPAS_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "ui", "--port", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert json.loads(proc.stdout.readline())["url"] == f"http://127.0.0.1:{port}"
        deadline, body = time.time() + 240, ""
        while time.time() < deadline and not body:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search",
                    data=b'{"max_results": 50}', headers={"Content-Type": "application/json"})
                body = urllib.request.urlopen(request, timeout=5).read().decode()
            except OSError:
                time.sleep(1)
        names = {e["name"] for e in json.loads(body)["experiments"]}
        assert {"tapas/search", "tapas/train", "tapas/characterize", "tapas/benchmark"} <= names
    finally:
        proc.terminate()
        proc.wait(timeout=30)
