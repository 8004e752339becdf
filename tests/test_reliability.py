"""Refusals before any work, and what a user sees when data or a keyboard misbehaves.

- imported names with terminal escapes are refused, one line, nothing written;
- benchmark options that no LDE content could satisfy are refused before the first fit;
- Ctrl-C ends any command with one line saying what was kept and how to go on, exit code 130;
- a truncated or corrupt LDE file is an LDE error (one line in the CLI) for every operation, and is
  never written to.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import cli
from conftest import run_tapas
from lde import DuckDBStore, LDEError, LDEFileError, export_experiments, import_experiments
from tapaskit.errors import InvalidOptionError
from tapaskit.evaluation.predictor_benchmark import run_predictor_benchmark
from tapaskit.evaluation.search_benchmark import run_search_benchmark
from tapaskit.predictor.synthetic import synthetic_lde

ROOT = Path(__file__).resolve().parents[1]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


# ------------------------------------------------------------------------ escapes in imported text
@pytest.fixture
def escaped_csv(tmp_path: Path) -> Path:
    """An export in the open format whose first dataset is renamed with an ANSI colour escape."""
    export_experiments(synthetic_lde(n_datasets=2, n_archs=3, seed=0), tmp_path / "good.csv")
    frame = pd.read_csv(tmp_path / "good.csv", dtype=str, keep_default_na=False)
    first = frame["dataset_fingerprint"] == frame["dataset_fingerprint"].iloc[0]
    frame.loc[first, "dataset_name"] = "\x1b[31mred"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    return tmp_path / "bad.csv"


def test_import_refuses_a_name_with_a_terminal_escape(escaped_csv: Path, tmp_path: Path) -> None:
    new = tmp_path / "new.duckdb"
    proc = run_tapas("lde", "import", str(escaped_csv), "--lde", str(new), home=tmp_path / "home")
    assert_one_line_error(proc, "row 1: column dataset_name: name must not contain control "
                                "characters, but got '\\x1b[31mred'")
    assert "\x1b" not in proc.stderr  # the escape is shown, never played
    assert not new.exists()  # a refused import into a new file leaves no file

    existing = tmp_path / "existing.duckdb"
    import_experiments(DuckDBStore(existing), escaped_csv.with_name("good.csv"))
    before = DuckDBStore(existing).experiments_frame()
    proc = run_tapas("lde", "import", str(escaped_csv), "--lde", str(existing), home=tmp_path / "home")
    assert_one_line_error(proc, "dataset_name", "control characters")
    pd.testing.assert_frame_equal(DuckDBStore(existing).experiments_frame(), before)


# ------------------------------------------------------------------ benchmark options, before work
@pytest.fixture(scope="module")
def four_datasets() -> object:
    return synthetic_lde(n_datasets=4, n_archs=30, seed=2)


def test_predictor_benchmark_refuses_unreachable_min_datasets_before_any_fit(four_datasets) -> None:
    fits: list[str] = []
    with pytest.raises(InvalidOptionError, match=(
            r"min_datasets must be at most 3 \(scenario C fits on the datasets with a DCN other than "
            r"the held-out one, and the LDE has 4 datasets with a DCN, 4 in all\), but got 100")):
        run_predictor_benchmark(four_datasets, min_datasets=100, predictors=["dataset_mean"],
                                track=False, progress=lambda done, total, label: fits.append(label))
    assert fits == []
    with pytest.raises(InvalidOptionError, match="at most 3"):
        run_predictor_benchmark(four_datasets, scenarios="C", min_datasets=4, track=False)
    # reachable, or not given (the default asks for more datasets than there are, and widens)
    for min_datasets in (3, None):
        report = run_predictor_benchmark(four_datasets, scenarios="C", min_datasets=min_datasets,
                                         predictors=["dataset_mean"], track=False)
        assert len(report["scenarios"]["C"]["predictors"]["dataset_mean"]["per_dataset"]) == 4
    # scenario C not asked for: the option does not apply
    only_a = run_predictor_benchmark(four_datasets, scenarios="A", min_datasets=100,
                                     predictors=["dataset_mean"], track=False)
    assert not only_a["scenarios"]["A"]["skipped"]


def test_search_benchmark_refuses_picks_above_every_pool_before_any_fit(four_datasets) -> None:
    calls: list[str] = []
    with pytest.raises(InvalidOptionError, match=r"picks must be at most the largest pool, the 30 "
                                                 r"trained networks of .+, but got 100000"):
        run_search_benchmark(four_datasets, predictor="lightgbm", picks=100_000, track=False,
                             progress=lambda name, i, total: calls.append(name))
    assert calls == []
    report = run_search_benchmark(four_datasets, predictor="lightgbm", picks=30, track=False)
    assert report["tap_best_percentile_mean"] == 100.0  # the whole pool: trivially its best


@pytest.fixture(scope="module")
def tiny_lde(tmp_path_factory, four_datasets) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    export_experiments(four_datasets, folder / "tiny.parquet")
    import_experiments(DuckDBStore(folder / "tiny.duckdb"), folder / "tiny.parquet")
    return folder / "tiny.duckdb"


def test_benchmark_commands_refuse_impossible_options_in_one_line(tiny_lde: Path, tmp_path: Path) -> None:
    proc = run_tapas("benchmark", "predictor", "--min-datasets", "100", "--lde", str(tiny_lde),
                     home=tmp_path)
    assert_one_line_error(proc, "min_datasets must be at most 3", "the LDE has 4 datasets with a DCN")
    proc = run_tapas("benchmark", "search", "--picks", "100000", "--lde", str(tiny_lde), home=tmp_path)
    assert_one_line_error(proc, "picks must be at most the largest pool, the 30 trained networks")
    assert not (tmp_path / "mlflow.db").exists()  # no run was logged: nothing ran


# --------------------------------------------------------------------------------------- Ctrl-C
INTERRUPTED = ("interrupted: every finished result is kept in the LDE; rerun the same command to "
               "continue (lde seed and keyed imports skip what is stored; search: add --resume)")

# `tapas lde stats` held inside the store until the test presses Ctrl-C (sends SIGINT).
HELD_STATS = """
import os, signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
from lde import DuckDBStore
def held(self):
    open(os.environ["TAPAS_TEST_MARK"], "w").close()
    time.sleep(600)
DuckDBStore.stats = held
import cli
cli.main()
"""


def test_ctrl_c_says_what_is_kept_and_how_to_go_on(tiny_lde: Path, tmp_path: Path) -> None:
    mark = tmp_path / "held"
    env = {**os.environ, "TAPAS_HOME": str(tmp_path / "home"), "TAPAS_TEST_MARK": str(mark)}
    proc = subprocess.Popen([sys.executable, "-c", HELD_STATS, "lde", "stats", "--lde", str(tiny_lde)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 240
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists(), proc.communicate(timeout=60)
    proc.send_signal(2)  # SIGINT, as Ctrl-C sends
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert (out, err) == ("", INTERRUPTED + "\n")


def test_a_command_that_explains_its_interruption_is_not_repeated(monkeypatch, capsys, tiny_lde) -> None:
    """`tapas search` prints its own line (with its --out folder) and exits 130 itself."""
    import typer

    def interrupted_and_explained(self):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            sys.stderr.write("interrupted: (search's own line)\n")
            raise typer.Exit(130) from None

    monkeypatch.setattr(DuckDBStore, "stats", interrupted_and_explained)
    monkeypatch.setattr(sys, "argv", ["tapas", "lde", "stats", "--lde", str(tiny_lde)])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 130
    assert capsys.readouterr().err == "interrupted: (search's own line)\n"


def test_errors_are_not_mistaken_for_interruptions(monkeypatch, capsys, tiny_lde) -> None:
    def broken(self):
        raise LDEError("the file is damaged")

    monkeypatch.setattr(DuckDBStore, "stats", broken)
    monkeypatch.setattr(sys, "argv", ["tapas", "lde", "stats", "--lde", str(tiny_lde)])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1
    assert capsys.readouterr().err == "error: the file is damaged\n"


# ------------------------------------------------------------------------------ damaged LDE files
@pytest.fixture(scope="module")
def whole_lde(tmp_path_factory, four_datasets) -> tuple[bytes, Path, tuple]:
    """A real LDE file's bytes (several DuckDB blocks), the export it was made from, and a new
    training to record into it (experiment, architecture, dataset: what `tapas train` writes)."""
    folder = tmp_path_factory.mktemp("whole")
    export_experiments(four_datasets, folder / "rows.parquet")
    store = DuckDBStore(folder / "lde.duckdb")
    import_experiments(store, folder / "rows.parquet")
    first = store.get_experiment(1)
    new = (dataclasses.replace(first, experiment_id=None, key="new"), store.get_architecture(first.arch_hash),
           store.get_dataset(first.dataset_fingerprint))
    return (folder / "lde.duckdb").read_bytes(), folder / "rows.parquet", new


OPERATIONS = {
    "stats": lambda store, rows, new: store.stats(),
    "frame": lambda store, rows, new: store.experiments_frame(),
    "query": lambda store, rows, new: store.query(0.5, 0.5),
    "import": lambda store, rows, new: import_experiments(store, rows),
    "add": lambda store, rows, new: store.add_experiments([new[0]], [new[1]], [new[2]]),
}


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.99])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_truncated_lde_is_refused_and_left_as_it_was(whole_lde, tmp_path: Path, keep: float,
                                                       operation: str) -> None:
    """`truncate -s 60%` of a real LDE: every operation, reading or writing, raises LDEFileError (the
    CLI's one line), never DuckDB's own error, and writes nothing into the damaged file."""
    whole, rows, new = whole_lde
    path = tmp_path / "cut.duckdb"
    path.write_bytes(whole[:int(len(whole) * keep)])
    with pytest.raises(LDEFileError, match=r"cut\.duckdb"):
        OPERATIONS[operation](DuckDBStore(path), rows, new)
    assert path.read_bytes() == whole[:int(len(whole) * keep)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.duckdb"]


def test_a_corrupt_block_is_an_lde_error_and_nothing_is_written(whole_lde, tmp_path: Path) -> None:
    """4 KiB of zeros in each block in turn: an operation succeeds (the block is not read) or raises
    LDEFileError naming the file; the file is never changed and DuckDB's errors never escape (an
    aborted transaction must not hide the error that aborted it)."""
    whole, rows, new = whole_lde
    refused = 0
    for start in range(12_288, len(whole), 262_144):  # DuckDB's blocks follow its 12 KiB of headers
        damaged = whole[:start + 100] + bytes(4096) + whole[start + 4196:]
        for name, operation in OPERATIONS.items():
            path = tmp_path / f"{start}-{name}.duckdb"
            path.write_bytes(damaged)
            try:
                operation(DuckDBStore(path), rows, new)
            except LDEFileError as exc:
                assert str(path) in str(exc) and "\n" not in str(exc)
                refused += 1
            if name != "add":  # an add of a new row to a store that reads fine is meant to write
                assert path.read_bytes() == damaged, (start, name)
    assert refused  # some blocks hold what the operations read


def test_a_warning_is_one_line(monkeypatch, capsys, tiny_lde) -> None:
    """A warning from deep inside (here: a refitted cache entry) reaches the user as one line."""
    import warnings

    def warns(self):
        warnings.warn("ignoring the unreadable cached predictor p.pt (truncated\nfile); refitting",
                      UserWarning, stacklevel=2)
        raise LDEError("stop here")

    monkeypatch.setattr(DuckDBStore, "stats", warns)
    monkeypatch.setattr(sys, "argv", ["tapas", "lde", "stats", "--lde", str(tiny_lde)])
    before = warnings.formatwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # as Python shows a warning outside pytest, which records them instead
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: (
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line)))
        with pytest.raises(SystemExit):
            cli.main()
    assert capsys.readouterr().err == ("warning: ignoring the unreadable cached predictor p.pt (truncated file); "
                                       "refitting\nerror: stop here\n")
    assert warnings.formatwarning is before  # the caller's format is back


def test_a_failed_cpu_allocation_counts_as_out_of_memory() -> None:
    """Issue 21, row 7: an allocation failure on CPU is recorded `oom`, as on GPU."""
    import torch

    from tapaskit.training.devices import is_oom

    with pytest.raises(RuntimeError) as info:
        torch.empty(10**14)  # 400 TB
    assert is_oom(info.value), str(info.value)
