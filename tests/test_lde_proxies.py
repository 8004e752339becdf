"""Zero-cost proxies in the LDE: recorded with a training, exported and imported, backfilled."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import json_out, run_tapas

from lde import DuckDBStore, ExperimentRecord, ImportFormatError, MemoryStore
from lde.io import export_experiments, import_experiments

from tapaskit.datasets import Dataset
from tapaskit.errors import InvalidOptionError
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.store import architecture_record, dataset_record, proxy_record, record_training
from tapaskit.training.trainer import Hyperparameters, TrainResult, TrainStatus
from tapaskit.training.zero_cost import ProxyScores
from tapaskit.workflows.proxies import backfill_proxies

PROXY_COLUMNS = ["proxy_synflow", "proxy_snip", "proxy_grad_norm", "proxy_jacob_cov", "proxy_naswot"]
SCORES = ProxyScores(synflow=3.5, snip=0.25, grad_norm=None, jacob_cov=-2.5, naswot=250.0, seed=0,
                     batch_size=64, seconds=0.02)


def small_archs(ds: Dataset, n: int = 6) -> list:
    return ArchitectureSampler(seed=1, max_depth=5, filters=(4, 8), fc_units=(16,)).sample_many(
        n, ds.input_shape, ds.num_classes)


def result_for(arch, ds: Dataset, proxies: ProxyScores | None = SCORES) -> TrainResult:
    return TrainResult(status=TrainStatus.OK, arch_hash=arch.arch_hash, dataset=ds.name,
                       fingerprint=ds.fingerprint, curve=(0.5, 0.6), train_loss=(1.0, 0.8),
                       peak_accuracy=0.6, final_accuracy=0.6, peak_epoch=1, seconds=1.0, device="cpu",
                       params=10, flops=20, seed=0, hparams=Hyperparameters(epochs=2), proxies=proxies)


def filled_lde(path, ds: Dataset, archs: list, *, repeat: int = 1) -> DuckDBStore:
    """An LDE with ok experiments (no proxies) of every architecture on ``ds``."""
    store = DuckDBStore(path)
    store.add_experiments(
        [ExperimentRecord(arch_hash=a.arch_hash, dataset_fingerprint=ds.fingerprint, peak_accuracy=0.5,
                          final_accuracy=0.5, epochs=3) for a in archs for _ in range(repeat)],
        architectures=[architecture_record(a) for a in archs], datasets=[dataset_record(ds)])
    return store


def test_a_recorded_training_writes_its_proxies_with_its_experiment(digits: Dataset) -> None:
    (arch,) = small_archs(digits, 1)
    store = MemoryStore()
    record_training(store, digits, arch, result_for(arch, digits), source="train", key="k")
    stored = store.get_proxies(arch.arch_hash, digits.fingerprint)
    assert stored.values() == SCORES.values() and (stored.seed, stored.batch_size, stored.seconds) == (0, 64, 0.02)
    row = store.query().iloc[0]
    assert row["proxy_synflow"] == 3.5 and pd.isna(row["proxy_grad_norm"]) and row["proxies_seed"] == 0
    # a training without proxies (they failed) records its experiment and no proxy row
    record_training(store, digits, arch, result_for(arch, digits, proxies=None), source="train")
    assert len(store.proxies()) == 1 and store.stats()["experiments"] == 2


def test_a_none_score_is_stored_as_null_never_nan(tmp_path, digits: Dataset) -> None:
    (arch,) = small_archs(digits, 1)
    store = DuckDBStore(tmp_path / "lde.duckdb")
    record_training(store, digits, arch, result_for(arch, digits), source="train")
    store.close()
    con = duckdb.connect(str(tmp_path / "lde.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT grad_norm IS NULL, isnan(synflow) FROM proxies").fetchall() == [(True, False)]
    finally:
        con.close()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_holds_the_proxies_and_import_restores_them(tmp_path, digits: Dataset, suffix: str) -> None:
    archs = small_archs(digits, 3)
    store = filled_lde(tmp_path / "a.duckdb", digits, archs[:2], repeat=2)
    store.add_architectures([architecture_record(archs[2])])
    store.add_proxies([proxy_record(archs[0].arch_hash, digits.fingerprint, SCORES),
                       proxy_record(archs[2].arch_hash, digits.fingerprint, SCORES)])  # a pair without runs
    path = tmp_path / f"out{suffix}"
    assert export_experiments(store, path) == 4
    if suffix == ".parquet":
        table = pq.read_table(path)
        assert set(PROXY_COLUMNS) <= set(table.column_names)
        assert table.column("proxy_synflow").to_pylist() == [3.5, 3.5, None, None, 3.5]  # + the pair's row
    target = DuckDBStore(tmp_path / "b.duckdb")
    report = import_experiments(target, path)
    assert (report.inserted, report.proxies) == (4, 2)
    assert target.proxies() == store.proxies()
    pd.testing.assert_frame_equal(target.experiments_frame(), store.experiments_frame())
    assert target.missing_proxies() == store.missing_proxies() == [(archs[1].arch_hash, digits.fingerprint)]
    assert import_experiments(target, path).proxies == 2 and len(target.proxies()) == 2  # kept, not doubled


def test_an_import_refuses_rows_of_one_pair_that_disagree(tmp_path, digits: Dataset) -> None:
    archs = small_archs(digits, 1)
    store = filled_lde(tmp_path / "a.duckdb", digits, archs, repeat=2)
    store.add_proxies([proxy_record(archs[0].arch_hash, digits.fingerprint, SCORES)])
    frame = store.experiments_frame()
    frame.loc[1, "proxy_snip"] = 9.0
    frame.to_parquet(tmp_path / "bad.parquet")
    target = DuckDBStore(tmp_path / "b.duckdb")
    with pytest.raises(ImportFormatError, match="rows 1 and 2 describe proxy pair .* differently"):
        import_experiments(target, tmp_path / "bad.parquet")
    frame.loc[0, "arch_hash"] = None
    frame.iloc[:1].to_parquet(tmp_path / "orphan.parquet")
    with pytest.raises(ImportFormatError, match="row 1: column arch_hash is empty but the row has"):
        import_experiments(target, tmp_path / "orphan.parquet")
    assert target.stats()["experiments"] == 0 and target.proxies() == []


def test_backfill_is_resumable_and_never_duplicates(tmp_path, digits: Dataset) -> None:
    archs = small_archs(digits)
    path = tmp_path / "lde.duckdb"
    filled_lde(path, digits, archs, repeat=2).close()
    first = backfill_proxies(path, limit=2, batch_size=1)
    assert (first.missing, first.computed, first.remaining, first.batches) == (6, 2, 4, 2)

    def killed(done: int, total: int, name: str) -> None:
        if done == 3:
            raise KeyboardInterrupt  # the process dies during the second batch of two

    with pytest.raises(KeyboardInterrupt):
        backfill_proxies(path, batch_size=2, progress=killed)
    assert len(DuckDBStore(path).proxies()) == 4  # the finished batch stayed, the one in progress is lost
    seen: list[tuple[int, int]] = []
    last = backfill_proxies(path, progress=lambda d, t, n: seen.append((d, t)))
    assert (last.missing, last.computed, last.remaining) == (2, 2, 0) and seen[-1] == (2, 2)
    store = DuckDBStore(path)
    assert store.missing_proxies() == [] and store.stats()["proxy_coverage"] == 1.0
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT (arch_hash, dataset_fingerprint)) FROM proxies"
                           ).fetchall() == [(6, 6)]
    finally:
        con.close()
    again = backfill_proxies(path)
    assert (again.missing, again.computed, again.batches) == (0, 0, 0)  # nothing is recomputed


def test_backfill_values_equal_those_a_training_records(tmp_path, digits: Dataset) -> None:
    from tapaskit.training.zero_cost import compute_proxies

    archs = small_archs(digits, 2)
    backfill_proxies(filled_lde(tmp_path / "lde.duckdb", digits, archs))
    stored = DuckDBStore(tmp_path / "lde.duckdb").get_proxies(archs[1].arch_hash, digits.fingerprint)
    assert stored.values() == compute_proxies(archs[1], digits).values()


def test_pairs_whose_dataset_cannot_be_loaded_are_skipped_and_counted(tmp_path, digits: Dataset) -> None:
    from lde import DatasetRecord

    archs = small_archs(digits, 2)
    store = filled_lde(tmp_path / "lde.duckdb", digits, archs)
    gone = DatasetRecord(fingerprint="metaqnn-cifar", name="/no/such/folder", input_shape=(3, 32, 32),
                         num_classes=10, num_samples=100)
    changed = DatasetRecord(fingerprint="0123456789abcdef", name="digits", input_shape=(1, 8, 8),
                            num_classes=10, num_samples=1797)
    store.add_experiments(
        [ExperimentRecord(arch_hash=archs[0].arch_hash, dataset_fingerprint=fp, peak_accuracy=0.5,
                          final_accuracy=0.5) for fp in ("metaqnn-cifar", "0123456789abcdef")],
        datasets=[gone, changed])
    report = backfill_proxies(store)
    assert (report.computed, report.unloadable, report.remaining) == (2, 2, 2)
    assert "UnknownDatasetError" in report.unloadable_datasets["/no/such/folder"]
    assert "other content" in report.unloadable_datasets["digits"]
    # the same name, shape, classes and size but other bytes (data rebuilt up to float rounding): opt in
    lenient = backfill_proxies(store, same_content=False)
    assert (lenient.computed, lenient.unloadable) == (1, 1)
    assert lenient.changed_datasets == {"digits": digits.fingerprint}
    assert store.get_proxies(archs[0].arch_hash, "0123456789abcdef") is not None
    with pytest.raises(InvalidOptionError, match="limit must be an integer >= 0"):
        backfill_proxies(store, limit=-1)


def test_cli_lde_proxies_json_and_stats(tmp_path, home, digits: Dataset) -> None:
    path = tmp_path / "lde.duckdb"
    filled_lde(path, digits, small_archs(digits, 3)).close()
    data = json_out(run_tapas("lde", "proxies", "--lde", str(path), "--limit", "2", "--json", home=home))
    assert (data["missing"], data["computed"], data["remaining"]) == (3, 2, 1)
    stats = json_out(run_tapas("lde", "stats", "--lde", str(path), "--json", home=home))
    assert stats["ok_with_proxies"] == 2 and stats["proxy_coverage"] == pytest.approx(2 / 3)
    (per,) = stats["per_dataset"]
    assert per["input_shape"] == [1, 8, 8] and per["epochs"] == [3] and per["ok_with_proxies"] == 2
    proc = run_tapas("lde", "proxies", "--lde", str(path), home=home)  # the rest, as a table
    assert proc.returncode == 0 and "computed the proxies of 1 of 1 pairs" in proc.stdout
    table = run_tapas("lde", "stats", "--lde", str(path), home=home).stdout
    assert "proxies 3/3 ok experiments (100%)" in table and "1×8×8" in table
    assert "Examples" in run_tapas("lde", "proxies", "--help", home=home).stdout


def test_a_fresh_data_home_gets_the_shipped_proxies(home) -> None:
    from lde.default import embedded_default_paths

    from tapaskit.store import open_lde

    paths = embedded_default_paths()
    frames = [pd.read_parquet(p, columns=["status", "arch_hash", "dataset_fingerprint", *PROXY_COLUMNS,
                                           "proxies_created_at"]) for p in paths]
    if not paths or any("proxies_created_at" not in f.columns for f in frames):
        pytest.skip("the shipped files carry no proxies")
    store = open_lde()
    stats = store.stats()
    assert stats["ok_experiments"] > 0 and stats["proxy_coverage"] == 1.0
    pairs = pd.concat(frames).dropna(subset=["status"]).drop_duplicates(["arch_hash", "dataset_fingerprint"])
    assert stats["proxies"] == len(store.proxies()) == len(pairs)
    assert store.missing_proxies() == []
    frame = store.query()
    assert frame[PROXY_COLUMNS].notna().mean().min() > 0.9  # a few undefined scores, no missing pairs
