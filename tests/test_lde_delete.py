"""`tapas lde delete`: removing bad rows as a user does, on an LDE file and on the default LDE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from lde import ArchitectureRecord, DatasetRecord, DuckDBStore, ExperimentRecord
from lde.default import embedded_default_path

ROOT = Path(__file__).resolve().parents[1]


def tapas(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI; ``stdin`` is what the user types (``None``: no terminal, stdin closed)."""
    env = {**os.environ, "TAPAS_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], input=stdin or "",
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def record(fp: str, arch: str, key: str | None, source: str, status: str = "ok") -> ExperimentRecord:
    ok = status == "ok"
    return ExperimentRecord(arch_hash=arch, dataset_fingerprint=fp, peak_accuracy=0.5 if ok else None,
                            final_accuracy=0.5 if ok else None, status=status, source=source, key=key)


@pytest.fixture
def lde(tmp_path: Path) -> Path:
    """Two datasets; seeded and imported runs, one of them failed and one without a key."""
    path = tmp_path / "lde.duckdb"
    datasets = [DatasetRecord(fingerprint=f"fp-{name}", name=name, input_shape=(1, 8, 8), num_classes=2,
                              num_samples=10) for name in ("alpha", "beta")]
    archs = [ArchitectureRecord(arch_hash=f"h{i}", arch_json="{}", depth=1, num_layers=1) for i in range(2)]
    DuckDBStore(path).add_experiments([
        record("fp-alpha", "h0", "a-s1", "seed"), record("fp-alpha", "h1", "a-s2", "seed"),
        record("fp-alpha", "h0", "a-i1", "import"), record("fp-alpha", "h1", None, "import"),
        record("fp-alpha", "h1", "a-i3", "import", status="failed"),
        record("fp-beta", "h0", "b-s1", "seed"), record("fp-beta", "h1", "b-i1", "import"),
    ], archs, datasets)
    return path


def keys(path: Path) -> list[str | None]:
    frame = DuckDBStore(path, read_only=True).experiments_frame()
    return [None if k is None or k != k else k for k in frame["key"].astype(object)]


def test_filters_combine_with_and_and_repeat_with_or(lde: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = tapas("lde", "delete", "--source", "import", "--dataset", "alpha", "--yes", "--json",
                 "--lde", str(lde), home=home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"deleted": 3}  # any status, with or without a key
    assert keys(lde) == ["a-s1", "a-s2", "b-s1", "b-i1"]

    proc = tapas("lde", "delete", "--key", "b-s1", "--key", "a-s2", "--key", "nope", "--yes",
                 "--lde", str(lde), home=home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"deleted 2 experiments from {lde}"
    assert keys(lde) == ["a-s1", "b-i1"]

    proc = tapas("lde", "delete", "--dataset", "fp-beta", "--source", "seed", "--lde", str(lde),
                 home=home)  # nothing matches: nothing to confirm
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "no experiment matches; nothing deleted"
    assert keys(lde) == ["a-s1", "b-i1"]


def test_asks_before_deleting(lde: Path, tmp_path: Path) -> None:
    home, args = tmp_path / "home", ("lde", "delete", "--source", "seed", "--lde", str(lde))
    declined = tapas(*args, home=home, stdin="n\n")
    assert declined.returncode == 1
    assert declined.stderr == f"3 experiments match in {lde}; delete them? [y/N]: nothing deleted\n"
    assert declined.stdout == "" and len(keys(lde)) == 7

    no_terminal = tapas(*args, home=home, stdin=None)
    assert no_terminal.returncode == 1
    prompt, error = no_terminal.stderr.splitlines()
    assert prompt.endswith("delete them? [y/N]: ")
    assert error == ("error: 3 experiments match, and no answer came to the confirmation; "
                     "pass --yes to delete without asking")
    assert len(keys(lde)) == 7

    accepted = tapas(*args, "--json", home=home, stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout) == {"deleted": 3}  # the prompt went to stderr
    assert "delete them? [y/N]" in accepted.stderr
    assert keys(lde) == ["a-i1", None, "a-i3", "b-i1"]


def test_refusals_are_one_line(lde: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    one_line_error(tapas("lde", "delete", "--yes", "--lde", str(lde), home=home),
                   "needs at least one of --key, --source, --dataset")
    missing = tmp_path / "typo.duckdb"
    one_line_error(tapas("lde", "delete", "--source", "seed", "--yes", "--lde", str(missing), home=home),
                   f"no LDE file at {missing}")
    assert not missing.exists()
    one_line_error(tapas("lde", "delete", "--source", "web", "--yes", "--lde", str(lde), home=home),
                   "source must hold values among")
    assert len(keys(lde)) == 7


@pytest.mark.skipif(not (SHARED_DATA / "metaqnn_cifar10.csv").exists(),
                    reason="shared MetaQNN data not present")
def test_bad_import_removed_then_imported_again(tmp_path: Path) -> None:
    home, lde = tmp_path / "home", tmp_path / "m.duckdb"
    csv = str(SHARED_DATA / "metaqnn_cifar10.csv")
    assert tapas("lde", "import", csv, "--format", "metaqnn", "--lde", str(lde), home=home).returncode == 0
    proc = tapas("lde", "delete", "--source", "import", "--yes", "--json", "--lde", str(lde), home=home)
    assert json.loads(proc.stdout) == {"deleted": 1000}
    again = tapas("lde", "import", csv, "--format", "metaqnn", "--lde", str(lde), "--json", home=home)
    assert json.loads(again.stdout)["inserted"] == 1000  # the keys were freed
    frame = DuckDBStore(lde, read_only=True).experiments_frame()
    assert len(frame) == 1000 and frame["key"].is_unique
    assert frame["experiment_id"].min() == 1001  # ids are never handed out twice


@pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")
def test_works_on_the_default_lde(tmp_path: Path) -> None:
    home = tmp_path / "home"
    stats = json.loads(tapas("lde", "stats", "--json", home=home).stdout)
    target = stats["per_dataset"][0]
    proc = tapas("lde", "delete", "--dataset", target["fingerprint"], "--yes", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"deleted": target["experiments"]}
    after = json.loads(tapas("lde", "stats", "--json", home=home).stdout)
    assert after["experiments"] == stats["experiments"] - target["experiments"]
    assert after["datasets"] == stats["datasets"]  # the dataset itself stays
