"""The contract of :class:`lde.ExperimentStore`, checked against every implementation.

The ``store`` fixture is parametrised over the implementations (as Optuna's storage tests are), so
a new store only has to join ``STORES`` to be held to the same rules. The end of the file checks
what only the DuckDB file has: schema versions and migrations, refusal of unusable files,
read-only mode, the lock-timeout setting, and that ``lde`` imports nothing of tapaskit or torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lde import (
    FRAME_COLUMNS,
    SCHEMA_VERSION,
    ArchitectureRecord,
    DatasetRecord,
    DuckDBStore,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
    ExperimentStore,
    InvalidArgumentError,
    InvalidRecordError,
    LDEFileError,
    PROXY_FIELDS,
    MemoryStore,
    ProxyRecord,
    ReadOnlyStoreError,
    RecordNotFoundError,
)
from lde import schema as lde_schema

ROOT = Path(__file__).resolve().parents[1]

STORES: dict[str, Callable[[Path], ExperimentStore]] = {
    "memory": lambda tmp: MemoryStore(),
    "duckdb": lambda tmp: DuckDBStore(tmp / "lde.duckdb"),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ExperimentStore:
    s = STORES[request.param](tmp_path)
    yield s
    s.close()


T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def ds(i: int, dcn: float | None = None, *, name: str | None = None, **kw) -> DatasetRecord:
    return DatasetRecord(fingerprint=f"fp{i}", name=name or f"data{i}", input_shape=(3, 8 + i, 8),
                         num_classes=10, num_samples=100 * (i + 1), dcn=dcn, created_at=T0, **kw)


def arch(i: int) -> ArchitectureRecord:
    return ArchitectureRecord(arch_hash=f"h{i}", arch_json=f'{{"layers":[{i}]}}', depth=i + 1,
                              num_layers=i + 2)


def exp(a: int, d: int, acc: float = 0.5, **kw) -> ExperimentRecord:
    kw.setdefault("final_accuracy", acc if kw.get("status", "ok") == "ok" else None)
    return ExperimentRecord(arch_hash=f"h{a}", dataset_fingerprint=f"fp{d}",
                            peak_accuracy=acc if kw.get("status", "ok") == "ok" else None,
                            created_at=T0, **kw)


def full_exp() -> ExperimentRecord:
    """An experiment with every field set, to check that nothing is lost on the way."""
    return ExperimentRecord(
        arch_hash="h0", dataset_fingerprint="fp0", peak_accuracy=0.875, final_accuracy=0.8125,
        curve=(0.25, 0.5, 0.875, 0.8125), status="ok", source="search", lr=3e-4, epochs=4,
        batch_size=64, optimizer="adamw", weight_decay=1e-5,
        extra_hparams={"momentum": 0.9, "schedule": ["cosine", 2], "nested": {"a": None}},
        params=123_456, flops=9_876_543_210, seconds=12.5, device="cuda:0", seed=2**40 + 7,
        mlflow_run_id="run-abc", key="campaign/1", created_at=T0 + timedelta(seconds=1),
    )


def proxy(a: int, d: int, value: float | None = 1.5, **kw) -> ProxyRecord:
    kw.setdefault("created_at", T0)
    return ProxyRecord(arch_hash=f"h{a}", dataset_fingerprint=f"fp{d}", synflow=value, snip=-0.5,
                       grad_norm=None, jacob_cov=-2.25, naswot=300.0 + a, seed=0, batch_size=64,
                       seconds=0.02, **kw)


def counts(store: ExperimentStore) -> tuple[int, int, int]:
    st = store.stats()
    return st["datasets"], st["architectures"], st["experiments"]


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


class TestRecords:
    def test_accuracy_outside_unit_interval_names_field_and_value(self) -> None:
        with pytest.raises(InvalidRecordError, match=r"peak_accuracy must be in \[0, 1\], but got 1.7"):
            exp(0, 0, acc=1.7)

    @pytest.mark.parametrize(("kw", "message"), [
        ({"status": "done"}, "status must be one of 'ok', 'failed', 'diverged', 'oom', but got 'done'"),
        ({"source": "web"}, "source must be one of"),
        ({"seconds": -1.0}, "seconds must be >= 0, but got -1.0"),
        ({"epochs": 0}, "epochs must be >= 1, but got 0"),
        ({"epochs": 2.5}, "epochs must be an integer, but got 2.5"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"curve": (0.1, 1.2)}, r"curve\[1\] must be in \[0, 1\], but got 1.2"),
        ({"curve": (0.1, float("nan"))}, r"curve\[1\] must be in \[0, 1\]"),
        ({"extra_hparams": {"f": object()}}, "extra_hparams must be JSON-serialisable"),
        ({"extra_hparams": {1: 2}}, "extra_hparams keys must be strings"),
        ({"key": ""}, "key must be a non-empty string"),
        ({"params": -3}, "params must be >= 0"),
    ])
    def test_experiment_rules(self, kw: dict, message: str) -> None:
        with pytest.raises(InvalidRecordError, match=message):
            exp(0, 0, **kw)

    @pytest.mark.parametrize("text", ["\x1b[31mred", "two\rlines", "bell\x07", "nul\x00",
                                      "del\x7f", "csi\x9b2J"])
    @pytest.mark.parametrize(("build", "field"), [
        (lambda t: ds(0, name=t), "name"),
        (lambda t: DatasetRecord(fingerprint=t, name="n", input_shape=(1, 2, 2), num_classes=2,
                                 num_samples=1), "fingerprint"),
        (lambda t: ds(0, dcn_probe=t), "dcn_probe"),
        (lambda t: ArchitectureRecord(arch_hash=t, arch_json="{}", depth=0, num_layers=1),
         "arch_hash"),
        (lambda t: exp(0, 0, key=t), "key"),
        (lambda t: exp(0, 0, optimizer=t), "optimizer"),
        (lambda t: exp(0, 0, device=t), "device"),
        (lambda t: exp(0, 0, mlflow_run_id=t), "mlflow_run_id"),
    ], ids=["name", "fingerprint", "dcn_probe", "arch_hash", "key", "optimizer", "device",
            "mlflow_run_id"])
    def test_text_with_control_characters_is_refused(self, build: Callable, field: str,
                                                     text: str) -> None:
        # A name that reaches a terminal must not be able to recolour it or move the cursor.
        with pytest.raises(InvalidRecordError) as info:
            build(text)
        message = str(info.value)
        assert message == f"{field} must not contain control characters, but got {text!r}"
        assert message.isprintable()  # the error line itself is safe to print
        assert info.value.field == field

    def test_json_text_and_printable_unicode_are_accepted(self) -> None:
        assert ds(0, name="café · données ✓").name == "café · données ✓"
        a = ArchitectureRecord(arch_hash="h", arch_json='{\n  "layers": []\n}', depth=0, num_layers=1)
        assert "\n" in a.arch_json
        assert exp(0, 0, extra_hparams={"note": "\x1b[0m"}).extra_hparams["note"] == "\x1b[0m"

    def test_ok_run_needs_accuracies_other_runs_do_not(self) -> None:
        with pytest.raises(InvalidRecordError, match="peak_accuracy is required when status is 'ok'"):
            ExperimentRecord(arch_hash="h", dataset_fingerprint="f")
        failed = ExperimentRecord(arch_hash="h", dataset_fingerprint="f", status="diverged")
        assert failed.status is ExperimentStatus.DIVERGED and not failed.status.is_ok()
        assert ExperimentStatus.OK.is_ok()

    @pytest.mark.parametrize(("kw", "message"), [
        ({"input_shape": (3, 32)}, r"input_shape must be 3 positive integers \(C, H, W\)"),
        ({"num_classes": 1}, "num_classes must be >= 2, but got 1"),
        ({"num_samples": 0}, "num_samples must be >= 1, but got 0"),
        ({"dcn": 1.5}, r"dcn must be in \[0, 1\], but got 1.5"),
        ({"dcn_seconds": -2}, "dcn_seconds must be >= 0"),
    ])
    def test_dataset_rules(self, kw: dict, message: str) -> None:
        base = dict(fingerprint="f", name="n", input_shape=(1, 2, 2), num_classes=2, num_samples=1)
        with pytest.raises(InvalidRecordError, match=message):
            DatasetRecord(**{**base, **kw})

    def test_normalisation(self) -> None:
        import numpy as np

        naive = datetime(2024, 1, 1, 10, 0)
        e = ExperimentRecord(arch_hash="h", dataset_fingerprint="f", peak_accuracy=np.float32(0.5),
                             final_accuracy=1, curve=[np.float64(0.5), 1], epochs=np.int64(3),
                             status=ExperimentStatus.OK, source="seed", created_at=naive)
        assert type(e.peak_accuracy) is float and type(e.epochs) is int
        assert e.curve == (0.5, 1.0) and e.source is ExperimentSource.SEED
        assert e.created_at == naive.replace(tzinfo=UTC)

    def test_records_are_frozen_and_extra_hparams_read_only(self) -> None:
        source = {"a": [1, 2]}
        e = exp(0, 0, extra_hparams=source)
        source["a"].append(3)  # the record kept its own copy
        assert e.extra_hparams == {"a": [1, 2]}
        with pytest.raises(dataclasses.FrozenInstanceError):
            e.peak_accuracy = 0.1  # type: ignore[misc]
        with pytest.raises(TypeError):
            e.extra_hparams["b"] = 1  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            ds(0).dcn = 0.3  # type: ignore[misc]

    def test_records_pickle_and_hash(self) -> None:
        import pickle

        e = full_exp()
        assert pickle.loads(pickle.dumps(e)) == e
        assert hash(e) == hash(dataclasses.replace(e))
        assert dataclasses.replace(e, lr=1.0) != e


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------


class TestDatasets:
    def test_add_dataset_is_idempotent_and_the_stored_record_wins(self, store: ExperimentStore) -> None:
        first = store.add_dataset(ds(0, 0.3))
        again = store.add_dataset(dataclasses.replace(ds(0, 0.9), name="other"))
        assert first == ds(0, 0.3) and again == first
        assert store.datasets() == [ds(0, 0.3)]

    def test_get_find_and_order(self, store: ExperimentStore) -> None:
        for i, name in ((2, "b"), (1, "a"), (0, "b")):
            store.add_dataset(ds(i, name=name))
        assert [d.fingerprint for d in store.datasets()] == ["fp1", "fp0", "fp2"]
        assert [d.fingerprint for d in store.find_datasets("b")] == ["fp0", "fp2"]
        assert store.find_datasets("zzz") == []
        assert store.get_dataset("fp1") == ds(1, name="a")
        assert store.get_dataset("nope") is None

    def test_set_dcn(self, store: ExperimentStore) -> None:
        before = store.add_dataset(ds(0))
        updated = store.set_dcn("fp0", 0.42, "probe-s", "2", 7, 3.5, 0.61)
        assert (updated.dcn, updated.dcn_probe, updated.dcn_probe_version, updated.dcn_seed,
                updated.dcn_seconds, updated.dcn_probe_accuracy) == (0.42, "probe-s", "2", 7, 3.5, 0.61)
        assert store.get_dataset("fp0") == updated
        assert before.dcn is None  # a returned record never changes
        assert store.set_dcn("fp0", None).dcn is None

    def test_set_dcn_rejects_unknown_dataset_and_bad_values(self, store: ExperimentStore) -> None:
        store.add_dataset(ds(0, 0.2))
        with pytest.raises(RecordNotFoundError, match="no dataset with fingerprint 'fpX'"):
            store.set_dcn("fpX", 0.5)
        with pytest.raises(InvalidRecordError, match=r"dcn must be in \[0, 1\], but got 2.0"):
            store.set_dcn("fp0", 2.0)
        assert store.get_dataset("fp0").dcn == 0.2


class TestArchitectures:
    def test_deduplicated_by_hash_first_wins(self, store: ExperimentStore) -> None:
        store.add_architectures([arch(0), arch(1), dataclasses.replace(arch(0), depth=9)])
        store.add_architectures([dataclasses.replace(arch(1), arch_json="{}"), arch(2)])
        assert store.architectures() == [arch(0), arch(1), arch(2)]
        assert store.get_architecture("h1") == arch(1)
        assert store.get_architecture("nope") is None


class TestExperiments:
    def test_ids_are_sequential_and_records_round_trip(self, store: ExperimentStore) -> None:
        e = full_exp()
        first = store.add_experiment(e, architecture=arch(0), dataset=ds(0, 0.5))
        second = store.add_experiment(exp(0, 0))
        assert (first, second) == (1, 2)
        assert store.get_experiment(1) == dataclasses.replace(e, experiment_id=1)
        assert store.get_experiment(3) is None
        with pytest.raises(InvalidArgumentError, match="experiment_id must be an integer"):
            store.get_experiment("1")  # type: ignore[arg-type]

    def test_input_ids_are_ignored(self, store: ExperimentStore) -> None:
        n = store.add_experiments([exp(0, 0, experiment_id=99)], [arch(0)], [ds(0)])
        assert n == 1 and store.get_experiment(1).experiment_id == 1

    @pytest.mark.parametrize("missing", ["dataset", "architecture"])
    def test_batch_with_unknown_reference_writes_nothing(self, store: ExperimentStore,
                                                          missing: str) -> None:
        store.add_experiments([exp(0, 0)], [arch(0)], [ds(0)])
        batch = [exp(0, 0, key="a"), exp(1, 1, key="b"),
                 exp(0, 0) if missing == "dataset" else exp(7, 1),
                 exp(0, 9) if missing == "dataset" else exp(0, 1)]
        with pytest.raises(InvalidRecordError, match=f"experiments\\[[23]\\] references {missing}"):
            store.add_experiments(batch, [arch(1), arch(2)], [ds(1), ds(2)])
        assert counts(store) == (1, 1, 1)
        assert store.has_keys(["a", "b"]) == set()

    def test_batch_with_wrong_type_writes_nothing(self, store: ExperimentStore) -> None:
        with pytest.raises(InvalidRecordError, match=r"experiments\[1\] must be an? ExperimentRecord"):
            store.add_experiments([exp(0, 0), {"arch_hash": "h0"}], [arch(0)], [ds(0)])
        with pytest.raises(InvalidRecordError, match="datasets must be a sequence of DatasetRecord"):
            store.add_experiments([], datasets=ds(0))  # type: ignore[arg-type]
        assert counts(store) == (0, 0, 0)

    def test_batch_carries_its_references(self, store: ExperimentStore) -> None:
        n = store.add_experiments([exp(i % 3, i % 2) for i in range(10)],
                                  [arch(0), arch(1), arch(2)], [ds(0), ds(1), ds(5)])
        assert n == 10 and counts(store) == (3, 3, 10)

    def test_keys_make_adding_idempotent(self, store: ExperimentStore) -> None:
        store.add_experiments([], [arch(0)], [ds(0)])
        assert store.add_experiment(exp(0, 0, key="k1")) == 1
        assert store.add_experiment(exp(0, 0, acc=0.9, key="k1")) is None
        # Known keys and repeats within a batch are skipped; unkeyed runs always go in.
        n = store.add_experiments([exp(0, 0, key="k1"), exp(0, 0, key="k2"), exp(0, 0, key="k2"),
                                   exp(0, 0), exp(0, 0)])
        assert n == 3
        assert store.has_keys(["k1", "k2", "k3"]) == {"k1", "k2"}
        assert store.has_keys([]) == set()
        with pytest.raises(InvalidArgumentError, match="single string 'k1'"):
            store.has_keys("k1")
        frame = store.experiments_frame()
        assert list(frame["experiment_id"]) == [1, 2, 3, 4]
        assert frame.loc[0, "peak_accuracy"] == 0.5

    def test_threads_share_one_store(self, store: ExperimentStore) -> None:
        store.add_experiments([], [arch(0)], [ds(0)])
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(5):
                    store.add_experiment(exp(0, 0, key=f"t{t}-{i}"))
                    store.query()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        frame = store.experiments_frame()
        assert sorted(frame["experiment_id"]) == list(range(1, 21))
        assert frame["key"].nunique() == 20


class TestDelete:
    @pytest.fixture
    def five(self, store: ExperimentStore) -> ExperimentStore:
        store.add_experiments([exp(i % 2, i % 2, acc=0.1 * (i + 1), key=f"k{i + 1}")
                               for i in range(5)], [arch(0), arch(1)], [ds(0), ds(1)])
        return store

    @staticmethod
    def ids(store: ExperimentStore) -> list[int]:
        return [int(i) for i in store.experiments_frame()["experiment_id"]]

    def test_delete_by_ids_counts_and_ignores_unknown_ids(self, five: ExperimentStore) -> None:
        kept = five.get_experiment(3)
        assert five.delete_experiments([2, 4, 99, 2]) == 2
        assert self.ids(five) == [1, 3, 5]
        assert five.get_experiment(2) is None and five.get_experiment(4) is None
        assert five.get_experiment(3) == kept
        assert five.delete_experiments([2, 4]) == 0  # already gone
        assert five.delete_experiments([]) == 0
        assert five.delete_experiments(iter([5])) == 1  # any iterable
        st = five.stats()
        assert (st["experiments"], st["ok_experiments"]) == (2, 2)
        assert [p["experiments"] for p in st["per_dataset"]] == [2, 0]

    def test_datasets_and_architectures_stay(self, five: ExperimentStore) -> None:
        assert five.delete_experiments(range(1, 6)) == 5
        assert counts(five) == (2, 2, 0)
        assert five.get_dataset("fp1") == ds(1) and five.get_architecture("h1") == arch(1)
        assert len(five.query()) == 0

    def test_deleted_keys_are_free_again(self, five: ExperimentStore) -> None:
        five.delete_experiments([1, 2])
        assert five.has_keys(["k1", "k2", "k3"]) == {"k3"}
        assert five.add_experiments([exp(0, 0, acc=0.9, key="k1"), exp(0, 0, key="k3")]) == 1
        assert five.has_keys(["k1", "k2"]) == {"k1"}
        frame = five.experiments_frame()
        assert frame["key"].is_unique and frame.set_index("key").loc["k1", "peak_accuracy"] == 0.9

    def test_ids_are_never_reused(self, five: ExperimentStore) -> None:
        five.delete_experiments([5])  # the last id
        assert five.add_experiment(exp(0, 0)) == 6
        five.delete_experiments([4, 6])
        assert five.add_experiments([exp(0, 0), exp(1, 1)]) == 2
        assert self.ids(five) == [1, 2, 3, 7, 8]
        five.delete_experiments(self.ids(five))  # all of them
        assert five.add_experiment(exp(0, 0)) == 9
        assert five.get_experiment(9).experiment_id == 9 and five.get_experiment(5) is None

    @pytest.mark.parametrize(("bad", "message"), [
        ([1, "2"], "experiment_id must be an integer, but got '2'"),
        ([1, 2.0], "experiment_id must be an integer, but got 2.0"),
        ([1, True], "experiment_id must be an integer, but got True"),
        (3, "experiment_ids must be an iterable of integers, but got 3"),
        ("12", "experiment_ids must be an iterable of integers, but got '12'"),
    ])
    def test_bad_ids_delete_nothing(self, five: ExperimentStore, bad: object, message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            five.delete_experiments(bad)  # type: ignore[arg-type]
        assert self.ids(five) == [1, 2, 3, 4, 5]

    def test_readers_see_all_of_a_deletion_or_none(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0, key=f"k{i}") for i in range(200)], [arch(0)], [ds(0)])
        seen: list[int] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                seen.append(len(store.experiments_frame()))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            assert store.delete_experiments(range(1, 151)) == 150
        finally:
            stop.set()
            reader.join()
        assert set(seen) <= {200, 50}
        assert len(store.experiments_frame()) == 50


class TestQuery:
    @pytest.fixture
    def filled(self, store: ExperimentStore) -> ExperimentStore:
        datasets = [ds(0, 0.2), ds(1, 0.3), ds(2, 0.4), ds(3, 0.5), ds(4, None), ds(5, 0.7),
                    ds(6, 0.3, name="data0")]
        batch = []
        for d in range(7):
            batch += [exp(d % 3, d, acc=0.1 * (d + 1), source="seed"),
                      exp((d + 1) % 3, d, acc=0.05 * (d + 1), source="search"),
                      exp(0, d, status="failed", source="train")]
        store.add_experiments(batch, [arch(0), arch(1), arch(2)], datasets)
        return store

    @staticmethod
    def fps(frame: pd.DataFrame) -> list[str]:
        return sorted(set(frame["dataset_fingerprint"]))

    def test_window_is_inclusive_and_skips_datasets_without_dcn(self, filled: ExperimentStore) -> None:
        assert self.fps(filled.query(0.3, 0.1)) == ["fp0", "fp1", "fp2", "fp6"]
        assert self.fps(filled.query(0.6, 0.1)) == ["fp3", "fp5"]  # 0.6 ± 0.1 rounds inward
        assert self.fps(filled.query(0.3, 0.0)) == ["fp1", "fp6"]
        assert self.fps(filled.query(0.0, 0.05)) == []
        assert self.fps(filled.query()) == [f"fp{i}" for i in range(7)]  # no window: all, fp4 too

    def test_exclusion_and_inclusion_by_name_or_fingerprint(self, filled: ExperimentStore) -> None:
        assert self.fps(filled.query(0.3, 0.1, exclude_datasets=["data0"])) == ["fp1", "fp2"]
        assert self.fps(filled.query(0.3, 0.1, exclude_datasets="fp1")) == ["fp0", "fp2", "fp6"]
        assert self.fps(filled.query(datasets=["data1", "fp4"])) == ["fp1", "fp4"]
        assert self.fps(filled.query(0.3, 0.1, datasets="data0", exclude_datasets=["fp6"])) == ["fp0"]

    def test_status_and_source_filters(self, filled: ExperimentStore) -> None:
        assert len(filled.query()) == 14 and set(filled.query()["status"]) == {"ok"}
        assert len(filled.query(status=None)) == 21
        assert set(filled.query(status="failed")["source"]) == {"train"}
        assert len(filled.query(status=["ok", ExperimentStatus.FAILED])) == 21
        assert set(filled.query(source="seed")["source"]) == {"seed"}
        assert len(filled.query(source=["seed", "search"], status=None)) == 14

    @pytest.mark.parametrize(("kw", "message"), [
        ({"dcn": 0.3}, "dcn and tau must be given together, but got dcn=0.3, tau=None"),
        ({"dcn": 0.3, "tau": -0.1}, "tau must be >= 0, but got -0.1"),
        ({"dcn": 1.3, "tau": 0.1}, r"dcn must be in \[0, 1\], but got 1.3"),
        ({"status": "done"}, "status must hold values among ok, failed, diverged, oom, but got 'done'"),
        ({"source": ["seed", "x"]}, "source must hold values among"),
        ({"exclude_datasets": [1]}, "exclude_datasets must hold strings, but got 1"),
    ])
    def test_bad_arguments(self, filled: ExperimentStore, kw: dict, message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            filled.query(**kw)

    def test_frame_columns_dtypes_and_order(self, filled: ExperimentStore) -> None:
        frame = filled.query(0.3, 0.1)
        assert list(frame.columns) == [c.name for c in FRAME_COLUMNS]
        assert frame["experiment_id"].is_monotonic_increasing
        assert str(frame["experiment_id"].dtype) == "Int64" and str(frame["epochs"].dtype) == "Int64"
        assert frame["peak_accuracy"].dtype == "float64"
        assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
        row = frame.iloc[0]
        assert (row["in_channels"], row["in_height"], row["in_width"]) == (3, 8, 8)
        assert row["arch_json"] == '{"layers":[0]}' and row["num_classes"] == 10
        assert filled.query(0.0, 0.01).columns.equals(frame.columns)  # empty frames too

    def test_frame_is_a_fresh_copy(self, filled: ExperimentStore) -> None:
        frame = filled.query()
        frame.loc[:, "peak_accuracy"] = 0.0
        assert filled.query()["peak_accuracy"].max() > 0

    def test_curve_and_extra_hparams_in_frame(self, store: ExperimentStore) -> None:
        store.add_experiment(full_exp(), architecture=arch(0), dataset=ds(0, 0.5))
        row = store.query().iloc[0]
        assert list(row["curve"]) == [0.25, 0.5, 0.875, 0.8125]
        assert row["extra_hparams"] == '{"momentum":0.9,"nested":{"a":null},"schedule":["cosine",2]}'
        assert row["seed"] == 2**40 + 7 and row["flops"] == 9_876_543_210


class TestProxies:
    def test_record_rules(self) -> None:
        assert PROXY_FIELDS == ("synflow", "snip", "grad_norm", "jacob_cov", "naswot")
        assert proxy(0, 0).values() == {"synflow": 1.5, "snip": -0.5, "grad_norm": None,
                                        "jacob_cov": -2.25, "naswot": 300.0}
        for bad in (float("nan"), float("inf")):
            with pytest.raises(InvalidRecordError, match="synflow must be finite"):
                proxy(0, 0, value=bad)
        with pytest.raises(InvalidRecordError, match="batch_size must be >= 1, but got 0"):
            ProxyRecord(arch_hash="h0", dataset_fingerprint="fp0", batch_size=0)
        with pytest.raises(InvalidRecordError, match="naswot must be a number"):
            ProxyRecord(arch_hash="h0", dataset_fingerprint="fp0", naswot="high")

    def test_add_read_and_first_wins(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0), exp(1, 0)], [arch(0), arch(1)], [ds(0, 0.5)])
        assert store.add_proxies([proxy(0, 0), proxy(0, 0, value=9.0)]) == 1  # first of the batch wins
        assert store.add_proxies([proxy(0, 0, value=7.0), proxy(1, 0)]) == 1  # the stored one wins
        assert store.get_proxies("h0", "fp0") == proxy(0, 0)
        assert store.proxies() == [proxy(0, 0), proxy(1, 0)] and store.proxies("fp9") == []
        assert store.get_proxies("h0", "fp9") is None

    def test_replace(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0)], [arch(0)], [ds(0)], proxies=[proxy(0, 0)])
        assert store.add_proxies([proxy(0, 0, value=7.0)], replace=True) == 1
        assert store.get_proxies("h0", "fp0").synflow == 7.0
        assert len(store.proxies()) == 1

    @pytest.mark.parametrize("missing", ["dataset", "architecture"])
    def test_unknown_reference_writes_nothing(self, store: ExperimentStore, missing: str) -> None:
        store.add_experiments([exp(0, 0)], [arch(0)], [ds(0)])
        bad = proxy(0, 5) if missing == "dataset" else proxy(5, 0)
        with pytest.raises(InvalidRecordError, match=rf"proxies\[1\] references {missing} .*nothing was written"):
            store.add_proxies([proxy(0, 0), bad])
        with pytest.raises(InvalidRecordError, match="nothing was written"):
            store.add_experiments([exp(0, 0)], proxies=[bad])
        assert store.proxies() == [] and counts(store)[2] == 1

    def test_wrong_type_is_refused(self, store: ExperimentStore) -> None:
        with pytest.raises(InvalidRecordError, match="proxies must be a sequence of ProxyRecord"):
            store.add_proxies(proxy(0, 0))  # type: ignore[arg-type]
        with pytest.raises(InvalidRecordError, match=r"proxies\[0\] must be a ProxyRecord"):
            store.add_proxies([exp(0, 0)])  # type: ignore[list-item]

    def test_batch_carries_proxies_with_its_experiment(self, store: ExperimentStore) -> None:
        ids = store.add_batch([exp(0, 0, key="k")], architectures=[arch(0)], datasets=[ds(0)],
                              proxies=[proxy(0, 0)])
        assert ids == [1] and store.proxies() == [proxy(0, 0)]
        # a resumed training: the experiment is skipped by its key, the stored proxies stay
        assert store.add_experiment(exp(0, 0, key="k"), proxies=proxy(0, 0, value=3.0)) is None
        assert store.get_proxies("h0", "fp0").synflow == 1.5

    def test_missing_pairs(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0), exp(0, 0), exp(1, 0), exp(2, 1, status="oom"), exp(1, 1)],
                              [arch(0), arch(1), arch(2)], [ds(0), ds(1)], proxies=[proxy(1, 0)])
        assert store.missing_proxies() == [("h0", "fp0"), ("h1", "fp1")]
        assert store.missing_proxies(status=None) == [("h0", "fp0"), ("h1", "fp1"), ("h2", "fp1")]
        assert store.missing_proxies(status="oom") == [("h2", "fp1")]
        with pytest.raises(InvalidArgumentError, match="status must hold values among"):
            store.missing_proxies(status="done")

    def test_frame_left_joins_the_proxies(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0), exp(1, 0), exp(0, 0)], [arch(0), arch(1)], [ds(0, 0.5)],
                              proxies=[proxy(0, 0)])
        frame = store.query()
        names = [f"proxy_{n}" for n in PROXY_FIELDS]
        assert [c.name for c in FRAME_COLUMNS if c.table == "proxies"][:5] == names
        assert frame["proxy_synflow"].iloc[[0, 2]].tolist() == [1.5, 1.5]  # every experiment of the pair
        assert frame.loc[1, names].isna().all()  # the pair without proxies: NaN, not an error
        assert frame.loc[0, "proxy_grad_norm"] != frame.loc[0, "proxy_grad_norm"]  # a None score is NaN
        assert frame.loc[0, "proxy_naswot"] == 300.0 and frame.loc[0, "proxies_batch_size"] == 64
        assert all(frame[n].dtype == "float64" for n in names)
        assert frame.loc[0, "proxies_created_at"] == pd.Timestamp(T0)

    def test_records_never_change(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0)], [arch(0)], [ds(0)], proxies=[proxy(0, 0)])
        before = store.proxies()
        store.add_proxies([proxy(0, 0, value=4.0)], replace=True)
        assert before == [proxy(0, 0)]
        with pytest.raises(dataclasses.FrozenInstanceError):
            before[0].synflow = 2.0  # type: ignore[misc]


class TestStats:
    def test_fields(self, store: ExperimentStore) -> None:
        empty = store.stats()
        assert (empty["datasets"], empty["experiments"], empty["dcn_min"], empty["per_dataset"]) == (
            0, 0, None, [])
        store.add_experiments(
            [exp(0, 0, acc=0.5), exp(1, 0, acc=0.7), exp(0, 0, status="oom"), exp(0, 1, acc=0.4)],
            [arch(0), arch(1), arch(2)], [ds(0, 0.6), ds(1, 0.2), ds(2, None)],
        )
        st = store.stats()
        assert {k: st[k] for k in ("datasets", "experiments", "ok_experiments", "architectures",
                                   "dcn_min", "dcn_max")} == {
            "datasets": 3, "experiments": 4, "ok_experiments": 3, "architectures": 3,
            "dcn_min": 0.2, "dcn_max": 0.6}
        assert st["by_status"] == {"ok": 3, "failed": 0, "diverged": 0, "oom": 1}
        assert st["by_source"]["train"] == 4
        per = {p["fingerprint"]: p for p in st["per_dataset"]}
        assert [p["fingerprint"] for p in st["per_dataset"]] == ["fp0", "fp1", "fp2"]
        assert per["fp0"]["name"] == "data0" and per["fp0"]["dcn"] == 0.6
        assert (per["fp0"]["experiments"], per["fp0"]["ok_experiments"]) == (3, 2)
        assert per["fp0"]["peak_accuracy_mean"] == pytest.approx(0.6)
        assert per["fp0"]["peak_accuracy_std"] == pytest.approx(0.1414213562, rel=1e-6)
        assert per["fp1"]["peak_accuracy_std"] is None  # one run: no sample std
        assert per["fp2"] == {"name": "data2", "fingerprint": "fp2", "dcn": None,
                              "input_shape": [3, 10, 8], "experiments": 0, "ok_experiments": 0,
                              "ok_with_proxies": 0, "epochs": [], "peak_accuracy_mean": None,
                              "peak_accuracy_std": None}
        assert (st["proxies"], st["ok_with_proxies"], st["proxy_coverage"]) == (0, 0, 0.0)
        assert empty["proxy_coverage"] is None

    def test_shapes_epochs_and_proxy_coverage(self, store: ExperimentStore) -> None:
        store.add_experiments([exp(0, 0, epochs=6), exp(1, 0, epochs=8), exp(1, 0, epochs=6),
                               exp(2, 0, status="failed")],
                              [arch(0), arch(1), arch(2)], [ds(0, 0.5)],
                              proxies=[proxy(1, 0), proxy(2, 0)])
        st = store.stats()
        (per,) = st["per_dataset"]
        assert per["input_shape"] == [3, 8, 8] and per["epochs"] == [6, 8]
        assert (st["proxies"], st["ok_with_proxies"], per["ok_with_proxies"]) == (2, 2, 2)
        assert st["proxy_coverage"] == pytest.approx(2 / 3)  # failed runs do not count


def test_memory_store_and_duckdb_store_agree(tmp_path: Path) -> None:
    """Same operations, same answers: the memory store is an oracle for the DuckDB one."""
    stores = [MemoryStore(), DuckDBStore(tmp_path / "a.duckdb")]
    for s in stores:
        s.add_experiments([full_exp(), exp(1, 1, acc=0.3), exp(2, 2, status="diverged")],
                          [arch(0), arch(1), arch(2)], [ds(0, 0.1), ds(1, 0.15), ds(2, None)],
                          proxies=[proxy(0, 0), proxy(2, 2, value=None)])
        s.set_dcn("fp2", 0.12, "p", "1", 0, 1.0, 0.5)
    for call in (lambda s: s.query(0.1, 0.05), lambda s: s.experiments_frame(),
                 lambda s: s.query(status=None, exclude_datasets="fp0")):
        pd.testing.assert_frame_equal(call(stores[0]), call(stores[1]))
    assert stores[0].stats() == stores[1].stats()
    assert stores[0].datasets() == stores[1].datasets()
    assert stores[0].proxies() == stores[1].proxies()
    assert stores[0].missing_proxies(status=None) == stores[1].missing_proxies(status=None) == [("h1", "fp1")]


def test_stores_agree_after_deletions(tmp_path: Path) -> None:
    stores = [MemoryStore(), DuckDBStore(tmp_path / "a.duckdb")]
    for s in stores:
        s.add_experiments([full_exp(), exp(1, 1, acc=0.3, key="b"), exp(2, 2, status="oom")],
                          [arch(0), arch(1), arch(2)], [ds(0, 0.1), ds(1, 0.15), ds(2, None)])
        s.delete_experiments([1, 3])
        s.add_experiment(exp(2, 2, acc=0.6, key="c"))
    pd.testing.assert_frame_equal(stores[0].experiments_frame(), stores[1].experiments_frame())
    assert stores[0].stats() == stores[1].stats()


# --------------------------------------------------------------------------------------------
# The DuckDB file: schema versions, unusable files, read-only mode, settings
# --------------------------------------------------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_v1_file(path: Path) -> None:
    """A file exactly as version 1 of the schema wrote it, with one of each record."""
    con = duckdb.connect(str(path))
    for statement in lde_schema.V1_DDL:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, TIMESTAMP '2024-01-01 00:00:00')")
    con.execute("INSERT INTO datasets VALUES ('fp0', 'old', 1, 28, 28, 10, 60000, 0.3, 'p', '1', 0,"
                " 2.0, 0.9, TIMESTAMP '2024-01-01 00:00:00')")
    con.execute("INSERT INTO architectures VALUES ('h0', '{}', 2, 3)")
    con.execute("INSERT INTO experiments VALUES (1, 'h0', 'fp0', 'ok', 'seed', 0.9, 0.85, [0.5, 0.9],"
                " 0.1, 2, 32, 'sgd', 0.0, '{}', 1000, 2000, 3.0, 'cpu', 1, NULL,"
                " TIMESTAMP '2024-01-01 00:00:00')")
    con.close()


def make_v3_file(path: Path) -> None:
    """A file exactly as version 3 of the schema wrote it (before the proxies table), with rows."""
    con = duckdb.connect(str(path))
    for statement in (*lde_schema.V1_DDL, *lde_schema.MIGRATIONS[1], *lde_schema.MIGRATIONS[2]):
        con.execute(statement)
    for version in (1, 2, 3):
        con.execute(f"INSERT INTO schema_version VALUES ({version}, TIMESTAMP '2024-01-01 00:00:00')")
    con.execute("INSERT INTO datasets VALUES ('fp0', 'old', 1, 28, 28, 10, 60000, 0.3, 'p', '1', 0,"
                " 2.0, 0.9, TIMESTAMP '2024-01-01 00:00:00')")
    con.execute("INSERT INTO architectures VALUES ('h0', '{}', 2, 3), ('h1', '{}', 3, 4)")
    for i, (a, acc) in enumerate((("h0", 0.8), ("h1", 0.7)), start=1):
        con.execute(f"INSERT INTO experiments VALUES ({i}, '{a}', 'fp0', 'ok', 'seed', 0.9, 0.85, [0.5, 0.9],"
                    " 0.1, 2, 32, 'sgd', 0.0, '{}', 1000, 2000, 3.0, 'cpu', 1, NULL,"
                    f" TIMESTAMP '2024-01-01 00:00:00', 'k{i}', {acc})")
    con.close()


def table_layout(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " ORDER BY table_name, column_name").fetchall()
        indexes = con.execute("SELECT index_name, table_name FROM duckdb_indexes() ORDER BY 1").fetchall()
    finally:
        con.close()
    return columns + indexes


class TestSchema:
    def test_new_file_is_created_with_parents_at_current_version(self, tmp_path: Path) -> None:
        path = tmp_path / "a" / "b" / "lde.duckdb"
        store = DuckDBStore(path)
        assert path.is_file() and store.schema_version == SCHEMA_VERSION == 4
        assert store.path == path

    def test_v1_file_is_migrated_and_keeps_its_data(self, tmp_path: Path) -> None:
        old, fresh = tmp_path / "v1.duckdb", tmp_path / "fresh.duckdb"
        make_v1_file(old)
        store = DuckDBStore(old)
        assert store.schema_version == 4
        frame = store.experiments_frame()
        assert len(frame) == 1 and frame.loc[0, "dataset_name"] == "old"
        assert pd.isna(frame.loc[0, "key"]) and pd.isna(frame.loc[0, "test_accuracy"])  # old rows stay valid
        assert store.add_experiment(exp(0, 0, key="new"), architecture=arch(0)) == 2
        assert store.has_keys(["new"]) == {"new"}
        DuckDBStore(fresh)
        assert table_layout(old) == table_layout(fresh)  # migrated == created from scratch

    def test_v3_file_is_migrated_keeps_its_rows_and_gets_proxies(self, tmp_path: Path) -> None:
        old, fresh = tmp_path / "v3.duckdb", tmp_path / "fresh.duckdb"
        make_v3_file(old)
        store = DuckDBStore(old)
        assert store.schema_version == 4
        frame = store.experiments_frame()
        assert len(frame) == 2 and list(frame["key"]) == ["k1", "k2"]
        assert list(frame["test_accuracy"]) == [0.8, 0.7]
        assert frame[[c.name for c in FRAME_COLUMNS if c.table == "proxies"]].isna().all().all()
        assert store.missing_proxies() == [("h0", "fp0"), ("h1", "fp0")]
        assert store.add_proxies([proxy(0, 0)]) == 1
        assert store.missing_proxies() == [("h1", "fp0")]
        assert store.experiments_frame().loc[0, "proxy_synflow"] == 1.5
        con = duckdb.connect(str(old), read_only=True)
        assert [v for (v,) in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()] == [1, 2, 3, 4]
        con.close()
        DuckDBStore(fresh)
        assert table_layout(old) == table_layout(fresh)  # migrated == created from scratch

    def test_failed_migration_leaves_the_file_at_its_version(self, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        path = tmp_path / "v1.duckdb"
        make_v1_file(path)
        broken = (*lde_schema.MIGRATIONS[1], "ALTER TABLE no_such_table ADD COLUMN x INT")
        monkeypatch.setitem(lde_schema.MIGRATIONS, 1, broken)
        with pytest.raises(LDEFileError, match="from schema version 1 to 4 failed .* left at version 1"):
            DuckDBStore(path)
        con = duckdb.connect(str(path), read_only=True)
        assert con.execute("SELECT max(version) FROM schema_version").fetchall() == [(1,)]
        assert "key" not in {r[0] for r in con.execute("DESCRIBE experiments").fetchall()}
        con.close()

    def test_newer_version_is_refused_and_file_untouched(self, tmp_path: Path) -> None:
        path = tmp_path / "new.duckdb"
        DuckDBStore(path).close()
        con = duckdb.connect(str(path))
        con.execute("INSERT INTO schema_version VALUES (5, now()::TIMESTAMP)")
        con.close()
        before = digest(path)
        with pytest.raises(LDEFileError, match="schema version 5, newer than this lde supports"):
            DuckDBStore(path)
        assert digest(path) == before

    @pytest.mark.parametrize("content", [b"not a database\n", os.urandom(20_000), b""],
                             ids=["text", "random", "empty"])
    def test_non_duckdb_file_is_refused_and_untouched(self, tmp_path: Path, content: bytes) -> None:
        path = tmp_path / "lde.duckdb"
        path.write_bytes(content)
        with pytest.raises(LDEFileError) as info:
            DuckDBStore(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
        assert path.read_bytes() == content
        assert sorted(p.name for p in tmp_path.iterdir()) == ["lde.duckdb"]

    def test_foreign_duckdb_file_is_refused_and_untouched(self, tmp_path: Path) -> None:
        path = tmp_path / "other.duckdb"
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE sales (x INT)")
        con.close()
        before = digest(path)
        with pytest.raises(LDEFileError, match="is a DuckDB file but not an LDE"):
            DuckDBStore(path)
        assert digest(path) == before

    def test_directory_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(LDEFileError, match="is a directory"):
            DuckDBStore(tmp_path)

    def test_read_only(self, tmp_path: Path) -> None:
        path = tmp_path / "lde.duckdb"
        with pytest.raises(LDEFileError, match="does not exist"):
            DuckDBStore(path, read_only=True)
        assert not path.exists()
        DuckDBStore(path).add_experiments([exp(0, 0)], [arch(0)], [ds(0, 0.5)])
        reader = DuckDBStore(path, read_only=True)
        assert len(reader.query(0.5, 0.0)) == 1 and reader.read_only
        with pytest.raises(ReadOnlyStoreError, match="was opened read-only"):
            reader.add_experiment(exp(0, 0))
        with pytest.raises(ReadOnlyStoreError):
            reader.set_dcn("fp0", 0.1)

    def test_read_only_old_file_asks_for_migration(self, tmp_path: Path) -> None:
        path = tmp_path / "v1.duckdb"
        make_v1_file(path)
        with pytest.raises(ReadOnlyStoreError, match="schema version 1 and needs to be migrated"):
            DuckDBStore(path, read_only=True)

    def test_lock_timeout_from_argument_env_or_default(self, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        path = tmp_path / "lde.duckdb"
        monkeypatch.delenv("TAPAS_LDE_LOCK_TIMEOUT", raising=False)
        assert DuckDBStore(path).lock_timeout == 30.0
        monkeypatch.setenv("TAPAS_LDE_LOCK_TIMEOUT", "2.5")
        assert DuckDBStore(path).lock_timeout == 2.5
        assert DuckDBStore(path, lock_timeout=1).lock_timeout == 1.0
        monkeypatch.setenv("TAPAS_LDE_LOCK_TIMEOUT", "soon")
        with pytest.raises(InvalidArgumentError, match="TAPAS_LDE_LOCK_TIMEOUT must be a number"):
            DuckDBStore(path)
        with pytest.raises(InvalidArgumentError, match="lock_timeout must be a number of seconds"):
            DuckDBStore(path, lock_timeout=-1)

    def test_file_is_complete_between_operations(self, tmp_path: Path) -> None:
        """Each operation checkpoints on detach: the .duckdb file alone holds every commit."""
        path = tmp_path / "lde.duckdb"
        store = DuckDBStore(path)
        store.add_experiments([exp(0, 0)], [arch(0)], [ds(0)])
        assert not path.with_name(path.name + ".wal").exists()
        copy = tmp_path / "copy.duckdb"
        copy.write_bytes(path.read_bytes())
        assert DuckDBStore(copy).stats()["experiments"] == 1


def test_deleted_ids_stay_retired_in_the_file(tmp_path: Path) -> None:
    """Another process (here: another store object) continues above a deleted last id."""
    path = tmp_path / "lde.duckdb"
    DuckDBStore(path).add_experiments([exp(0, 0), exp(0, 0), exp(0, 0)], [arch(0)], [ds(0)])
    assert DuckDBStore(path).delete_experiments([2, 3]) == 2
    again = DuckDBStore(path)
    assert again.add_experiment(exp(0, 0)) == 4
    assert DuckDBStore(path, read_only=True).stats()["experiments"] == 2
    with pytest.raises(ReadOnlyStoreError):
        DuckDBStore(path, read_only=True).delete_experiments([1])
    assert DuckDBStore(path).stats()["experiments"] == 2


def test_lde_imports_neither_torch_nor_tapaskit() -> None:
    code = ("import sys, lde, lde.io; bad = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'tapaskit', 'probenets'}); print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
