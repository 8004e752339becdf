"""Import and export in the open format (lde/io.py): lossless round trips, checks before writes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lde import (
    FRAME_COLUMNS,
    ArchitectureRecord,
    DatasetRecord,
    DuckDBStore,
    ExperimentRecord,
    ExperimentStore,
    ImportFormatError,
    InvalidArgumentError,
    MemoryStore,
    export_experiments,
    import_experiments,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
REQUIRED = [c.name for c in FRAME_COLUMNS if c.required]


def fill(store: ExperimentStore) -> ExperimentStore:
    """Every kind of value the format must carry: nulls, lists, JSON, quotes, unicode, orphans."""
    datasets = [
        DatasetRecord(fingerprint="fp-a", name="cifar10", input_shape=(3, 32, 32), num_classes=10,
                      num_samples=50_000, dcn=0.1 + 0.2, dcn_probe="p", dcn_probe_version="1.2",
                      dcn_seed=3, dcn_seconds=12.25, dcn_probe_accuracy=1 / 3, created_at=T0),
        DatasetRecord(fingerprint="fp-b", name="naïve, \"quoted\" set", input_shape=(1, 28, 28),
                      num_classes=2, num_samples=7, created_at=T0 + timedelta(days=1)),
        DatasetRecord(fingerprint="fp-orphan", name="unused", input_shape=(3, 8, 8), num_classes=3,
                      num_samples=9, dcn=0.0, created_at=T0),
    ]
    archs = [
        ArchitectureRecord(arch_hash="h1", arch_json='{"layers":[{"k":"conv","f":32}],"n":"a,b"}',
                           depth=1, num_layers=3),
        ArchitectureRecord(arch_hash="h2", arch_json='{"s":"line\\nbreak \\"q\\""}', depth=0,
                           num_layers=1),
        ArchitectureRecord(arch_hash="h-orphan", arch_json="{}", depth=5, num_layers=6),
    ]
    experiments = [
        ExperimentRecord(arch_hash="h1", dataset_fingerprint="fp-a", peak_accuracy=0.1 + 0.7,
                         final_accuracy=2 / 3, curve=(0.1, 1 / 3, 0.8), source="search", lr=1e-3,
                         epochs=3, batch_size=64, optimizer="adam", weight_decay=0.0,
                         extra_hparams={"m": 0.9, "tags": ["a", "é"]}, params=2**40,
                         flops=2**53 + 1, seconds=1.5, device="cuda:0", seed=2**63 - 1,
                         mlflow_run_id="r1", key="k1", created_at=T0),
        ExperimentRecord(arch_hash="h2", dataset_fingerprint="fp-a", status="diverged",
                         peak_accuracy=0.2, curve=(0.2,), source="train", created_at=T0),
        ExperimentRecord(arch_hash="h1", dataset_fingerprint="fp-b", status="oom", source="seed",
                         created_at=T0 + timedelta(microseconds=1)),
        ExperimentRecord(arch_hash="h2", dataset_fingerprint="fp-b", peak_accuracy=1.0,
                         final_accuracy=0.0, source="import", key="k,2", created_at=T0),
    ]
    store.add_experiments(experiments, archs, datasets)
    return store


def assert_same_store(a: ExperimentStore, b: ExperimentStore) -> None:
    pd.testing.assert_frame_equal(a.experiments_frame(), b.experiments_frame())
    assert a.stats() == b.stats()
    assert a.datasets() == b.datasets()
    assert a.architectures() == b.architectures()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("source_kind", ["duckdb", "memory"])
def test_export_then_import_is_lossless(tmp_path: Path, fmt: str, source_kind: str) -> None:
    source = fill(DuckDBStore(tmp_path / "src.duckdb") if source_kind == "duckdb" else MemoryStore())
    path = tmp_path / f"lde.{fmt}"
    assert export_experiments(source, path) == 4
    target = DuckDBStore(tmp_path / "dst.duckdb")
    report = import_experiments(target, path)
    assert (report.rows, report.experiments, report.inserted, report.skipped) == (6, 4, 4, 0)
    assert (report.datasets, report.architectures, report.format) == (3, 3, fmt)
    assert_same_store(source, target)  # ids, timestamps, floats, NULLs and orphans included


def test_csv_cells_are_text_a_person_can_read(tmp_path: Path) -> None:
    path = tmp_path / "lde.csv"
    export_experiments(fill(MemoryStore()), path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = frame.iloc[0]
    assert json.loads(row["curve"]) == [0.1, 1 / 3, 0.8]
    assert json.loads(row["extra_hparams"]) == {"m": 0.9, "tags": ["a", "é"]}
    assert row["dcn"] == "0.30000000000000004" and row["seed"] == str(2**63 - 1)
    assert frame.iloc[-1]["status"] == "" and frame.iloc[-1]["arch_hash"] == "h-orphan"


def test_reimport_skips_keyed_rows(tmp_path: Path) -> None:
    store = fill(MemoryStore())
    path = tmp_path / "lde.parquet"
    export_experiments(store, path)
    report = import_experiments(store, path)
    assert (report.inserted, report.skipped) == (2, 2)  # k1 and "k,2" known; unkeyed rows appended
    assert store.stats()["experiments"] == 6


def test_batches_are_reported_and_ids_follow_the_file(tmp_path: Path) -> None:
    source = MemoryStore()
    source.add_experiments(
        [ExperimentRecord(arch_hash="h", dataset_fingerprint="f", peak_accuracy=i / 10,
                          final_accuracy=i / 10, created_at=T0) for i in range(10)],
        [ArchitectureRecord(arch_hash="h", arch_json="{}", depth=1, num_layers=1)],
        [DatasetRecord(fingerprint="f", name="d", input_shape=(1, 4, 4), num_classes=2,
                       num_samples=4, created_at=T0)],
    )
    path = tmp_path / "lde.parquet"
    export_experiments(source, path)
    shuffled = pq.read_table(path).take([3, 9, 0, 5, 1, 8, 2, 7, 4, 6])
    pq.write_table(shuffled, path)
    target, seen = MemoryStore(), []
    report = import_experiments(target, path, batch_size=3, on_batch=lambda d, t: seen.append((d, t)))
    assert report.batches == 4 and seen == [(3, 10), (6, 10), (9, 10), (10, 10)]
    assert_same_store(source, target)


def minimal_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    base = {"dataset_fingerprint": "f", "dataset_name": "d", "in_channels": 1, "in_height": 4,
            "in_width": 4, "num_classes": 2, "num_samples": 10, "arch_hash": "h",
            "arch_json": '{"a": 1}', "depth": 1, "num_layers": 2, "status": "ok",
            "peak_accuracy": 0.5, "final_accuracy": 0.4}
    pd.DataFrame([{**base, **r} for r in rows]).to_csv(path, index=False)
    return path


def test_timestamps_with_and_without_offset(tmp_path: Path) -> None:
    store = MemoryStore()
    path = minimal_csv(tmp_path / "in.csv", [{"created_at": "2024-01-01T12:00:00+02:00"},
                                            {"created_at": "2024-01-01 10:00:00.5"}, {}])
    import_experiments(store, path)
    stamps = [store.get_experiment(i).created_at for i in (1, 2)]
    assert stamps == [datetime(2024, 1, 1, 10, tzinfo=UTC),
                      datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)]


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "lde.duckdb")
    path = minimal_csv(tmp_path / "in.csv", [{}, {"peak_accuracy": 0.75, "final_accuracy": 0.5}])
    report = import_experiments(store, path)
    assert report.inserted == 2
    frame = store.experiments_frame()
    assert list(frame["source"]) == ["import", "import"]
    assert list(frame["extra_hparams"]) == ["{}", "{}"] and list(frame["curve"][0]) == []
    assert list(frame["peak_accuracy"]) == [0.5, 0.75] and frame["dcn"].isna().all()


def test_bad_value_names_row_and_column_and_writes_nothing(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "lde.duckdb")
    path = minimal_csv(tmp_path / "in.csv", [{}, {}, {"peak_accuracy": 1.7}, {}])
    with pytest.raises(ImportFormatError,
                       match=r"row 3: column peak_accuracy: peak_accuracy must be in \[0, 1\], "
                             r"but got 1.7"):
        import_experiments(store, path, batch_size=1)
    assert store.stats()["experiments"] == 0 and store.stats()["datasets"] == 0


@pytest.mark.parametrize(("row", "message"), [
    ({"epochs": "abc"}, "row 2: column epochs must be an integer, but got 'abc'"),
    ({"epochs": "2.5"}, "row 2: column epochs must be an integer, but got '2.5'"),
    ({"curve": "[0.1, oops]"}, "row 2: column curve must be a list of numbers"),
    ({"curve": "[0.1, 2]"}, r"row 2: column curve: curve\[1\] must be in \[0, 1\], but got 2.0"),
    ({"extra_hparams": "{bad"}, "row 2: column extra_hparams must be a JSON object"),
    ({"status": "done"}, "row 2: column status: status must be one of"),
    ({"num_classes": 1}, "rows 1 and 2 describe dataset 'f' differently"),
    ({"arch_json": "{}"}, "rows 1 and 2 describe architecture 'h' differently"),
    ({"dataset_fingerprint": "g", "num_classes": 1},
     "row 2: column num_classes: num_classes must be >= 2, but got 1"),
    ({"in_width": 0, "dataset_fingerprint": "g"}, "row 2: column in_channels/in_height/in_width"),
    ({"created_at": "yesterday"}, "row 2: column created_at must be an ISO 8601 timestamp"),
    ({"created_at": "2024-01-01 10:00:00", "peak_accuracy": 7},
     r"row 2: column peak_accuracy: peak_accuracy must be in \[0, 1\], but got 7.0"),
    ({"status": None, "peak_accuracy": None, "final_accuracy": 0.3},
     "row 2: column status is empty but the row has experiment values"),
])
def test_bad_cells(tmp_path: Path, row: dict, message: str) -> None:
    store = MemoryStore()
    path = minimal_csv(tmp_path / "in.csv", [{}, row])
    with pytest.raises(ImportFormatError, match=message):
        import_experiments(store, path)
    assert store.stats()["experiments"] == 0


def test_missing_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    pd.DataFrame({"dataset_fingerprint": ["f"], "status": ["ok"]}).to_csv(path, index=False)
    with pytest.raises(ImportFormatError, match="lacks required columns: dataset_name, num_classes, "
                                                "in_channels, in_height, in_width, num_samples, "
                                                "arch_hash, arch_json, depth, num_layers"):
        import_experiments(MemoryStore(), path)
    minimal_csv(path, [{"peak_acc": 0.5}])
    with pytest.raises(ImportFormatError, match="unknown columns: peak_acc"):
        import_experiments(MemoryStore(), path)


def test_loosely_typed_parquet_is_accepted(tmp_path: Path) -> None:
    """Parquet written by other tools: narrower ints, naive timestamps, int curves, text numbers."""
    table = pa.table({
        "dataset_fingerprint": ["f", "f"], "dataset_name": ["d", "d"],
        "in_channels": pa.array([1, 1], pa.int8()), "in_height": pa.array([4, 4], pa.int16()),
        "in_width": pa.array([4, 4], pa.int32()), "num_classes": [2, 2], "num_samples": [5, 5],
        "arch_hash": ["h", "h"], "arch_json": ["{}", "{}"], "depth": [1, 1], "num_layers": [1, 1],
        "status": ["ok", "failed"], "peak_accuracy": pa.array([1, None], pa.int64()),
        "final_accuracy": pa.array(["0.5", None]), "curve": pa.array([[0, 1], []], pa.list_(pa.int64())),
        "created_at": pa.array([datetime(2024, 1, 1), None], pa.timestamp("ms")),
    })
    path = tmp_path / "loose.pq"
    pq.write_table(table, path)
    store = MemoryStore()
    assert import_experiments(store, path).inserted == 2
    e = store.get_experiment(1)
    assert (e.peak_accuracy, e.final_accuracy, e.curve) == (1.0, 0.5, (0.0, 1.0))
    assert e.created_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_format_is_taken_from_the_suffix_or_argument(tmp_path: Path) -> None:
    store = fill(MemoryStore())
    with pytest.raises(InvalidArgumentError, match="cannot tell the format of lde.txt"):
        export_experiments(store, tmp_path / "lde.txt")
    export_experiments(store, tmp_path / "lde.txt", format="csv")
    assert import_experiments(MemoryStore(), tmp_path / "lde.txt", format="csv").inserted == 4
    with pytest.raises(InvalidArgumentError, match="format must be one of parquet, csv"):
        export_experiments(store, tmp_path / "x.csv", format="xlsx")
    with pytest.raises(InvalidArgumentError, match="batch_size must be an integer >= 1"):
        import_experiments(MemoryStore(), tmp_path / "lde.txt", format="csv", batch_size=0)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="does not exist"):
        import_experiments(MemoryStore(), tmp_path / "none.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ImportFormatError, match="cannot read .*bad.parquet as parquet"):
        import_experiments(MemoryStore(), bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFormatError, match="is empty"):
        import_experiments(MemoryStore(), empty)


def test_export_replaces_atomically_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "out" / "lde.parquet"
    store = fill(MemoryStore())
    export_experiments(store, path)
    store.add_experiment(dataclasses.replace(store.get_experiment(1), key="k3"))
    with pytest.raises(InvalidArgumentError, match="exists; choose another path or pass --force"):
        export_experiments(store, path)
    assert export_experiments(store, path, overwrite=True) == 5
    assert sorted(p.name for p in path.parent.iterdir()) == ["lde.parquet"]


@pytest.mark.parametrize("kind", ["folder", "symlink", "device"])
def test_export_never_replaces_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    store = fill(MemoryStore())
    if kind == "folder":
        target = tmp_path / "dir.csv"
        target.mkdir()
    elif kind == "symlink":
        (tmp_path / "real.csv").write_text("keep me")
        target = tmp_path / "link.csv"
        target.symlink_to(tmp_path / "real.csv")
    else:
        target = Path("/dev/null")
    with pytest.raises(InvalidArgumentError, match="is not a regular file"):
        export_experiments(store, target, format="csv", overwrite=True)
    if kind == "symlink":
        assert target.is_symlink() and (tmp_path / "real.csv").read_text() == "keep me"
    if kind == "device":
        assert target.is_char_device()



def test_schema_md_documents_every_column(tmp_path: Path) -> None:
    """The written format and the code cannot drift apart: every column is in lde/SCHEMA.md."""
    import duckdb

    text = (Path(__file__).resolve().parents[1] / "lde" / "SCHEMA.md").read_text()
    for column in FRAME_COLUMNS:
        assert f"| `{column.name}` |" in text, column.name
    store = DuckDBStore(tmp_path / "lde.duckdb")
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        columns = con.execute("SELECT column_name FROM information_schema.columns").fetchall()
    finally:
        con.close()
    for (name,) in columns:
        assert f"`{name}`" in text, name
