"""SIGKILL a real `tapas` process at several points, then run again: nothing is lost or doubled.

Each case kills the command at a known point: most hold it there (a few lines run before
`cli.main()` wrap one function so that it touches a mark file and sleeps), the rest poll for a file
the command creates; deadlines are generous, so nothing here depends on how fast a machine is. Then
the LDE opens, its counts are exact and its keys unique, no leftover file blocks the next run, and
rerunning the same command (with `--resume` for a search) completes the work.

| command | killed | marker |
|---|---|---|
| `lde import` | as its file appears, and a second later | cheap |
| `train` | trained, not yet recorded | slow |
| first use of a fresh data home | before and after the import into its private file, at any moment | cheap |
| `lde seed` | after its first recorded result, workers running | slow |
| `search` | characterise, fit, propose, train, record (see `HELD_SEARCH`) | slow |
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_DATA
from lde import DuckDBStore, LDEError
from lde.default import embedded_default_path, embedded_rows

ROOT = Path(__file__).resolve().parents[1]
METAQNN_CSV = SHARED_DATA / "metaqnn_cifar10.csv"
DEADLINE = 240.0  # seconds; far above what any step needs, only there so a hang fails the test


def start_tapas(*args: str, home: Path, logs: Path, code: str = "import cli; cli.main()",
                env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the CLI as `run_tapas` does, without waiting; its output goes to files in ``logs``."""
    full_env = {**os.environ, "TAPAS_HOME": str(home), **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        return subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err,
                                env=full_env, cwd=ROOT)


def run_to_end(*args: str, home: Path, logs: Path) -> tuple[int, str, str]:
    proc = start_tapas(*args, home=home, logs=logs)
    code = proc.wait(timeout=DEADLINE)
    return code, (logs / "stdout").read_text(), (logs / "stderr").read_text()


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None,
               interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``proc`` has ended (False)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return condition()
        time.sleep(interval)
    raise AssertionError(f"condition still false after {DEADLINE:.0f} s")


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)  # a no-op when it has already ended
    proc.wait(timeout=60)


def experiments(path: Path) -> pd.DataFrame:
    """Every experiment of the LDE file, checked for unique keys (opening it as the next run does)."""
    frame = DuckDBStore(path, lock_timeout=60).experiments_frame()
    keys = frame["key"].dropna()
    assert keys.is_unique, keys[keys.duplicated()].tolist()[:5]
    return frame


def stored_count(path: Path) -> int:
    """Experiments stored so far, read without writing; 0 while the file is not ready."""
    try:
        return DuckDBStore(path, read_only=True, lock_timeout=1).stats()["experiments"]
    except LDEError:  # not created yet, not initialised yet, or busy
        return 0


# ------------------------------------------------------------------------------------- lde import
@pytest.mark.skipif(not METAQNN_CSV.exists(), reason="shared MetaQNN data not present")
@pytest.mark.parametrize("kill_after", [0.0, 1.0], ids=["file-created", "1s-later"])
def test_import_killed_then_rerun_has_every_row_once(tmp_path: Path, kill_after: float) -> None:
    lde = tmp_path / "lde" / "m.duckdb"
    args = ("lde", "import", str(METAQNN_CSV), "--format", "metaqnn", "--lde", str(lde))
    proc = start_tapas(*args, home=tmp_path / "home", logs=tmp_path / "killed")
    if wait_until(lde.exists, proc):
        time.sleep(kill_after)
    sigkill(proc)

    assert len(experiments(lde)) in (0, 1000)  # one batch: all of it or nothing
    code, _, err = run_to_end(*args, "--json", home=tmp_path / "home", logs=tmp_path / "rerun")
    assert code == 0, err
    frame = experiments(lde)
    assert len(frame) == 1000 and frame["key"].notna().all()
    assert sorted(p.name for p in lde.parent.iterdir()) == ["m.duckdb"]  # no WAL or lock left


# ------------------------------------------------------------------------------------------ train
# `tapas train` held after its training, before the result is recorded, until the test kills it.
HELD_TRAIN = """
import os, time
from pathlib import Path
import tapaskit.workflows.train as train
def held(*args, **kwargs):
    Path(os.environ["TAPAS_TEST_MARK"]).touch()
    time.sleep(600)
train.record_training = held
import cli
cli.main()
"""


@pytest.mark.slow
def test_train_killed_before_recording_leaves_an_lde_the_rerun_completes(tmp_path: Path) -> None:
    lde, mark = tmp_path / "lde" / "t.duckdb", tmp_path / "held"
    args = ("train", "digits", "--arch", "[C(8,3,1), SM(10)]", "--epochs", "1", "--lde", str(lde), "--json")
    proc = start_tapas(*args, home=tmp_path / "home", logs=tmp_path / "killed", code=HELD_TRAIN,
                       env={"TAPAS_TEST_MARK": str(mark)})
    assert wait_until(mark.exists, proc, interval=0.1), (tmp_path / "killed" / "stderr").read_text()[-3000:]
    sigkill(proc)

    assert len(experiments(lde)) == 0  # opened before the training (a bad --lde fails first), nothing recorded
    code, out, err = run_to_end(*args, home=tmp_path / "home", logs=tmp_path / "rerun")
    assert code == 0, err[-3000:]
    frame = experiments(lde)
    assert len(frame) == 1 and frame["mlflow_run_id"].iloc[0] == json.loads(out)["mlflow_run_id"]
    assert sorted(p.name for p in lde.parent.iterdir()) == ["t.duckdb"]


# --------------------------------------------------------------------------------------- lde seed
def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ", which may hold spaces
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """pid -> start time of every process below ``root``."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], starts[int(entry.name)] = stat[0], stat[2]
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = starts[child]
                frontier.append(child)
    return found


def running(pid: int, start: int) -> bool:
    stat = _stat(pid)
    # A zombie has exited (only waits for whoever adopted it to reap it); another start time is
    # another process that got the same pid.
    return stat is not None and stat[1] != "Z" and stat[2] == start


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# The driver held right after it recorded its first result, until the test kills it: the kill then
# lands mid-campaign however fast the trainings run (on the mini suite they end within milliseconds
# of each other), with the worker pool up.
HELD_CAMPAIGN = """
import os, time
from lde import ExperimentStore
real_add = ExperimentStore.add_experiments
def held(self, *args, **kwargs):
    inserted = real_add(self, *args, **kwargs)
    open(os.environ["TAPAS_TEST_MARK"], "w").close()
    time.sleep(600)
ExperimentStore.add_experiments = held
import cli
cli.main()
"""


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_seed_killed_mid_campaign_leaves_no_workers_and_resumes_exactly(tmp_path: Path) -> None:
    lde, mark = tmp_path / "seed.duckdb", tmp_path / "held"
    args = ("lde", "seed", "--suite", "mini", "--archs", "3", "--epochs", "1", "--lde", str(lde),
            "--workers", "2", "--json")
    proc = start_tapas(*args, home=tmp_path / "home", logs=tmp_path / "killed", code=HELD_CAMPAIGN,
                       env={"TAPAS_TEST_MARK": str(mark)})
    assert wait_until(mark.exists, proc, interval=0.1), (tmp_path / "killed" / "stderr").read_text()
    assert stored_count(lde) == 1
    children = descendants(proc.pid)
    workers = [pid for pid in children if "multiprocessing.spawn" in cmdline(pid)]
    sigkill(proc)

    assert workers, "the campaign should train in worker processes"
    # Orphaned workers notice their driver is gone and exit by themselves (they poll every second).
    deadline = time.monotonic() + 30
    while any(running(pid, start) for pid, start in children.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [cmdline(pid)[:120] for pid, start in children.items() if running(pid, start)]
    assert not left, f"processes of the killed run still running after 30 s: {left}"

    assert len(experiments(lde)) == 1
    code, out, err = run_to_end(*args, home=tmp_path / "home", logs=tmp_path / "rerun")
    assert code == 0, err
    report = json.loads(out)
    assert (report["planned"], report["skipped"], report["trained"]) == (6, 1, 5)
    frame = experiments(lde)
    assert len(frame) == 6 and frame["key"].notna().all()
    assert len(frame.groupby(["dataset_fingerprint", "arch_hash"])) == 6  # each training once


# ------------------------------------------------------------------ first use of a fresh data home
# The fill of the default LDE held at a known point (before or after the import into its private
# file) until the test kills it, so that the kill lands inside the fill however fast the machine.
HELD_FILL = """
import os, time
import tapaskit.store.default_lde as default_lde
real_import = default_lde.import_experiments
def held(store, path):
    if os.environ["TAPAS_TEST_HOLD"] == "after-import":
        real_import(store, path)
    open(os.environ["TAPAS_TEST_MARK"], "w").close()
    time.sleep(600)
default_lde.import_experiments = held
import cli
cli.main()
"""


@pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")
@pytest.mark.parametrize("hold", ["before-import", "after-import"])
def test_first_use_killed_during_the_fill_then_the_default_lde_is_whole(tmp_path: Path,
                                                                         hold: str) -> None:
    home, mark = tmp_path / "home", tmp_path / "held"
    proc = start_tapas("lde", "stats", home=home, logs=tmp_path / "killed", code=HELD_FILL,
                       env={"TAPAS_TEST_HOLD": hold, "TAPAS_TEST_MARK": str(mark)})
    assert wait_until(mark.exists, proc), (tmp_path / "killed" / "stderr").read_text()
    assert {p.name.split(".filling")[0] for p in home.iterdir()} == {f".lde.duckdb.{proc.pid}"}
    sigkill(proc)

    code, out, err = run_to_end("lde", "stats", "--json", home=home, logs=tmp_path / "rerun")
    assert code == 0, err
    expected = embedded_rows()  # every shipped suite's experiments
    assert expected >= 3900
    assert json.loads(out)["experiments"] == expected
    assert len(experiments(home / "lde.duckdb")) == expected
    assert sorted(p.name for p in home.iterdir()) == ["lde.duckdb"]  # the killed fill's file is gone


@pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")
def test_first_use_killed_at_any_moment_then_the_default_lde_is_whole(tmp_path: Path) -> None:
    """Without a hold: killed as soon as its private file appears (or after it ended)."""
    home = tmp_path / "home"
    proc = start_tapas("lde", "stats", home=home, logs=tmp_path / "killed")
    wait_until(lambda: home.is_dir() and any(home.iterdir()), proc, interval=0.005)
    sigkill(proc)

    code, out, err = run_to_end("lde", "stats", "--json", home=home, logs=tmp_path / "rerun")
    assert code == 0, err
    assert json.loads(out)["experiments"] == len(experiments(home / "lde.duckdb")) == embedded_rows()
    assert sorted(p.name for p in home.iterdir()) == ["lde.duckdb"]


# ------------------------------------------------------------------------------------------ search
# `tapas search` held at one point of its steps until the test kills it; TAPAS_TEST_HOLD names it.
HELD_SEARCH = """
import contextlib, os, time
from pathlib import Path

def hold():
    Path(os.environ["TAPAS_TEST_MARK"]).touch()
    time.sleep(600)

import tapaskit.predictor.persistence as persistence
import tapaskit.workflows.search as search
from lde import DuckDBStore

point = os.environ["TAPAS_TEST_HOLD"]
if point == "characterise":  # the probe net has run and the dataset's row is written, its DCN not yet
    DuckDBStore.set_dcn = lambda self, *args, **kwargs: hold()
elif point == "fit":  # the fitted predictor is in its cache's temporary file, not yet renamed into place
    real_atomic_write = persistence.atomic_write
    @contextlib.contextmanager
    def held_atomic_write(path):
        with real_atomic_write(path) as partial:
            yield partial
            hold()
    persistence.atomic_write = held_atomic_write
elif point == "propose":  # the strategy's first checkpoint is written, the proposals not finished
    real_save = search.Search._save_state
    def held_save(self):
        real_save(self)
        hold()
    search.Search._save_state = held_save
elif point == "train":  # round 1's training is recorded; round 2 has not started
    real_record = search.Search.record
    def held_record(self, trained):
        real_record(self, trained)
        hold()
    search.Search.record = held_record
elif point == "record":  # round 1's training finished and its resume files are written; no LDE row yet
    search.Search.record = lambda self, trained: hold()
import cli
cli.main()
"""
# Two rounds of one training each.
SEARCH = ("search", "{dataset}", "--preset", "quick", "--budget", "32", "--top-k", "1", "--trainings", "2",
          "--epochs", "1", "--predictor", "lightgbm", "--tau", "0.5", "--json")


@pytest.fixture(scope="module")
def default_lde(tmp_path_factory) -> Path:
    """The embedded default LDE as a file (the one a fresh data home starts from)."""
    from lde import import_experiments

    path = tmp_path_factory.mktemp("default") / "default.duckdb"
    import_experiments(DuckDBStore(path), embedded_default_path())
    return path


def _stray_files(folder: Path) -> list[str]:
    """Leftovers of an interrupted atomic write under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.partial"))


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")
@pytest.mark.parametrize(("point", "recorded"), [("characterise", 0), ("fit", 0), ("propose", 0), ("train", 1),
                                                 ("record", 0)])
def test_search_killed_then_resumed_records_each_training_once(tmp_path: Path, default_lde: Path, point: str,
                                                              recorded: int) -> None:
    home, out, mark, lde = tmp_path / "home", tmp_path / "out", tmp_path / "held", tmp_path / "lde.duckdb"
    shutil.copyfile(default_lde, lde)
    # digits' DCN comes with the default LDE; a variant of it must be characterised for real
    dataset = "digits[n=1200]" if point == "characterise" else "digits"
    args = tuple(a.replace("{dataset}", dataset) for a in SEARCH) + ("--out", str(out), "--lde", str(lde))
    proc = start_tapas(*args, home=home, logs=tmp_path / "killed", code=HELD_SEARCH,
                       env={"TAPAS_TEST_HOLD": point, "TAPAS_TEST_MARK": str(mark)})
    assert wait_until(mark.exists, proc, interval=0.1), (tmp_path / "killed" / "stderr").read_text()[-3000:]
    sigkill(proc)

    killed = experiments(lde)  # opens, keys unique
    assert (killed["source"] == "search").sum() == recorded
    if point == "characterise":
        row = DuckDBStore(lde).find_datasets("digits[n=1200]")
        assert len(row) == 1 and row[0].dcn is None  # the row was written, the DCN was not
    if point == "fit":
        assert _stray_files(home / "predictors") and not list((home / "predictors").glob("*.pt"))

    code, stdout, err = run_to_end(*args, "--resume", home=home, logs=tmp_path / "rerun")
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    summary = json.loads(stdout)
    frame = experiments(lde)
    mine = frame[frame["source"] == "search"]
    assert len(mine) == 2 and mine["key"].notna().all()  # each of the two trainings once
    assert summary["lde_rows_added"] == 2 - recorded
    assert sorted(mine["key"]) == sorted(f"search/{summary['search_id']}/{c['arch_hash']}"
                                         for c in summary["candidates"])
    others = frame[frame["source"] != "search"].drop(columns=["experiment_id"])
    before = killed[killed["source"] != "search"].drop(columns=["experiment_id"])
    pd.testing.assert_frame_equal(others.reset_index(drop=True), before.reset_index(drop=True))
    assert frame.loc[frame["dataset_name"] == dataset, "dcn"].notna().all()
    # nothing half-written is left where the next run reads: the search's folder, the predictor cache
    assert _stray_files(out) == []
    for cached in (home / "predictors").glob("*.pt"):
        assert cached.stat().st_size > 0
    assert (out / "summary.json").is_file() and (out / "weights.pt").is_file()
