"""The LDE on a DuckDB file.

Every operation attaches the file to a small in-memory DuckDB that the store keeps, runs in one
transaction and detaches the file again. Detaching checkpoints, so between operations the
``.duckdb`` file alone holds every commit; attaching costs about a millisecond where opening a
fresh database costs ten. Several processes (a search, a training campaign, ``tapas lde stats``)
thus take turns on one file: DuckDB admits one writing process at a time and the others wait (see
:mod:`lde.lock`). A batch is one transaction, so a process killed mid-write leaves the file as it
was before that batch, and DuckDB's write-ahead log brings back every committed batch.

Writes go through Arrow tables (``INSERT ... SELECT ... FROM arrow_table``), never row by row;
reads come back as Arrow and become the experiment frame of :mod:`lde.tables`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lde.base import ExperimentStore, PreparedBatch, check_experiment_id, check_experiment_ids, check_keys
from lde.errors import LDEFileError, ReadOnlyStoreError, RecordNotFoundError
from lde.lock import attach, path_lock, resolve_lock_timeout
from lde.query import ExperimentQuery
from lde.records import (
    ArchitectureRecord,
    DatasetRecord,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
    ProxyRecord,
)
from lde.schema import ensure_schema, read_version
from lde.tables import (
    ARCHITECTURE_TABLE_COLUMNS,
    DATASET_TABLE_COLUMNS,
    EXPERIMENT_TABLE_COLUMNS,
    FRAME_COLUMNS,
    PROXY_TABLE_COLUMNS,
    architecture_from_mapping,
    architectures_table,
    dataset_from_mapping,
    datasets_table,
    experiment_from_mapping,
    experiments_table,
    frame_table,
    frame_to_pandas,
    proxies_table,
    proxy_from_mapping,
)

__all__ = ["DuckDBStore"]

_MAX_PARAMS = 256
_INHERITED_ENGINES: list[duckdb.DuckDBPyConnection] = []
_DB = "lde"  # catalog name of the attached file inside the store's in-memory DuckDB
# Once experiments have been deleted, the comment of the experiments table records the highest id
# ever assigned (JSON object text), so that new ids continue above a deleted last one. A comment
# rather than a table: files stay at their schema version and readable by every version.
_LAST_ID = "last_experiment_id"
_MAX_ID = 2**63 - 1  # BIGINT
_DATASET_FIELD_COLUMN = {"input_shape[0]": "in_channels", "input_shape[1]": "in_height",
                         "input_shape[2]": "in_width"}


def _pairs(table: pa.Table) -> pa.ChunkedArray:
    """One text per row naming its (arch_hash, dataset_fingerprint) pair (the unit separator
    cannot occur in either: records refuse control characters)."""
    return pc.binary_join_element_wise(table.column("arch_hash"), table.column("dataset_fingerprint"), "\x1f")


def _join(experiments: pa.Table, datasets: pa.Table, archs: pa.Table, proxies: pa.Table) -> pa.Table:
    """The frame's columns for ``experiments``, their datasets, architectures and proxies, by id.

    Small lookups by position (``take``) instead of a SQL join; the scan returns experiments in
    storage order, which is id order, and they are sorted only if that ever fails to hold. A pair
    without proxies gets nulls (``take`` of a null position): the frame's left join.
    """
    ids = experiments.column("experiment_id")
    if len(ids) > 1 and not pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():
        experiments = experiments.sort_by("experiment_id")
    ds = datasets.take(pc.index_in(experiments.column("dataset_fingerprint"),
                                   value_set=datasets.column("fingerprint")))
    ar = archs.take(pc.index_in(experiments.column("arch_hash"), value_set=archs.column("arch_hash")))
    px = proxies.take(pc.index_in(_pairs(experiments), value_set=_pairs(proxies)))
    columns = {}
    for c in FRAME_COLUMNS:
        if c.table == "experiments":
            columns[c.name] = experiments.column(c.field)
        elif c.table == "architectures":
            columns[c.name] = ar.column(c.field)
        elif c.table == "proxies":
            columns[c.name] = px.column(c.field)
        else:
            columns[c.name] = ds.column(_DATASET_FIELD_COLUMN.get(c.field, c.field))
    return pa.table(columns)


def _naive_utc(table: pa.Table) -> pa.Table:
    # DuckDB would convert tz-aware Arrow timestamps with the session time zone; the LDE stores
    # UTC in TIMESTAMP columns, so hand it naive UTC values.
    i = table.schema.get_field_index("created_at")
    return table.set_column(i, "created_at", table.column(i).cast(pa.timestamp("us")))


def _in_list(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join('?' for _ in values)})"


_DAMAGE_TYPES = (duckdb.IOException, duckdb.PermissionException, duckdb.FatalException,
                 duckdb.InternalException, duckdb.SerializationException)


def _is_file_damage(exc: duckdb.Error) -> bool:
    """Whether ``exc`` comes from the file rather than from the statement: unreadable or missing
    blocks, failed checksums, a database DuckDB invalidated after such an error."""
    text = str(exc)
    return (isinstance(exc, _DAMAGE_TYPES) or type(exc) is duckdb.Error
            or "Corrupt database file" in text or "transaction is aborted" in text)


@contextlib.contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, data: pa.Table) -> Iterator[None]:
    """``data`` visible to SQL as ``name`` for the block."""
    con.register(name, data)
    try:
        yield
    except BaseException:
        # After a failed statement DuckDB refuses even this ("Current transaction is aborted");
        # that must not hide the failure itself (the next register of the name replaces the view).
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


class DuckDBStore(ExperimentStore):
    """The LDE in a DuckDB file.

    Args:
        path: The file. Created with its parent folders when missing (unless ``read_only``).
        lock_timeout: Seconds to wait while another process holds the file; ``None`` reads
            ``$TAPAS_LDE_LOCK_TIMEOUT`` (default 30).
        read_only: Open for reading only: writes raise :class:`~lde.errors.ReadOnlyStoreError`.

    Raises:
        LDEFileError: The file is not an LDE (corrupt, truncated, not DuckDB, foreign tables), has
            a newer schema version, or is missing while ``read_only``. The file is left untouched.
        LDELockedError: Another process held the file past the timeout.
    """

    def __init__(self, path: str | Path, *, lock_timeout: float | None = None,
                 read_only: bool = False) -> None:
        self._path = Path(path).expanduser().absolute()
        self._lock_timeout = resolve_lock_timeout(lock_timeout)
        self._read_only = bool(read_only)
        self._lock = path_lock(self._path)
        self._engine: duckdb.DuckDBPyConnection | None = None
        self._engine_pid = 0
        if self._path.is_dir():
            raise LDEFileError(f"LDE path {self._path} is a directory; give a file path")
        if not self._path.exists():
            if self._read_only:
                raise LDEFileError(
                    f"LDE file {self._path} does not exist; create it by opening it without "
                    "read_only"
                )
            self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection():
            pass  # create, migrate or reject the file now rather than at the first operation

    def __repr__(self) -> str:
        mode = ", read_only=True" if self._read_only else ""
        return f"DuckDBStore({str(self._path)!r}{mode})"

    @property
    def path(self) -> Path:
        """The file of this store."""
        return self._path

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        return self._read_only

    @property
    def lock_timeout(self) -> float:
        """Seconds an operation waits for another process to release the file."""
        return self._lock_timeout

    @property
    def schema_version(self) -> int:
        """The schema version of the file."""
        with self._connection() as con:
            version = read_version(con, self._path)
        assert version is not None  # _connection created the schema
        return version

    def close(self) -> None:
        """Drop the in-memory DuckDB the store attaches the file to (the file is never held)."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    # -- connections -----------------------------------------------------------------------------

    def _get_engine(self) -> duckdb.DuckDBPyConnection:
        if self._engine is not None and self._engine_pid != os.getpid():
            # A forked child must neither use nor close the parent's DuckDB (its threads did not
            # survive the fork): keep it referenced and start a new one.
            _INHERITED_ENGINES.append(self._engine)
            self._engine = None
        if self._engine is None:
            self._engine = duckdb.connect(":memory:")
            self._engine_pid = os.getpid()
        return self._engine

    def _discard_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(duckdb.Error):
                engine.close()

    @contextlib.contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file attached (and made the default catalog) for one operation."""
        if write and self._read_only:
            raise ReadOnlyStoreError(
                f"LDE file {self._path} was opened read-only; open it without read_only to write"
            )
        with self._lock:
            con = self._get_engine()
            attach(con, self._path, _DB, read_only=self._read_only, timeout=self._lock_timeout)
            failed = True
            try:
                con.execute(f"USE {_DB}")
                self._check_length(con)  # before a migration could write into a truncated file
                try:
                    ensure_schema(con, self._path, read_only=self._read_only)
                except duckdb.Error as exc:
                    detail = str(exc).splitlines()[0]
                    raise LDEFileError(f"LDE file {self._path} is damaged: {detail}") from None
                try:
                    yield con
                except duckdb.Error as exc:
                    if not _is_file_damage(exc):
                        raise
                    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise LDEFileError(f"LDE file {self._path} is damaged or unreadable ({detail}); "
                                       "nothing was written; restore it from a backup") from None
                failed = False
            finally:
                try:
                    con.execute("USE memory")
                    con.execute(f"DETACH {_DB}")  # checkpoints and releases the file lock
                except duckdb.Error as exc:
                    self._discard_engine()  # closing the database releases the file for sure
                    if not failed:  # otherwise the error that stopped the operation is the one to see
                        detail = str(exc).splitlines()[0]
                        raise LDEFileError(f"could not release LDE file {self._path}: {detail}") from None

    def _check_length(self, con: duckdb.DuckDBPyConnection) -> None:
        """Refuse a file too short to hold the blocks in use (a truncated copy, a partial
        download): DuckDB reads such a file until it reaches a missing block, and writing to it
        would only bury the damage under a new checkpoint. Runs with the file attached, so no other
        process changes its length meanwhile."""
        rows = con.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                           "WHERE database_name = ?", [_DB]).fetchall()
        if not rows or None in rows[0]:
            return
        block_size, used = (int(v) for v in rows[0])
        # Free blocks at the end are cut off the file, and the blocks follow DuckDB's file
        # headers: the blocks in use alone give a bound that a whole file always meets.
        size = self._path.stat().st_size
        if size < used * block_size:
            raise LDEFileError(
                f"LDE file {self._path} is truncated: {size} bytes, too short for the {used} "
                f"blocks of {block_size} bytes it uses; nothing was written; restore it from a backup"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connection(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                # A failed statement may leave nothing to roll back (a damaged file invalidates
                # the database); the error that got us here is the one to report.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @staticmethod
    def _present(con: duckdb.DuckDBPyConnection, table: str, column: str,
                 values: Iterable[str]) -> set[str]:
        """The subset of ``values`` found in ``table.column``."""
        values = list(values)
        if len(values) <= _MAX_PARAMS:  # a literal list is cheaper than registering a table
            rows = con.execute(
                f"SELECT DISTINCT {column} FROM {table} WHERE {_in_list(column, values)}", values,
            ).fetchall()
            return {r[0] for r in rows}
        with _registered(con, "lde_probe", pa.table({"v": pa.array(values, pa.string())})):
            rows = con.execute(
                f"SELECT DISTINCT {column} FROM {table} WHERE {column} IN (SELECT v FROM lde_probe)"
            ).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str],
                data: pa.Table, unique: str | None = None) -> None:
        """``INSERT INTO table SELECT * FROM data``, skipping rows whose ``unique`` value exists."""
        names = ", ".join(columns)
        where = f" WHERE {unique} NOT IN (SELECT {unique} FROM {table})" if unique else ""
        with _registered(con, "lde_rows", data):
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM lde_rows{where}")

    @staticmethod
    def _last_id(con: duckdb.DuckDBPyConnection) -> int:
        """The highest experiment id ever assigned (0 for none), deleted ones included."""
        stored, comment = con.execute(
            "SELECT (SELECT coalesce(max(experiment_id), 0) FROM experiments), "
            "(SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = 'experiments')"
        ).fetchall()[0]
        try:
            recorded = int(json.loads(comment)[_LAST_ID])
        except (TypeError, ValueError, KeyError):  # no comment yet, or one that is not ours
            recorded = 0
        return max(int(stored), recorded)

    # -- ExperimentStore -------------------------------------------------------------------------

    def add_batch(
        self,
        experiments: Iterable[ExperimentRecord],
        *,
        architectures: Iterable[ArchitectureRecord] = (),
        datasets: Iterable[DatasetRecord] = (),
        proxies: Iterable[ProxyRecord] = (),
    ) -> list[int | None]:
        batch = self.prepare_batch(experiments, architectures, datasets, proxies)
        with self._transaction() as con:
            self._check_references(con, batch)
            keys = {e.key for e in batch.experiments if e.key is not None}
            seen = self._present(con, "experiments", "key", keys) if keys else set()
            next_id = self._last_id(con) + 1
            ids: list[int | None] = []
            chosen: list[ExperimentRecord] = []
            for e in batch.experiments:
                if e.key is not None:
                    if e.key in seen:
                        ids.append(None)
                        continue
                    seen.add(e.key)
                ids.append(next_id)
                chosen.append(e)
                next_id += 1
            if batch.datasets:
                self._insert(con, "datasets", DATASET_TABLE_COLUMNS,
                             _naive_utc(datasets_table(batch.datasets)), unique="fingerprint")
            if batch.architectures:
                self._insert(con, "architectures", ARCHITECTURE_TABLE_COLUMNS,
                             architectures_table(batch.architectures), unique="arch_hash")
            if chosen:
                rows = experiments_table(chosen, [i for i in ids if i is not None])
                self._insert(con, "experiments", EXPERIMENT_TABLE_COLUMNS, _naive_utc(rows))
            if batch.proxies:
                self._write_proxies(con, batch.proxies, replace=False)
        return ids

    def _check_references(self, con: duckdb.DuckDBPyConnection, batch: PreparedBatch) -> None:
        if batch.missing_datasets:
            unknown = batch.missing_datasets - self._present(
                con, "datasets", "fingerprint", batch.missing_datasets)
            if unknown:
                raise batch.unresolved_error("dataset", unknown)
        if batch.missing_architectures:
            unknown = batch.missing_architectures - self._present(
                con, "architectures", "arch_hash", batch.missing_architectures)
            if unknown:
                raise batch.unresolved_error("architecture", unknown)

    @staticmethod
    def _write_proxies(con: duckdb.DuckDBPyConnection, records: Sequence[ProxyRecord], *,
                       replace: bool) -> int:
        """Insert proxy records (distinct pairs) inside the caller's transaction; returns how many
        were written. Without ``replace``, pairs already stored keep their record."""
        names = ", ".join(PROXY_TABLE_COLUMNS)
        same = ("p.arch_hash = r.arch_hash AND p.dataset_fingerprint = r.dataset_fingerprint")
        with _registered(con, "lde_proxies", _naive_utc(proxies_table(records))):
            if replace:
                con.execute(f"DELETE FROM proxies p WHERE EXISTS (SELECT 1 FROM lde_proxies r WHERE {same})")
            (written,) = con.execute(
                f"INSERT INTO proxies ({names}) SELECT {names} FROM lde_proxies r "
                f"WHERE NOT EXISTS (SELECT 1 FROM proxies p WHERE {same})"
            ).fetchall()[0]
        return int(written)

    def add_proxies(self, records: Iterable[ProxyRecord], *, replace: bool = False) -> int:
        batch = self.prepare_batch((), proxies=records)
        with self._transaction() as con:
            self._check_references(con, batch)
            return self._write_proxies(con, batch.proxies, replace=replace) if batch.proxies else 0

    @staticmethod
    def _proxy_rows(con: duckdb.DuckDBPyConnection, where: str = "", params: Sequence[Any] = ()) -> pa.Table:
        rows = con.sql(f"SELECT {', '.join(PROXY_TABLE_COLUMNS)} FROM proxies {where} "
                       "ORDER BY dataset_fingerprint, arch_hash", params=list(params)).to_arrow_table()
        return rows.set_column(rows.schema.get_field_index("created_at"), "created_at",
                               rows.column("created_at").cast(pa.timestamp("us", tz="UTC")))

    def proxies(self, dataset_fingerprint: str | None = None) -> list[ProxyRecord]:
        with self._connection() as con:
            if dataset_fingerprint is None:
                rows = self._proxy_rows(con)
            else:
                rows = self._proxy_rows(con, "WHERE dataset_fingerprint = ?", [dataset_fingerprint])
        return [proxy_from_mapping(m) for m in rows.to_pylist()]

    def get_proxies(self, arch_hash: str, dataset_fingerprint: str) -> ProxyRecord | None:
        with self._connection() as con:
            rows = self._proxy_rows(con, "WHERE arch_hash = ? AND dataset_fingerprint = ?",
                                    [arch_hash, dataset_fingerprint])
        return proxy_from_mapping(rows.to_pylist()[0]) if rows.num_rows else None

    def missing_proxies(self, status: Iterable[str] | str | None = ("ok",)) -> list[tuple[str, str]]:
        statuses = ExperimentQuery.build(status=status).statuses
        where, params = "", []
        if statuses is not None:
            where, params = f"WHERE {_in_list('e.status', statuses)}", list(statuses)
        with self._connection() as con:
            rows = con.execute(f"""
                SELECT DISTINCT e.arch_hash, e.dataset_fingerprint FROM experiments e
                ANTI JOIN proxies p
                    ON p.arch_hash = e.arch_hash AND p.dataset_fingerprint = e.dataset_fingerprint
                {where}
                ORDER BY e.dataset_fingerprint, e.arch_hash
            """, params).fetchall()
        return [(a, f) for a, f in rows]

    def set_dcn(
        self,
        fingerprint: str,
        dcn: float | None,
        probe: str | None = None,
        probe_version: str | None = None,
        seed: int | None = None,
        seconds: float | None = None,
        probe_accuracy: float | None = None,
    ) -> DatasetRecord:
        with self._transaction() as con:
            stored = self._datasets(con, fingerprint)
            if not stored:
                raise RecordNotFoundError(f"no dataset with fingerprint {fingerprint!r} in the LDE")
            updated = dataclasses.replace(
                stored[0], dcn=dcn, dcn_probe=probe, dcn_probe_version=probe_version,
                dcn_seed=seed, dcn_seconds=seconds, dcn_probe_accuracy=probe_accuracy,
            )
            con.execute(
                "UPDATE datasets SET dcn = ?, dcn_probe = ?, dcn_probe_version = ?, dcn_seed = ?, "
                "dcn_seconds = ?, dcn_probe_accuracy = ? WHERE fingerprint = ?",
                [updated.dcn, updated.dcn_probe, updated.dcn_probe_version, updated.dcn_seed,
                 updated.dcn_seconds, updated.dcn_probe_accuracy, fingerprint],
            )
        return updated

    def delete_experiments(self, experiment_ids: Iterable[int]) -> int:
        ids = sorted(i for i in check_experiment_ids(experiment_ids) if 1 <= i <= _MAX_ID)
        with self._transaction() as con:
            if not ids:
                return 0
            last = self._last_id(con)
            with _registered(con, "lde_ids", pa.table({"i": pa.array(ids, pa.int64())})):
                (deleted,) = con.execute(
                    "DELETE FROM experiments WHERE experiment_id IN (SELECT i FROM lde_ids)"
                ).fetchall()[0]
            if deleted:
                note = json.dumps({_LAST_ID: last})  # digits only: safe inside the quotes
                con.execute(f"COMMENT ON TABLE experiments IS '{note}'")
        return int(deleted)

    @staticmethod
    def _datasets(con: duckdb.DuckDBPyConnection, fingerprint: str | None = None) -> list[DatasetRecord]:
        sql = f"SELECT {', '.join(DATASET_TABLE_COLUMNS)} FROM datasets"
        params: list[Any] = []
        if fingerprint is not None:
            sql += " WHERE fingerprint = ?"
            params.append(fingerprint)
        rows = con.sql(sql + " ORDER BY name, fingerprint", params=params).to_arrow_table()
        rows = rows.set_column(rows.schema.get_field_index("created_at"), "created_at",
                               rows.column("created_at").cast(pa.timestamp("us", tz="UTC")))
        return [dataset_from_mapping(m) for m in rows.to_pylist()]

    def datasets(self) -> list[DatasetRecord]:
        with self._connection() as con:
            return self._datasets(con)

    def get_dataset(self, fingerprint: str) -> DatasetRecord | None:
        with self._connection() as con:
            found = self._datasets(con, fingerprint)
        return found[0] if found else None

    def _architectures(self, arch_hash: str | None = None) -> list[ArchitectureRecord]:
        sql = f"SELECT {', '.join(ARCHITECTURE_TABLE_COLUMNS)} FROM architectures"
        params: list[Any] = []
        if arch_hash is not None:
            sql += " WHERE arch_hash = ?"
            params.append(arch_hash)
        with self._connection() as con:
            rows = con.sql(sql + " ORDER BY arch_hash", params=params).to_arrow_table()
        return [architecture_from_mapping(m) for m in rows.to_pylist()]

    def architectures(self) -> list[ArchitectureRecord]:
        return self._architectures()

    def get_architecture(self, arch_hash: str) -> ArchitectureRecord | None:
        found = self._architectures(arch_hash)
        return found[0] if found else None

    def get_experiment(self, experiment_id: int) -> ExperimentRecord | None:
        experiment_id = check_experiment_id(experiment_id)
        with self._connection() as con:
            rows = con.sql(
                f"SELECT {', '.join(EXPERIMENT_TABLE_COLUMNS)} FROM experiments "
                "WHERE experiment_id = ?", params=[experiment_id],
            ).to_arrow_table()
        if rows.num_rows == 0:
            return None
        rows = rows.set_column(rows.schema.get_field_index("created_at"), "created_at",
                               rows.column("created_at").cast(pa.timestamp("us", tz="UTC")))
        return experiment_from_mapping(rows.to_pylist()[0])

    def has_keys(self, keys: Iterable[str]) -> set[str]:
        keys = check_keys(keys)
        if not keys:
            return set()
        with self._connection() as con:
            return self._present(con, "experiments", "key", keys)

    def select(self, query: ExperimentQuery) -> pd.DataFrame:
        with self._connection() as con:
            datasets = con.sql(
                f"SELECT {', '.join(DATASET_TABLE_COLUMNS)} FROM datasets").to_arrow_table()
            names, fps, dcns = (datasets.column(c).to_pylist() for c in ("name", "fingerprint", "dcn"))
            matching = [fp for name, fp, dcn in zip(names, fps, dcns) if query.matches(name, fp, dcn)]
            if not matching:
                return frame_to_pandas(frame_table(()))
            where: list[str] = []
            params: list[Any] = []
            if len(matching) < len(fps):
                where.append(_in_list("dataset_fingerprint", matching))
                params += matching
            for column, values in (("status", query.statuses), ("source", query.sources)):
                if values is not None:
                    where.append(_in_list(column, values))
                    params += list(values)
            sql = f"SELECT {', '.join(EXPERIMENT_TABLE_COLUMNS)} FROM experiments"
            if where:
                sql += " WHERE " + " AND ".join(where)
            experiments = con.sql(sql, params=params).to_arrow_table()
            # Only the architectures at hand are read; a SQL join would build its hash table over
            # every architecture in the LDE.
            with _registered(con, "lde_hashes", pa.table({"h": pc.unique(experiments.column("arch_hash"))})):
                archs = con.sql(
                    f"SELECT {', '.join(ARCHITECTURE_TABLE_COLUMNS)} FROM architectures "
                    "WHERE arch_hash IN (SELECT h FROM lde_hashes)"
                ).to_arrow_table()
            if len(matching) < len(fps):
                proxies = self._proxy_rows(con, f"WHERE {_in_list('dataset_fingerprint', matching)}", matching)
            else:
                proxies = self._proxy_rows(con)
        return frame_to_pandas(_join(experiments, datasets, archs, proxies))

    def stats(self) -> dict[str, Any]:
        with self._connection() as con:
            n_datasets, dcn_min, dcn_max = con.execute(
                "SELECT count(*), min(dcn), max(dcn) FROM datasets").fetchall()[0]
            (n_architectures,) = con.execute("SELECT count(*) FROM architectures").fetchall()[0]
            (n_proxies,) = con.execute("SELECT count(*) FROM proxies").fetchall()[0]
            by_status = dict(con.execute(
                "SELECT status, count(*) FROM experiments GROUP BY status").fetchall())
            by_source = dict(con.execute(
                "SELECT source, count(*) FROM experiments GROUP BY source").fetchall())
            per_dataset = con.execute("""
                SELECT d.name, d.fingerprint, d.dcn, d.in_channels, d.in_height, d.in_width,
                       count(e.experiment_id),
                       count(e.experiment_id) FILTER (WHERE e.status = 'ok'),
                       count(e.experiment_id) FILTER (WHERE e.status = 'ok' AND p.arch_hash IS NOT NULL),
                       list(DISTINCT e.epochs ORDER BY e.epochs) FILTER (WHERE e.epochs IS NOT NULL),
                       avg(e.peak_accuracy) FILTER (WHERE e.status = 'ok'),
                       stddev_samp(e.peak_accuracy) FILTER (WHERE e.status = 'ok')
                FROM datasets d
                LEFT JOIN experiments e ON e.dataset_fingerprint = d.fingerprint
                LEFT JOIN proxies p
                    ON p.arch_hash = e.arch_hash AND p.dataset_fingerprint = e.dataset_fingerprint
                GROUP BY d.name, d.fingerprint, d.dcn, d.in_channels, d.in_height, d.in_width
                ORDER BY d.name, d.fingerprint
            """).fetchall()
        n_ok = int(by_status.get(ExperimentStatus.OK.value, 0))
        ok_with_proxies = sum(int(row[8]) for row in per_dataset)
        return {
            "datasets": int(n_datasets),
            "experiments": int(sum(by_status.values())),
            "ok_experiments": n_ok,
            "architectures": int(n_architectures),
            "dcn_min": dcn_min,
            "dcn_max": dcn_max,
            "by_status": {m.value: int(by_status.get(m.value, 0)) for m in ExperimentStatus},
            "by_source": {m.value: int(by_source.get(m.value, 0)) for m in ExperimentSource},
            "proxies": int(n_proxies),
            "ok_with_proxies": ok_with_proxies,
            "proxy_coverage": ok_with_proxies / n_ok if n_ok else None,
            "per_dataset": [
                {"name": name, "fingerprint": fp, "dcn": dcn, "input_shape": [int(c), int(h), int(w)],
                 "experiments": int(n), "ok_experiments": int(n_ok_ds),
                 "ok_with_proxies": int(n_px), "epochs": [int(x) for x in epochs or []],
                 "peak_accuracy_mean": mean, "peak_accuracy_std": std}
                for name, fp, dcn, c, h, w, n, n_ok_ds, n_px, epochs, mean, std in per_dataset
            ],
        }
