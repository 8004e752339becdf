"""``tapas lde proxies``: compute the zero-cost proxies an LDE lacks (the backfill).

A training records the proxies of its (architecture, dataset) pair with its experiment; older rows,
imports and trainings that ran before proxies existed have none. :func:`backfill_proxies` finds the
pairs with experiments but without proxies (:meth:`lde.ExperimentStore.missing_proxies`), loads
each dataset once by the name the LDE recorded (:func:`tapaskit.datasets.load_dataset`), checks
that it is still the same data (its content fingerprint), and computes the proxies of every
architecture of the dataset on the one seeded minibatch (:mod:`tapaskit.training.zero_cost`).

- **Skipped, counted:** pairs whose dataset cannot be loaded any more (user data that moved, a
  MetaQNN import whose images were never in the file) or loads with other content, and pairs whose
  architecture cannot be built for the dataset. ``same_content=False`` accepts a dataset that loads
  by its recorded name with the recorded shape, classes and size but other bytes (data that can
  only be rebuilt up to float rounding, as the shipped default suite's down-sampled variants). Nothing is written for them; a later run tries
  again (cheaply: loading fails at once).
- **Resumable:** results are written in batches (``batch_size`` pairs, one transaction each); a
  killed run loses at most the batch in progress, and the next run computes only what is still
  missing. A pair recorded meanwhile by a training keeps its record (the first wins).
- **Cheap:** a few tens of milliseconds per pair at 28x28 on two CPU cores (``docs/proxies.md``).

:func:`ship_proxies` adds the proxy columns to a shipped Parquet file of the embedded default LDE
(``lde/default/``), leaving every other column as it was.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lde import ExperimentStore, ProxyRecord

from tapaskit.checks import check_int
from tapaskit.datasets import Dataset, load_dataset
from tapaskit.errors import InvalidArchitectureError
from tapaskit.space.architecture import Architecture
from tapaskit.store import open_lde, proxy_record

__all__ = ["BackfillReport", "backfill_proxies", "ship_proxies"]

#: Pairs written per transaction.
BATCH_SIZE = 50


@dataclass(frozen=True)
class BackfillReport:
    """What :func:`backfill_proxies` did.

    Attributes:
        missing: Pairs without proxies when the run started.
        computed: Pairs computed and written by this run.
        unloadable: Pairs skipped because their dataset could not be loaded, or loaded with other
            content than the LDE recorded.
        invalid: Pairs skipped because the architecture cannot be built for the dataset.
        remaining: Pairs still without proxies afterwards (the skipped ones, and those beyond
            ``limit``).
        with_none: Computed pairs where at least one proxy came out ``None`` (failed or not
            finite); they are written, with that score empty.
        batches: Transactions committed.
        seconds: Wall time of the run.
        unloadable_datasets: Names of the datasets that could not be loaded, with the reason.
        lde: The LDE file (empty for an in-memory store).
        changed_datasets: Names of the datasets used although their content differs from the
            recorded fingerprint (only with ``same_content=False``), with the fingerprint loaded.
    """

    missing: int
    computed: int
    unloadable: int
    invalid: int
    remaining: int
    with_none: int
    batches: int
    seconds: float
    unloadable_datasets: dict[str, str] = field(default_factory=dict)
    lde: str = ""
    changed_datasets: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def backfill_proxies(
    lde: ExperimentStore | str | Path | None = None,
    *,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int, str], None] | None = None,
    load: Callable[[str], Dataset] = load_dataset,
    same_content: bool = True,
) -> BackfillReport:
    """Compute and store the zero-cost proxies of every pair of ``ok`` experiments that lacks them.

    Args:
        lde: The LDE: an open store, a file, or ``None`` for the user's default LDE.
        limit: Compute at most this many pairs (``None``: all); the rest stays for a later run.
        batch_size: Pairs per transaction; a killed run loses at most one batch.
        progress: Called after each pair with (pairs done, pairs to do, dataset name).
        load: How a dataset is loaded from its recorded name (tests pass a stub).
        same_content: Require the loaded dataset to have the recorded fingerprint. ``False`` also
            accepts one with the recorded input shape, classes and sample count but other bytes
            (see the module docstring); such datasets are listed in ``changed_datasets``.

    Returns:
        A :class:`BackfillReport`.

    Raises:
        InvalidOptionError: ``limit`` below 0 or ``batch_size`` below 1.
    """
    started = time.perf_counter()
    if limit is not None:
        check_int("limit", limit, 0)
    check_int("batch_size", batch_size, 1)
    from tapaskit.training.zero_cost import compute_proxies, proxy_batch  # torch: only when computing

    store = open_lde(lde)
    missing = store.missing_proxies()
    by_dataset: dict[str, list[str]] = {}
    for arch_hash, fingerprint in missing:
        by_dataset.setdefault(fingerprint, []).append(arch_hash)
    todo = len(missing) if limit is None else min(limit, len(missing))
    records = {d.fingerprint: d for d in store.datasets()}
    archs = {a.arch_hash: a.arch_json for a in store.architectures()}
    unloadable: dict[str, str] = {}
    changed: dict[str, str] = {}
    counts = {"computed": 0, "unloadable": 0, "invalid": 0, "with_none": 0, "batches": 0}
    pending: list[ProxyRecord] = []

    def flush() -> None:
        if pending:
            store.add_proxies(pending)
            counts["batches"] += 1
            pending.clear()

    for fingerprint, hashes in by_dataset.items():
        if counts["computed"] >= todo:
            break
        name = records[fingerprint].name
        dataset, reason = _load(load, name, fingerprint)
        if dataset is not None and dataset.fingerprint != fingerprint:
            if same_content or not _same_shape(dataset, records[fingerprint]):
                dataset = None
            else:
                changed[name] = dataset.fingerprint
        if dataset is None:
            unloadable[name] = reason
            counts["unloadable"] += len(hashes)
            continue
        batch = proxy_batch(dataset)
        for arch_hash in hashes:
            if counts["computed"] >= todo:
                break
            try:
                scores = compute_proxies(Architecture.from_json(archs[arch_hash]), batch=batch)
            except InvalidArchitectureError:
                counts["invalid"] += 1
                continue
            pending.append(proxy_record(arch_hash, fingerprint, scores))
            counts["computed"] += 1
            counts["with_none"] += any(v is None for v in scores.values().values())
            if len(pending) >= batch_size:
                flush()
            if progress is not None:
                progress(counts["computed"], todo, name)
    flush()
    return BackfillReport(
        missing=len(missing), computed=counts["computed"], unloadable=counts["unloadable"],
        invalid=counts["invalid"], remaining=len(missing) - counts["computed"],
        with_none=counts["with_none"], batches=counts["batches"],
        seconds=time.perf_counter() - started, unloadable_datasets=unloadable,
        lde=str(getattr(store, "path", "")), changed_datasets=changed,
    )


def _same_shape(dataset: Dataset, record: Any) -> bool:
    return (tuple(dataset.input_shape) == tuple(record.input_shape)
            and dataset.num_classes == record.num_classes and dataset.num_samples == record.num_samples)


def _load(load: Callable[[str], Dataset], name: str, fingerprint: str) -> tuple[Dataset | None, str]:
    """The dataset recorded as ``name`` (``None`` when it does not load) and, when it does not load
    or loads with other content than ``fingerprint``, the reason."""
    try:
        dataset = load(name)
    except Exception as exc:  # noqa: BLE001 - gone, not installed, unreadable: skip it, say why
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]
    if dataset.fingerprint != fingerprint:
        return dataset, (f"loads with other content (fingerprint {dataset.fingerprint}, "
                         f"the LDE recorded {fingerprint})")
    return dataset, ""


def ship_proxies(path: str | Path, *, work: str | Path | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 same_content: bool = True) -> dict[str, Any]:
    """Add the proxy columns to a shipped Parquet file of the embedded default LDE, in place.

    The file is imported into a work LDE, the proxies its ok experiments lack are computed there
    (:func:`backfill_proxies`), and the file is written again with the ``proxy_*`` and
    ``proxies_*`` columns of :data:`lde.tables.FRAME_COLUMNS` filled for every row of a pair with
    proxies; every other column, the row order and the compression stay as they were.

    Args:
        path: The Parquet file (e.g. ``lde/default/large_lde.parquet``).
        work: The work LDE file; give one to resume after an interruption (default: a temporary one).
        progress: As for :func:`backfill_proxies`.
        same_content: As for :func:`backfill_proxies`; the shipped default suite needs ``False``
            (its down-sampled datasets load today equal to the campaign's up to float rounding).

    Returns:
        ``rows``, ``ok_rows``, ``ok_rows_with_proxies``, ``bytes_before``, ``bytes_after`` and the
        backfill's report.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lde import DuckDBStore
    from lde.io import import_experiments
    from lde.tables import FRAME_COLUMNS

    path = Path(path)
    bytes_before = path.stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(work) if work is not None else Path(tmp) / "work.duckdb")
        import_experiments(store, path)
        report = backfill_proxies(store, progress=progress, same_content=same_content)
        records = {p.pair: p for p in store.proxies()}
        store.close()
    table = pq.read_table(path)
    compression = pq.ParquetFile(path).metadata.row_group(0).column(0).compression.lower()
    pairs = list(zip(table.column("arch_hash").to_pylist(), table.column("dataset_fingerprint").to_pylist()))
    found = [records.get(pair) for pair in pairs]
    for column in (c for c in FRAME_COLUMNS if c.table == "proxies"):
        values = pa.array([None if p is None else getattr(p, column.field) for p in found], column.type)
        if column.name in table.column_names:
            table = table.set_column(table.column_names.index(column.name), column.name, values)
        else:
            table = table.append_column(pa.field(column.name, column.type), values)
    tmp_path = path.with_name(path.name + ".partial")
    pq.write_table(table.replace_schema_metadata(None), tmp_path, compression=compression)
    tmp_path.replace(path)
    status = table.column("status").to_pylist()
    ok = [i for i, s in enumerate(status) if s == "ok"]
    return {"path": str(path), "rows": table.num_rows, "ok_rows": len(ok),
            "ok_rows_with_proxies": sum(found[i] is not None for i in ok),
            "bytes_before": bytes_before, "bytes_after": path.stat().st_size, "backfill": report.to_dict()}
