"""The embedded default LDE: a fresh data home can predict and search at once, offline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lde import DuckDBStore
from lde.default import FILENAMES, embedded_default_path, embedded_default_paths, embedded_rows

from tapaskit.store import open_lde

pytestmark = pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")


def test_fresh_home_gets_the_embedded_default(home):
    stats = open_lde().stats()
    assert stats["datasets"] >= 12 and stats["ok_experiments"] >= 1800
    assert all(d["dcn"] is not None for d in stats["per_dataset"])
    assert stats["dcn_max"] - stats["dcn_min"] >= 0.4
    for d in stats["per_dataset"]:
        if d["ok_experiments"] >= 10:  # a campaign shipped while still running has datasets with fewer
            assert d["peak_accuracy_std"] >= 0.03, d["name"]


@pytest.mark.skipif(len(embedded_default_paths()) < len(FILENAMES), reason="the large suite is not generated")
def test_a_fresh_home_holds_both_suites(home):
    import pandas as pd

    store = open_lde()
    frame = store.experiments_frame()
    assert len(frame) == embedded_rows() == sum(
        len(pd.read_parquet(path, columns=["key"]).dropna()) for path in embedded_default_paths())
    suites = frame["key"].str.split("/").str[1]
    assert set(suites) == {"default", "large"}
    large = frame[suites == "large"]
    columns = large[["in_channels", "in_height", "in_width"]]
    shapes = {(int(c), int(h), int(w)) for c, h, w in columns.itertuples(index=False)}
    assert shapes <= {(1, 28, 28), (3, 32, 32)} and (large["epochs"] >= 8).all()
    assert set(large["arch_hash"]) <= set(frame.loc[suites == "default", "arch_hash"])  # the same networks
    small = frame[suites == "default"]
    assert small["in_height"].max() <= 16 and set(small["epochs"]) == {6}
    # every dataset of both suites is there, each with its DCN, those still untrained included
    names = {d.name for d in store.datasets()}
    assert {"fashion-mnist[n=4500]", "textures[samples=5000]", "digits"} <= names
    native = [tuple(d.input_shape) for d in store.datasets() if d.input_shape[1] >= 28]
    assert len(native) >= 6 and set(native) == {(1, 28, 28), (3, 32, 32)}
    assert all(d.dcn is not None for d in store.datasets())


def test_a_first_use_killed_between_two_suite_files_leaves_no_half_filled_lde(home, monkeypatch):
    import tapaskit.store.default_lde as default_lde

    calls = []

    def import_second_then_die(store, path):
        calls.append(path)
        if len(calls) == len(embedded_default_paths()):
            raise KeyboardInterrupt  # the first files are in the private file, the last is not
        real_import(store, path)

    real_import = default_lde.import_experiments
    monkeypatch.setattr(default_lde, "import_experiments", import_second_then_die)
    with pytest.raises(KeyboardInterrupt):
        open_lde()
    assert list(home.iterdir()) == []
    monkeypatch.setattr(default_lde, "import_experiments", real_import)
    assert open_lde().stats()["experiments"] == embedded_rows()


def test_a_named_lde_file_is_never_filled_or_overwritten(home, tmp_path):
    mine = tmp_path / "mine.duckdb"
    assert open_lde(mine).stats()["experiments"] == 0
    open_lde()  # creates and fills the default one
    assert DuckDBStore(mine).stats()["experiments"] == 0


def test_default_file_is_filled_only_once(home):
    first = open_lde().stats()["experiments"]
    assert open_lde().stats()["experiments"] == first


def test_a_first_use_killed_during_the_fill_leaves_no_half_filled_lde(home, monkeypatch):
    import tapaskit.store.default_lde as default_lde

    def import_then_die(store, path):
        real_import(store, path)  # everything written to the private file ...
        raise KeyboardInterrupt  # ... and then the user presses Ctrl-C

    real_import = default_lde.import_experiments
    monkeypatch.setattr(default_lde, "import_experiments", import_then_die)
    with pytest.raises(KeyboardInterrupt):
        open_lde()
    assert list(home.iterdir()) == []  # no default LDE, no leftover
    monkeypatch.setattr(default_lde, "import_experiments", real_import)
    assert open_lde().stats()["experiments"] == embedded_rows()


def test_files_left_by_a_killed_fill_are_removed_and_a_running_fill_is_left_alone(home):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=60)  # a pid that no longer runs: the fill there was killed
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        home.mkdir(parents=True, exist_ok=True)
        abandoned = [home / f".lde.duckdb.{finished.pid}.filling",
                     home / f".lde.duckdb.{finished.pid}.filling.wal"]
        in_progress = home / f".lde.duckdb.{running.pid}.filling"
        for path in [*abandoned, in_progress]:
            path.write_bytes(b"partial")
        assert open_lde().stats()["experiments"] == embedded_rows()
        assert sorted(p.name for p in home.iterdir()) == [in_progress.name, "lde.duckdb"]
    finally:
        running.kill()
        running.wait(timeout=60)


def test_two_first_commands_side_by_side_both_see_the_whole_default(home):
    code = ("from tapaskit.store import open_lde; "
            "print(open_lde().stats()['experiments'])")
    env = {**os.environ, "TAPAS_HOME": str(home)}
    children = [subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    assert [int(out) for out, _ in outputs] == [embedded_rows()] * 2
    assert sorted(p.name for p in home.iterdir()) == ["lde.duckdb"]
