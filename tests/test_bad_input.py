"""A bad-input matrix: each mistake ends with exit 1, exactly one `error:` line, no traceback, and
no file created or changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_tapas

DEEP = "[" * 100_000 + "]" * 100_000


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(proc, *needles: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def import_file(tmp_path_factory) -> Path:
    from lde.io import export_experiments

    from tapaskit.predictor.synthetic import synthetic_lde

    path = tmp_path_factory.mktemp("import") / "good.csv"
    export_experiments(synthetic_lde(n_datasets=2, n_archs=3, seed=0), path)
    return path


def _hostile(import_file: Path, tmp_path: Path, column: str, value: str) -> Path:
    frame = pd.read_csv(import_file, dtype=str, keep_default_na=False)
    frame.loc[frame["arch_hash"] == frame["arch_hash"].iloc[1], column] = value
    path = tmp_path / "hostile.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("column", "value", "needle"), [
    ("arch_json", "{not json", "architecture is not valid JSON"),
    ("arch_json", DEEP, "nests too deeply"),
    ("arch_json", '{"layers": [{"type": "conv", "filters": -4}]}', "filters must be an integer >= 1"),
    ("arch_hash", "0123456789abcdef", "does not match its JSON"),
])
def test_lde_import_checks_every_architecture_and_writes_nothing(import_file, tmp_path, home, column, value,
                                                                 needle):
    lde = tmp_path / "new.duckdb"
    line = _refused(run_tapas("lde", "import", str(_hostile(import_file, tmp_path, column, value)), "--lde", str(lde),
                              home=home), needle)
    assert "row " in line and "architecture " in line
    assert not lde.exists() and not Path(str(lde) + ".wal").exists()  # no empty LDE left behind


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "digits", "--arch", "{deep}"], "nests too deeply"),
    (["train", "digits", "--arch", "[C(8,3,1), SM(5)]"], "SM(5) declares 5 classes, but the dataset has 10"),
    (["train", "digits", "--arch", "[C(1000000000,3,1), SM(10)]"], "too large to train"),
    (["train", "digits", "--arch", "[C(8,3,1), SM(10)]", "--trial-timeout", "5"], "applies to --executor ray only"),
    (["train", "digits", "--arch", "[C(8,3,1), SM(10)]", "--executor", "slurm"], "executor must be one of local, ray"),
    (["search", "digits", "--predictor", "foo"], "predictor must be one of"),
    (["search", "digits", "--tau", "nan"], "tau must be a number >= 0, but got nan"),
    (["search", "digits", "--top-k", "0"], "top-k must be an integer >= 1"),
    (["lde", "query", "--limit", "-1"], "limit must be an integer >= 0, but got -1"),
    (["lde", "query", "-o", "rows.xlsx"], "--output must end in .csv or .parquet"),
])
def test_options_are_refused_before_any_work(tmp_path, home, args, needle):
    work = tmp_path / "work"
    work.mkdir()
    extra = ["--out", str(work / "out")] if args[0] == "search" else []
    lde = ["--lde", str(work / "x.duckdb")] if args[0] in ("train", "search") else []
    deep = tmp_path / "deep.json"  # 200,000 characters: more than one command-line argument may hold
    deep.write_text(DEEP)
    args = [str(deep) if a == "{deep}" else a for a in args]
    _refused(run_tapas(*args, *extra, *lde, home=home), needle)
    assert _snapshot(work) == {} and not (work / "out").exists()


def test_lde_path_refuses_a_folder(tmp_path, home):
    _refused(run_tapas("lde", "path", "--lde", str(tmp_path), home=home), "is a folder")


def test_lde_export_never_replaces_a_file_unasked_nor_a_device(tmp_path, home):
    target = tmp_path / "keep.csv"
    target.write_text("precious\n")
    _refused(run_tapas("lde", "export", str(target), home=home), "exists", "--force")
    assert target.read_text() == "precious\n"
    _refused(run_tapas("lde", "export", "/dev/null", "--format", "csv", "--force", home=home), "not a regular file")
    assert Path("/dev/null").is_char_device()


def test_search_resume_refuses_a_truncated_checkpoint(tmp_path, home):
    out = tmp_path / "out"
    out.mkdir()
    (out / "search_state.pt").write_bytes(b"PK\x03\x04 truncated")
    before = _snapshot(out)
    _refused(run_tapas("search", "digits", "--resume", "--out", str(out), "--lde", str(tmp_path / "x.duckdb"),
                       home=home), "not a readable search checkpoint")
    assert _snapshot(out) == before
