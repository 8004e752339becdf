"""A bad-input matrix: each mistake ends with exit 1, exactly one `error:` line, no traceback, and
no file created or changed: not in the working folder, not in the data home (never even created),
not among the inputs (an LDE a command refused to write to is byte for byte what it was).

The cases follow the rows of issue 21 and the classes of mistakes a new user makes: malformed
dataset specs, architectures, corrupt and truncated files, hostile import rows, options out of range,
and resume states. Each runs the real CLI in a fresh, empty working folder with a fresh data home.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEEP = "[" * 100_000 + "]" * 100_000
ARCH = "[C(8,3,1), SM(10)]"


def tapas_in(work: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, run from ``work`` (a user's current folder) with ``home`` as the data home."""
    env = {**os.environ, "TAPAS_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=work)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (symbolic links as their target) with its content's hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 1, one `error:` line naming ``needles``, no traceback; returns the line."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------- the inputs
def _hostile(good: pd.DataFrame, column: str, value: str, *, whole_dataset: bool = False) -> pd.DataFrame:
    """``good`` with ``column`` set to ``value`` on every row of one architecture (or one dataset)."""
    frame = good.copy()
    key = "dataset_fingerprint" if whole_dataset else "arch_hash"
    frame.loc[frame[key] == frame[key].iloc[1], column] = value
    return frame


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The files the cases read: a real LDE, damaged copies, hostile imports, broken checkpoints."""
    import torch

    from lde import DuckDBStore, export_experiments, import_experiments
    from tapaskit.predictor.synthetic import synthetic_lde

    folder = tmp_path_factory.mktemp("inputs")
    export_experiments(synthetic_lde(n_datasets=4, n_archs=30, seed=2), folder / "good.csv")
    import_experiments(DuckDBStore(folder / "lde.duckdb"), folder / "good.csv")
    export_experiments(DuckDBStore(folder / "lde.duckdb"), folder / "good.parquet")
    whole = (folder / "lde.duckdb").read_bytes()
    (folder / "truncated.duckdb").write_bytes(whole[:len(whole) * 6 // 10])  # `truncate -s 60%`
    (folder / "text.duckdb").write_text("not a database\n")
    parquet = (folder / "good.parquet").read_bytes()
    (folder / "truncated.parquet").write_bytes(parquet[:len(parquet) // 2])
    (folder / "other.csv").write_text("a,b\n1,2\n")

    good = pd.read_csv(folder / "good.csv", dtype=str, keep_default_na=False)
    for name, frame in {
        "garbage-json": _hostile(good, "arch_json", "{not json"),
        "deep-json": _hostile(good, "arch_json", DEEP),
        "negative-filters": _hostile(good, "arch_json", '{"layers": [{"type": "conv", "filters": -4}]}'),
        "wrong-hash": _hostile(good, "arch_hash", "0123456789abcdef"),
        "escape-name": _hostile(good, "dataset_name", "\x1b[31mred", whole_dataset=True),
    }.items():
        frame.to_csv(folder / f"{name}.csv", index=False)

    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", x=rng.random((40, 1, 8, 8), dtype=np.float32), y=np.arange(40) % 2)
    npz = (folder / "data.npz").read_bytes()
    (folder / "truncated.npz").write_bytes(npz[:len(npz) // 2])
    (folder / "deep.json").write_text(DEEP)  # 200,000 characters: more than one command-line argument may hold
    (folder / "binary.json").write_bytes(bytes(range(256)))
    (folder / "net.json").write_text('{"layers": [{"type": "conv", "filters": 8, "kernel": 3}]}')

    for state, content in {"truncated": b"PK\x03\x04 truncated", "empty": b""}.items():
        (folder / f"resume-{state}").mkdir()
        (folder / f"resume-{state}" / "search_state.pt").write_bytes(content)
    (folder / "resume-foreign").mkdir()
    torch.save({"weights": torch.zeros(2)}, folder / "resume-foreign" / "search_state.pt")
    (folder / "resume-other-search").mkdir()
    torch.save({"search_id": "abc", "config": {"dataset": "digits", "seed": 99}, "fingerprint": "x"},
               folder / "resume-other-search" / "search_state.pt")

    (folder / "keep.csv").write_text("precious\n")
    (folder / "link.csv").symlink_to(folder / "keep.csv")
    return folder


# ------------------------------------------------------------------------------------- the matrix
# Each case: the command line ({in}: the inputs folder; {work}: the current folder, which must stay
# empty) and what its one error line must say.
CASES: list = [
    # -- row 3: import rows that are not networks, checked before anything is written
    pytest.param(("lde", "import", "{in}/garbage-json.csv", "--lde", "{work}/new.duckdb"),
                 ("row ", "architecture is not valid JSON"), id="import-garbage-json"),
    pytest.param(("lde", "import", "{in}/deep-json.csv", "--lde", "{work}/new.duckdb"),
                 ("row ", "nests too deeply"), id="import-deep-json"),
    pytest.param(("lde", "import", "{in}/negative-filters.csv", "--lde", "{work}/new.duckdb"),
                 ("row ", "filters must be an integer >= 1"), id="import-invalid-network"),
    pytest.param(("lde", "import", "{in}/wrong-hash.csv", "--lde", "{work}/new.duckdb"),
                 ("row ", "does not match its JSON"), id="import-wrong-hash"),
    pytest.param(("lde", "import", "{in}/wrong-hash.csv", "--lde", "{in}/lde.duckdb"),
                 ("row ", "does not match its JSON"), id="import-wrong-hash-into-existing"),
    pytest.param(("lde", "import", "{in}/escape-name.csv", "--lde", "{work}/new.duckdb"),
                 ("control characters", "\\x1b[31mred"), id="import-terminal-escape"),
    pytest.param(("lde", "import", "{in}/escape-name.csv", "--lde", "{in}/lde.duckdb"),
                 ("control characters",), id="import-terminal-escape-into-existing"),
    # -- row 4: damaged files give one line, whatever the command
    pytest.param(("train", "digits", "--arch", "{in}/deep.json", "--lde", "{work}/x.duckdb"),
                 ("nests too deeply",), id="train-deep-arch"),
    pytest.param(("lde", "import", "{in}/good.csv", "--lde", "{in}/truncated.duckdb"),
                 ("truncated.duckdb is truncated",), id="import-into-truncated-lde"),
    pytest.param(("train", "digits", "--arch", ARCH, "--epochs", "1", "--lde", "{in}/truncated.duckdb"),
                 ("truncated.duckdb is truncated",), id="train-into-truncated-lde"),
    pytest.param(("lde", "stats", "--lde", "{in}/truncated.duckdb"), ("is truncated",), id="stats-truncated-lde"),
    pytest.param(("lde", "query", "--lde", "{in}/truncated.duckdb"), ("is truncated",), id="query-truncated-lde"),
    pytest.param(("lde", "export", "{work}/out.csv", "--lde", "{in}/truncated.duckdb"), ("is truncated",),
                 id="export-truncated-lde"),
    pytest.param(("characterize", "digits", "--lde", "{in}/truncated.duckdb"), ("is truncated",),
                 id="characterize-truncated-lde"),
    pytest.param(("search", "digits", "--out", "{work}/out", "--lde", "{in}/truncated.duckdb"), ("is truncated",),
                 id="search-truncated-lde"),
    pytest.param(("lde", "stats", "--lde", "{in}/text.duckdb"), ("not an LDE file",), id="stats-not-duckdb"),
    pytest.param(("train", "digits", "--arch", ARCH, "--lde", "{in}/text.duckdb"), ("not an LDE file",),
                 id="train-not-duckdb"),
    pytest.param(("lde", "import", "{in}/truncated.parquet", "--lde", "{work}/new.duckdb"),
                 ("cannot read", "truncated.parquet"), id="import-truncated-parquet"),
    pytest.param(("lde", "import", "{in}/other.csv", "--lde", "{work}/new.duckdb"), ("lacks required columns",),
                 id="import-foreign-csv"),
    pytest.param(("lde", "import", "{in}/missing.csv", "--lde", "{work}/new.duckdb"), ("no such file",),
                 id="import-missing-file"),
    pytest.param(("train", "{in}/truncated.npz", "--arch", "[C(8,3,1), SM(2)]", "--lde", "{work}/x.duckdb"),
                 ("cannot read", "truncated.npz"), id="train-truncated-npz"),
    pytest.param(("characterize", "{in}/truncated.npz", "--lde", "{work}/x.duckdb"), ("cannot read",),
                 id="characterize-truncated-npz"),
    pytest.param(("train", "digits", "--arch", "{in}/binary.json", "--lde", "{work}/x.duckdb"), ("binary.json",),
                 id="train-binary-arch-file"),
    # -- row 5: an export never replaces what it was not asked to
    pytest.param(("lde", "export", "{in}/keep.csv", "--lde", "{in}/lde.duckdb"), ("exists", "--force"),
                 id="export-over-a-file"),
    pytest.param(("lde", "export", "/dev/null", "--format", "csv", "--force", "--lde", "{in}/lde.duckdb"),
                 ("not a regular file",), id="export-to-a-device"),
    pytest.param(("lde", "export", "{in}/link.csv", "--force", "--lde", "{in}/lde.duckdb"),
                 ("not a regular file",), id="export-through-a-symlink"),
    # -- row 7: a network too large to train is refused before it is built
    pytest.param(("train", "digits", "--arch", "[C(1000000000,3,1), SM(10)]", "--lde", "{work}/x.duckdb"),
                 ("too large to train",), id="train-huge-network"),
    # -- malformed dataset specs
    pytest.param(("train", "nope", "--arch", ARCH, "--lde", "{work}/x.duckdb"), ("unknown dataset 'nope'",),
                 id="unknown-dataset"),
    pytest.param(("train", "digits[n=abc]", "--arch", ARCH, "--lde", "{work}/x.duckdb"), ("'n'", "'abc'"),
                 id="variant-not-a-number"),
    pytest.param(("characterize", "digits[classes=99]", "--lde", "{work}/x.duckdb"), ("classes", "99"),
                 id="variant-class-out-of-range"),
    # -- architectures
    pytest.param(("train", "digits", "--arch", "[C(8,3,1), SM(5)]", "--lde", "{work}/x.duckdb"),
                 ("SM(5) declares 5 classes, but the dataset has 10",), id="softmax-of-other-class-count"),
    pytest.param(("train", "digits", "--arch", "[C(8,3,1), SM(10)", "--lde", "{work}/x.duckdb"),
                 ("bracketed list",), id="metaqnn-unclosed"),
    pytest.param(("train", "digits", "--arch", "[C(-4,3,1), SM(10)]", "--lde", "{work}/x.duckdb"),
                 ("C(-4,3,1)",), id="metaqnn-negative-filters"),
    pytest.param(("train", "digits", "--arch", "[C(8,3,4), SM(10)]", "--lde", "{work}/x.duckdb"),
                 ("stride must be one of",), id="metaqnn-bad-stride"),
    pytest.param(("train", "digits", "--arch", "no-such-net.json", "--lde", "{work}/x.duckdb"), ("no such file",),
                 id="arch-file-missing"),
    # -- options out of range, refused before any work (row 8)
    pytest.param(("train", "digits", "--arch", ARCH, "--epochs", "0", "--lde", "{work}/x.duckdb"),
                 ("epochs must be >= 1",), id="train-epochs-0"),
    pytest.param(("train", "digits", "--arch", ARCH, "--lr", "-1", "--lde", "{work}/x.duckdb"),
                 ("lr must be a positive number",), id="train-negative-lr"),
    pytest.param(("train", "digits", "--arch", ARCH, "--batch-size", "0", "--lde", "{work}/x.duckdb"),
                 ("batch_size must be >= 1",), id="train-batch-size-0"),
    pytest.param(("train", "digits", "--arch", ARCH, "--workers", "0", "--lde", "{work}/x.duckdb"),
                 ("workers must be an integer >= 1",), id="train-workers-0"),
    pytest.param(("train", "digits", "--arch", ARCH, "--trial-timeout", "5", "--lde", "{work}/x.duckdb"),
                 ("applies to --executor ray only",), id="train-ray-option-on-local"),
    pytest.param(("train", "digits", "--arch", ARCH, "--executor", "slurm", "--lde", "{work}/x.duckdb"),
                 ("executor must be one of local, ray",), id="train-unknown-executor"),
    pytest.param(("train", "digits", "--arch", ARCH, "--lde", "{work}"), ("is a directory",),
                 id="train-lde-is-a-folder"),
    pytest.param(("search", "digits", "--predictor", "foo", "--out", "{work}/out", "--lde", "{work}/x.duckdb"),
                 ("predictor must be one of",), id="search-unknown-predictor"),
    pytest.param(("search", "digits", "--tau", "nan", "--out", "{work}/out", "--lde", "{work}/x.duckdb"),
                 ("tau must be a number >= 0, but got nan",), id="search-tau-nan"),
    pytest.param(("search", "digits", "--top-k", "0", "--out", "{work}/out", "--lde", "{work}/x.duckdb"),
                 ("top-k must be an integer >= 1",), id="search-top-k-0"),
    pytest.param(("search", "digits", "--budget", "0", "--out", "{work}/out", "--lde", "{work}/x.duckdb"),
                 ("budget must be an integer >= 1",), id="search-budget-0"),
    pytest.param(("search", "digits", "--strategy", "nope", "--out", "{work}/out", "--lde", "{work}/x.duckdb"),
                 ("strategy must be one of",), id="search-unknown-strategy"),
    pytest.param(("lde", "query", "--limit", "-1"), ("limit must be an integer >= 0, but got -1",),
                 id="query-negative-limit"),
    pytest.param(("lde", "query", "-o", "rows.xlsx", "--lde", "{in}/lde.duckdb"),
                 ("--output must end in .csv or .parquet",), id="query-unknown-output-format"),
    pytest.param(("lde", "path", "--lde", "{work}"), ("is a folder",), id="lde-path-is-a-folder"),
    pytest.param(("lde", "seed", "--archs", "0", "--lde", "{work}/x.duckdb"), ("archs must be >= 1",),
                 id="seed-archs-0"),
    pytest.param(("lde", "seed", "--suite", "nope", "--lde", "{work}/x.duckdb"), ("suite must be one of",),
                 id="seed-unknown-suite"),
    pytest.param(("lde", "import", "{in}/good.csv", "--dcn", "0.5", "--lde", "{work}/x.duckdb"),
                 ("--dcn applies to --format metaqnn only",), id="import-dcn-without-metaqnn"),
    pytest.param(("benchmark", "predictor", "--min-datasets", "100", "--lde", "{in}/lde.duckdb"),
                 ("min_datasets must be at most 3",), id="benchmark-min-datasets-unreachable"),
    pytest.param(("benchmark", "search", "--picks", "100000", "--lde", "{in}/lde.duckdb"),
                 ("picks must be at most the largest pool",), id="benchmark-picks-unreachable"),
    # -- resume states
    pytest.param(("search", "digits", "--resume", "--out", "{in}/resume-truncated", "--lde", "{work}/x.duckdb"),
                 ("not a readable search checkpoint",), id="resume-truncated-checkpoint"),
    pytest.param(("search", "digits", "--resume", "--out", "{in}/resume-empty", "--lde", "{in}/lde.duckdb"),
                 ("not a readable search checkpoint",), id="resume-empty-checkpoint"),
    pytest.param(("search", "digits", "--resume", "--out", "{in}/resume-foreign", "--lde", "{in}/lde.duckdb"),
                 ("belongs to another search",), id="resume-foreign-checkpoint"),
    pytest.param(("search", "digits", "--resume", "--out", "{in}/resume-other-search", "--lde", "{in}/lde.duckdb"),
                 ("belongs to another search",), id="resume-another-searchs-checkpoint"),
    pytest.param(("search", "digits", "--resume", "--out", "{in}/keep.csv", "--lde", "{in}/lde.duckdb"),
                 ("is a file",), id="resume-out-is-a-file"),
]


@pytest.mark.parametrize(("args", "needles"), CASES)
def test_refused_in_one_line_with_nothing_written(inputs: Path, tmp_path: Path, args: tuple[str, ...],
                                                  needles: tuple[str, ...]) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    before = snapshot(inputs)
    argv = [a.replace("{in}", str(inputs)).replace("{work}", str(work)) for a in args]
    refused(tapas_in(work, home, *argv), *needles)
    assert snapshot(work) == {}  # no partial LDE, no --out folder, no ./mlruns
    assert not home.exists()  # the data home is not even created
    assert snapshot(inputs) == before  # and nothing read (or refused) was changed
    assert Path("/dev/null").is_char_device()


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    """Typer's own usage errors (a word where a number goes) keep their exit code 2 and box."""
    work = tmp_path / "work"
    work.mkdir()
    proc = tapas_in(work, tmp_path / "home", "train", "digits", "--arch", ARCH, "--epochs", "abc")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--epochs" in proc.stderr
    assert snapshot(work) == {} and not (tmp_path / "home").exists()

