"""The embedded default LDE: a fresh data home can predict and search at once, offline."""

from __future__ import annotations

import pytest

from lde import DuckDBStore
from lde.default import embedded_default_path

from tapaskit.experiments import open_lde

pytestmark = pytest.mark.skipif(embedded_default_path() is None, reason="the default LDE is not generated")


def test_fresh_home_gets_the_embedded_default(home):
    stats = open_lde().stats()
    assert stats["datasets"] >= 12 and stats["ok_experiments"] >= 1800
    assert all(d["dcn"] is not None for d in stats["per_dataset"])
    assert stats["dcn_max"] - stats["dcn_min"] >= 0.4
    for d in stats["per_dataset"]:
        assert d["peak_accuracy_std"] >= 0.03, d["name"]


def test_a_named_lde_file_is_never_filled_or_overwritten(home, tmp_path):
    mine = tmp_path / "mine.duckdb"
    assert open_lde(mine).stats()["experiments"] == 0
    open_lde()  # creates and fills the default one
    assert DuckDBStore(mine).stats()["experiments"] == 0


def test_default_file_is_filled_only_once(home):
    first = open_lde().stats()["experiments"]
    assert open_lde().stats()["experiments"] == first
