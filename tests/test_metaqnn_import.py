from __future__ import annotations

import pandas as pd
import pytest

from lde import DuckDBStore
from lde.errors import ImportFormatError
from lde.io import export_experiments, import_experiments

from tapaskit.store.metaqnn_import import import_metaqnn

from conftest import SHARED_DATA

CSV = SHARED_DATA / "metaqnn_cifar10.csv"
needs_csv = pytest.mark.skipif(not CSV.exists(), reason="../shared/data/metaqnn_cifar10.csv is not here")


@needs_csv
def test_import_all_rows_then_parquet_round_trip_is_identical(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    first = import_metaqnn(store, CSV)
    assert (first.inserted, first.skipped, first.format) == (1000, 0, "metaqnn")
    again = import_metaqnn(store, CSV)  # idempotent
    assert (again.inserted, again.skipped, again.experiments) == (0, 1000, 1000)
    stats = store.stats()
    assert stats["experiments"] == stats["ok_experiments"] == 1000 and stats["datasets"] == 1
    frame = store.query()
    source = pd.read_csv(CSV)
    assert frame["peak_accuracy"].max() == pytest.approx(source.filter(like="acc_").max(axis=1).max())
    assert frame["dcn"].isna().all() and (frame["epochs"] == 20).all()

    export_experiments(store, tmp_path / "m.parquet")
    copy = DuckDBStore(tmp_path / "copy.duckdb")
    import_experiments(copy, tmp_path / "m.parquet")
    assert copy.stats() == stats
    pd.testing.assert_frame_equal(copy.experiments_frame(), store.experiments_frame())


def _write(path, rows, columns=("net", "training_dataset", "num_params", "depth", "lr", "acc_1", "acc_2")):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def test_bad_rows_and_missing_columns_write_nothing(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    good = ["[C(8,3,1), P(2,2), SM(10)]", "cifar10", 100, 2, 0.001, 0.3, 0.4]
    bad_acc = _write(tmp_path / "a.csv", [good, ["[C(8,3,1), SM(10)]", "cifar10", 1, 1, 0.001, 0.5, 1.7]])
    with pytest.raises(ImportFormatError, match=r"row 3.*1\.7"):
        import_metaqnn(store, bad_acc)
    missing = _write(tmp_path / "b.csv", [good[:2]], columns=("net", "training_dataset"))
    with pytest.raises(ImportFormatError, match="missing MetaQNN columns: lr, acc_1"):
        import_metaqnn(store, missing)
    bad_net = _write(tmp_path / "c.csv", [good, ["[X(3)]", "cifar10", 1, 1, 0.001, 0.1, 0.2]])
    with pytest.raises(ImportFormatError, match="row 3"):
        import_metaqnn(store, bad_net)
    assert store.stats()["experiments"] == 0
