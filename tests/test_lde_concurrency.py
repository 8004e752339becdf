"""Several processes on one LDE file: taking turns, bounded waiting, and surviving SIGKILL.

Real processes (``subprocess``), since DuckDB's file lock is per process. The children print one
line per milestone and the parent reads them, so no test depends on sleeping "long enough".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lde import ArchitectureRecord, DatasetRecord, DuckDBStore, LDELockedError

ROOT = Path(__file__).resolve().parents[1]


def spawn(code: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def expect_line(proc: subprocess.Popen[str], prefix: str) -> str:
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        raise AssertionError(f"expected {prefix!r} from child, got {line!r}; "
                             f"stderr: {proc.stderr.read()[-2000:]}")
    return line.strip()


def seed_store(path: Path) -> DuckDBStore:
    store = DuckDBStore(path)
    store.add_experiments(
        [], [ArchitectureRecord(arch_hash="h", arch_json="{}", depth=1, num_layers=1)],
        [DatasetRecord(fingerprint="f", name="d", input_shape=(1, 4, 4), num_classes=2,
                       num_samples=4, dcn=0.5)])
    return store


WRITER = """
import os, sys, time
from lde import DuckDBStore, ExperimentRecord
path, tag, n, go, go_on = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]

def wait_for(flag):
    while not os.path.exists(flag):
        time.sleep(0.002)

def insert(i):
    store.add_experiment(ExperimentRecord(arch_hash="h", dataset_fingerprint="f", peak_accuracy=0.5,
                                          final_accuracy=0.5, device=tag, key=f"{tag}-{i}"))

store = DuckDBStore(path, lock_timeout=120)
print("ready", flush=True)
wait_for(go)
insert(0)
print("first", flush=True)
wait_for(go_on)  # the parent lets both go on once each has one record in
for i in range(1, n):
    insert(i)
print("done", flush=True)
"""


@pytest.mark.slow
def test_two_processes_inserting_one_by_one_lose_nothing(tmp_path: Path) -> None:
    path, go, go_on = tmp_path / "lde.duckdb", tmp_path / "go", tmp_path / "go-on"
    store = seed_store(path)
    children = [spawn(WRITER, path, tag, 500, go, go_on) for tag in ("a", "b")]
    for child in children:
        expect_line(child, "ready")
    go.touch()  # both start together
    for child in children:
        expect_line(child, "first")
    go_on.touch()  # each has written once; the other 2 x 499 inserts race for the lock
    for child in children:
        expect_line(child, "done")
        assert child.wait(timeout=120) == 0
    frame = store.experiments_frame()
    assert len(frame) == 1000 and store.stats()["experiments"] == 1000
    assert sorted(frame["experiment_id"]) == list(range(1, 1001))
    assert frame["key"].nunique() == 1000
    ids_a = sorted(frame.loc[frame["device"] == "a", "experiment_id"])
    ids_b = sorted(frame.loc[frame["device"] == "b", "experiment_id"])
    assert len(ids_a) == len(ids_b) == 500
    # both first records came in before either writer went on, so their runs overlap whatever the
    # scheduler does (how finely the remaining inserts alternate depends on it and is not asserted)
    assert sorted([ids_a[0], ids_b[0]]) == [1, 2]


IMPORTER = """
import sys
from lde import DuckDBStore, import_experiments
store = DuckDBStore(sys.argv[1])
import_experiments(store, sys.argv[2], batch_size=int(sys.argv[3]),
                   on_batch=lambda done, total: print(f"committed {done}", flush=True))
print("finished", flush=True)
"""


def write_import_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.1, 0.9, rows)
    n = rows
    pq.write_table(pa.table({
        "dataset_fingerprint": ["f"] * n, "dataset_name": ["d"] * n,
        "in_channels": np.ones(n, np.int64), "in_height": np.full(n, 4), "in_width": np.full(n, 4),
        "num_classes": np.full(n, 2), "num_samples": np.full(n, 4), "dcn": np.full(n, 0.5),
        "arch_hash": [f"h{i % 1000}" for i in range(n)], "arch_json": ["{}"] * n,
        "depth": np.ones(n, np.int64), "num_layers": np.ones(n, np.int64),
        "status": ["ok"] * n, "peak_accuracy": acc, "final_accuracy": acc,
        "key": [f"row-{i}" for i in range(n)],
    }), path)


@pytest.mark.slow
def test_sigkill_during_import_leaves_whole_batches(tmp_path: Path) -> None:
    rows, batch = 200_000, 10_000
    path, source = tmp_path / "lde.duckdb", tmp_path / "in.parquet"
    write_import_file(source, rows)
    DuckDBStore(path).close()
    child = spawn(IMPORTER, path, source, batch)
    reported = int(expect_line(child, "committed").split()[1])
    child.send_signal(signal.SIGKILL)  # mid-import: the next batch is being written
    assert child.wait(timeout=60) == -signal.SIGKILL

    store = DuckDBStore(path)  # opens (recovering from the WAL if needed)
    stats = store.stats()
    n = stats["experiments"]
    assert n % batch == 0, f"{n} rows is not a whole number of batches"
    assert reported <= n <= reported + batch < rows  # at most the batch after the last report
    assert sorted(store.experiments_frame()["experiment_id"]) == list(range(1, n + 1))
    assert stats["datasets"] == 1


HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN TRANSACTION")
print("locked", flush=True)
sys.stdin.readline()  # holds the lock until the parent says so (or closes the pipe)
con.close()
print("released", flush=True)
"""


def spawn_holder(path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_lock_held_past_timeout_raises_and_shorter_hold_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "lde.duckdb"
    store = seed_store(path)
    holder = spawn_holder(path)
    try:
        expect_line(holder, "locked")
        start = time.monotonic()
        with pytest.raises(LDELockedError, match=r"locked by another process \(waited 0.5 s\); "
                                                 r"retry when it finishes or raise "
                                                 "TAPAS_LDE_LOCK_TIMEOUT"):
            DuckDBStore(path, lock_timeout=0.5)
        assert time.monotonic() - start >= 0.5  # it waited its timeout ...
        assert holder.poll() is None  # ... and gave up while the lock was still held: bounded waiting
        with pytest.raises(LDELockedError):
            DuckDBStore(path, lock_timeout=0.2, read_only=True).close()
    finally:
        holder.kill()
        holder.wait(timeout=30)

    # a lock released within the timeout is waited out: the open succeeds, and only after the release
    holder = spawn_holder(path)
    expect_line(holder, "locked")
    opened: list[tuple[DuckDBStore, float]] = []
    opener = threading.Thread(target=lambda: opened.append((DuckDBStore(path, lock_timeout=120), time.monotonic())))
    opener.start()
    opener.join(timeout=0.5)  # it may still be starting on a busy machine; the order below is what counts
    released_at = time.monotonic()
    holder.stdin.write("release\n")
    holder.stdin.flush()
    expect_line(holder, "released")
    opener.join(timeout=120)
    assert opened, "the waiting open did not finish"
    store, opened_at = opened[0]
    assert opened_at > released_at  # never opened while the lock was held
    assert store.stats()["datasets"] == 1
    assert holder.wait(timeout=30) == 0
