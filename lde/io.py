"""Moving experiments in and out of an LDE: the open Parquet/CSV format.

One row per experiment, with the columns of :data:`lde.tables.FRAME_COLUMNS` (documented in
``lde/SCHEMA.md``): the dataset's columns, the architecture's columns and the experiment's. ``curve``
is a list column in Parquet and a JSON array text in CSV; ``extra_hparams`` is JSON object text in
both. The zero-cost proxies of a pair ride on every row of that pair (``proxy_*`` and
``proxies_*``). A dataset or an architecture that no experiment references travels as a row with
an empty ``status`` carrying only its own columns, and the proxies of a pair without experiments as
a row with an empty ``status`` carrying the pair's dataset, architecture and proxies, so an export
holds the whole store.

The import checks the whole file before it writes anything (columns first, then every row, by
building the records that validate themselves), then writes in atomic batches: a crash between two
batches leaves whole batches only, and rows with an idempotency ``key`` make a re-run skip what is
already there.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from lde.base import ExperimentStore
from lde.errors import ImportFormatError, InvalidArgumentError, InvalidRecordError
from lde.records import (
    PROXY_FIELDS,
    ArchitectureRecord,
    DatasetRecord,
    ExperimentRecord,
    ExperimentSource,
    ProxyRecord,
)
from lde.tables import FRAME_COLUMNS, FRAME_SCHEMA, PROXY_COLUMNS, frame_table

__all__ = ["FORMATS", "ImportReport", "export_experiments", "import_experiments"]

#: File formats and the suffixes that select them.
FORMATS: dict[str, tuple[str, ...]] = {"parquet": (".parquet", ".pq"), "csv": (".csv",)}

_TYPES = {c.name: c.type for c in FRAME_COLUMNS}
_REQUIRED = tuple(c.name for c in FRAME_COLUMNS if c.required)

# Record field -> file column, for error messages.
_DATASET_FIELD_COLUMN = {"fingerprint": "dataset_fingerprint", "name": "dataset_name",
                         "input_shape": "in_channels/in_height/in_width",
                         "created_at": "dataset_created_at"}


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_experiments` (or ``tapaskit.store.metaqnn_import``) did.

    Attributes:
        path: The file read.
        format: ``"parquet"``, ``"csv"`` or ``"metaqnn"``.
        rows: Data rows in the file.
        experiments: Rows that carry an experiment.
        inserted: Experiments written.
        skipped: Experiments skipped because their key was already stored (or repeated).
        datasets: Distinct datasets in the file.
        architectures: Distinct architectures in the file.
        batches: Transactions committed.
        proxies: Distinct (architecture, dataset) pairs with zero-cost proxies in the file (written
            unless the target already has proxies for the pair).
    """

    path: Path
    format: str
    rows: int
    experiments: int
    inserted: int
    skipped: int
    datasets: int
    architectures: int
    batches: int
    proxies: int = 0


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise InvalidArgumentError(
                f"format must be one of {', '.join(FORMATS)}, but got {format!r}")
        return format
    suffix = path.suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    raise InvalidArgumentError(
        f"cannot tell the format of {path.name} from its suffix {suffix!r}; name it .parquet or "
        ".csv, or pass format='parquet' or format='csv'"
    )


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def export_table(store: ExperimentStore) -> pa.Table:
    """The whole store as one Arrow table in the open format (experiments by id, then orphans)."""
    frame = store.experiments_frame()
    table = pa.Table.from_pandas(frame, schema=FRAME_SCHEMA, preserve_index=False)
    used_datasets = set(frame["dataset_fingerprint"].astype(object))
    used_archs = set(frame["arch_hash"].astype(object))
    used_pairs = set(zip(frame["arch_hash"].astype(object), frame["dataset_fingerprint"].astype(object)))
    orphans: list[tuple[Any, ...]] = [
        (None, store.get_dataset(p.dataset_fingerprint), store.get_architecture(p.arch_hash), p)
        for p in store.proxies() if p.pair not in used_pairs]
    used_datasets |= {p.dataset_fingerprint for _, _, _, p in orphans}
    used_archs |= {p.arch_hash for _, _, _, p in orphans}
    orphans += [(None, d, None, None) for d in store.datasets() if d.fingerprint not in used_datasets]
    orphans += [(None, None, a, None) for a in store.architectures() if a.arch_hash not in used_archs]
    if orphans:
        table = pa.concat_tables([table, frame_table(orphans)])
    return table.replace_schema_metadata(None)


def _csv_table(table: pa.Table) -> pa.Table:
    """Every column as text: curves as JSON arrays, numbers with round-trip precision."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if name == "curve":
            column = pa.array(
                [None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string())
        elif column.type != pa.string():
            column = pc.cast(column, pa.string())  # shortest round-trip text for doubles
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def export_experiments(store: ExperimentStore, path: str | Path, format: str | None = None, *,
                       overwrite: bool = False) -> int:
    """Write every experiment of ``store`` (and unused datasets/architectures) to a file.

    Args:
        store: The store to read.
        path: The file to write (parent folders are created); written aside and renamed into place.
        format: ``"parquet"`` or ``"csv"``; ``None`` picks it from the suffix.
        overwrite: Replace an existing regular file at ``path``.

    Returns:
        The number of experiments written.

    Raises:
        InvalidArgumentError: An unknown format or suffix; ``path`` exists and ``overwrite`` is
            off; ``path`` is not a regular file (a device, a folder, a symbolic link), never replaced.
    """
    path = Path(path)
    fmt = _resolve_format(path, format)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise InvalidArgumentError(f"{path} is not a regular file; export to a file path")
    if path.exists() and not overwrite:
        raise InvalidArgumentError(f"{path} exists; choose another path or pass --force to replace it")
    table = export_table(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    if fmt == "parquet":
        pq.write_table(table, tmp)
    else:
        pa_csv.write_csv(_csv_table(table), tmp)
    tmp.replace(path)  # readers never see half a file
    return int(pc.sum(pc.is_valid(table.column("status"))).as_py() or 0)


# ---------------------------------------------------------------------------------------------
# Import: read, convert each column to its type, build records row by row, then write.
# ---------------------------------------------------------------------------------------------


def _read(path: Path, fmt: str) -> pa.Table:
    if not path.is_file():
        raise ImportFormatError(f"import file {path} does not exist")
    try:
        if fmt == "parquet":
            return pq.read_table(path)
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if not header:
            raise ImportFormatError(f"import file {path} is empty; expected a header row")
        return pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImportFormatError(f"cannot read {path} as {fmt}: {detail}") from None


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(arrow_type))


def _kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "an integer"
    if pa.types.is_floating(arrow_type):
        return "a number"
    if pa.types.is_timestamp(arrow_type):
        return "an ISO 8601 timestamp"
    if pa.types.is_list(arrow_type):
        return "a list of numbers"
    return "text"


def _parse_curve(text: str) -> list[float]:
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError("not a JSON array")
    return value


def _parse_integer(text: str) -> int:
    value = float(text)  # "3.0" is an integer too; "2.5" is not
    if not value.is_integer():
        raise ValueError(text)
    return int(value)


def _parse_timestamp(text: str) -> pa.Array:
    """One ISO 8601 text as a UTC timestamp; without an offset it is taken as UTC already."""
    target = _TYPES["created_at"]
    try:
        return pc.cast(pa.array([text]), target)
    except pa.ArrowException:
        return pc.cast(pc.cast(pa.array([text]), pa.timestamp("us")), target)


def _bad_cell(name: str, target: pa.DataType, values: list[Any],
              parse: Callable[[Any], Any]) -> ImportFormatError | None:
    """The error for the first value ``parse`` rejects, or ``None`` when all parse."""
    for i, value in enumerate(values):
        if value is None:
            continue
        try:
            parse(value)
        except Exception:  # noqa: BLE001 - whatever the failure, this cell is the bad one
            return ImportFormatError(
                f"row {i + 1}: column {name} must be {_kind(target)}, but got {value!r}")
    return None


def _cast_one(target: pa.DataType) -> Callable[[Any], Any]:
    return lambda value: pc.cast(pa.array([value]), target)


def _convert_text(name: str, column: pa.Array, target: pa.DataType) -> pa.Array:
    """A text column (every CSV column; some Parquet ones) parsed into ``target``."""
    column = pc.cast(column, pa.string())
    if target == pa.string():
        return column
    column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    if pa.types.is_list(target):
        values = column.to_pylist()
        parse: Callable[[Any], Any] = lambda v: pa.array([_parse_curve(v)], target)  # noqa: E731
        try:
            return pa.array([None if v is None else _parse_curve(v) for v in values], target)
        except (ValueError, TypeError, pa.ArrowException):
            pass
    else:
        try:
            return pc.cast(column, target)  # vectorised; exact for doubles and 64-bit integers
        except pa.ArrowException:
            pass
        values = column.to_pylist()  # the slow path: find the cells that do not parse
        parse = _cast_one(target)
        if pa.types.is_timestamp(target):
            try:  # no offsets at all: the LDE's timestamps are UTC
                return pc.cast(pc.cast(column, pa.timestamp("us")), target)
            except pa.ArrowException:
                pass
            parse = _parse_timestamp
            if _bad_cell(name, target, values, parse) is None:  # some cells lack an offset
                return pa.chunked_array(
                    [_parse_timestamp(v) if v is not None else pa.nulls(1, target)
                     for v in values], target).combine_chunks()
        elif pa.types.is_integer(target):
            parse = _parse_integer
            if _bad_cell(name, target, values, parse) is None:
                return pa.array([None if v is None else _parse_integer(v) for v in values], target)
    error = _bad_cell(name, target, values, parse)
    raise error or ImportFormatError(f"column {name} cannot be read as {_kind(target)}")


def _convert_column(name: str, column: pa.ChunkedArray) -> pa.Array:
    """Column ``name`` as its frame type, or ImportFormatError naming the first bad row."""
    target = _TYPES[name]
    column = column.combine_chunks()
    if _is_text(column.type):
        return _convert_text(name, column, target)
    try:
        return pc.cast(column, target)  # narrower ints, naive timestamps, int curves...
    except (pa.ArrowException, NotImplementedError):
        pass
    error = _bad_cell(name, target, column.to_pylist(), _cast_one(target))
    raise error or ImportFormatError(
        f"column {name} must hold {_kind(target)}, but the file stores {column.type}")


def _check_columns(path: Path, names: Sequence[str]) -> None:
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise ImportFormatError(
            f"import file {path.name} lacks required columns: {', '.join(missing)} "
            "(the format is documented in lde/SCHEMA.md)"
        )
    unknown = [c for c in names if c not in _TYPES]
    if unknown:
        raise ImportFormatError(
            f"import file {path.name} has unknown columns: {', '.join(unknown)} "
            "(the format is documented in lde/SCHEMA.md)"
        )
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise ImportFormatError(f"import file {path.name} repeats columns: {', '.join(repeated)}")


@dataclass
class _Parsed:
    experiments: list[tuple[int | None, ExperimentRecord]]  # (experiment_id in the file, record)
    datasets: dict[str, DatasetRecord]
    architectures: dict[str, ArchitectureRecord]
    rows: int
    proxies: dict[tuple[str, str], ProxyRecord]


def _row_error(row: int, column: str, exc: InvalidRecordError) -> ImportFormatError:
    return ImportFormatError(f"row {row + 1}: column {column}: {exc}")


def _distinct(kind: str, columns: list[list[Any]], build: Callable[..., Any],
              field_column: dict[str, str]) -> dict[str, Any]:
    """One record per key (the first column); every row naming a key must agree on the rest."""
    records: dict[str, Any] = {}
    first: dict[str, tuple[int, tuple[Any, ...]]] = {}
    for i, values in enumerate(zip(*columns)):
        key = values[0]
        if key is None:
            continue
        seen = first.get(key)
        if seen is not None:
            if seen[1] != values:
                raise ImportFormatError(
                    f"rows {seen[0] + 1} and {i + 1} describe {kind} {key!r} differently; every "
                    f"row of one {kind} must carry the same {kind} columns")
            continue
        first[key] = (i, values)
        try:
            records[key] = build(*values)
        except InvalidRecordError as exc:
            field = getattr(exc, "field", "")
            raise _row_error(i, field_column.get(field, field), exc) from None
    return records


_DATASET_COLUMNS = ("dataset_fingerprint", "dataset_name", "in_channels", "in_height", "in_width",
                    "num_classes", "num_samples", "dcn", "dcn_probe", "dcn_probe_version",
                    "dcn_seed", "dcn_seconds", "dcn_probe_accuracy", "dataset_created_at")
_ARCHITECTURE_COLUMNS = ("arch_hash", "arch_json", "depth", "num_layers")
# Record field -> file column of the proxies, for error messages.
_PROXY_FIELD_COLUMN = {c.field: c.name for c in FRAME_COLUMNS if c.table == "proxies"}
_EXPERIMENT_COLUMNS = ("status", "source", "peak_accuracy", "final_accuracy", "test_accuracy", "curve", "lr",
                       "epochs", "batch_size", "optimizer", "weight_decay", "extra_hparams",
                       "params", "flops", "seconds", "device", "seed", "mlflow_run_id", "key",
                       "created_at")


def _parse(table: pa.Table) -> _Parsed:
    """Every row of ``table`` as records, or ImportFormatError for the first bad one."""
    now = datetime.now(UTC)  # one import time for every row that has no timestamp
    col = {name: _convert_column(name, table.column(name)).to_pylist() for name in table.column_names}
    absent: list[Any] = [None] * table.num_rows

    def get(names: Sequence[str]) -> list[list[Any]]:
        return [col.get(name, absent) for name in names]

    def dataset(fp: Any, name: Any, c: Any, h: Any, w: Any, k: Any, m: Any, dcn: Any, probe: Any,
                version: Any, seed: Any, secs: Any, pacc: Any, created: Any) -> DatasetRecord:
        return DatasetRecord(
            fingerprint=fp, name=name, input_shape=(c, h, w), num_classes=k, num_samples=m,
            dcn=dcn, dcn_probe=probe, dcn_probe_version=version, dcn_seed=seed,
            dcn_seconds=secs, dcn_probe_accuracy=pacc, created_at=created or now)

    def architecture(arch_hash: Any, arch_json: Any, depth: Any, num_layers: Any
                     ) -> ArchitectureRecord:
        return ArchitectureRecord(arch_hash=arch_hash, arch_json=arch_json, depth=depth,
                                  num_layers=num_layers)

    datasets = _distinct("dataset", get(_DATASET_COLUMNS), dataset, _DATASET_FIELD_COLUMN)
    archs = _distinct("architecture", get(_ARCHITECTURE_COLUMNS), architecture, {})
    fps, hashes, ids = (col.get(c, absent) for c in ("dataset_fingerprint", "arch_hash",
                                                     "experiment_id"))
    proxies = _parse_proxies(get(PROXY_COLUMNS), hashes, fps, now)
    experiments: list[tuple[int | None, ExperimentRecord]] = []
    for i, values in enumerate(zip(*get(_EXPERIMENT_COLUMNS))):
        kw = dict(zip(_EXPERIMENT_COLUMNS, values))
        if kw["status"] is None:  # a row that only carries a dataset and/or an architecture
            if fps[i] is None and hashes[i] is None:
                raise ImportFormatError(
                    f"row {i + 1} carries no experiment (empty status), no dataset and no "
                    "architecture")
            given = [k for k, v in kw.items() if v is not None]
            if given:
                raise ImportFormatError(
                    f"row {i + 1}: column status is empty but the row has experiment values "
                    f"({', '.join(given)}); give the status")
            continue
        for column, value in (("dataset_fingerprint", fps[i]), ("arch_hash", hashes[i])):
            if value is None:
                raise ImportFormatError(
                    f"row {i + 1}: column {column} is empty but the row has an experiment")
        try:
            extra = {} if kw["extra_hparams"] is None else json.loads(kw["extra_hparams"])
        except ValueError:
            raise ImportFormatError(
                f"row {i + 1}: column extra_hparams must be a JSON object, but got "
                f"{kw['extra_hparams']!r}") from None
        kw.update(extra_hparams=extra, source=kw["source"] or ExperimentSource.IMPORT,
                  curve=kw["curve"] or (), created_at=kw["created_at"] or now)
        try:
            record = ExperimentRecord(arch_hash=hashes[i], dataset_fingerprint=fps[i], **kw)
        except InvalidRecordError as exc:
            raise _row_error(i, getattr(exc, "field", ""), exc) from None
        experiments.append((ids[i], record))
    return _Parsed(experiments, datasets, archs, table.num_rows, proxies)


def _parse_proxies(columns: list[list[Any]], hashes: list[Any], fps: list[Any],
                   now: datetime) -> dict[tuple[str, str], ProxyRecord]:
    """One proxy record per pair, from the rows that carry any proxy column; the rows of a pair
    must agree (rows of the pair without proxy values are left out of the comparison)."""
    pairs: list[Any] = []
    for i, values in enumerate(zip(*columns)):
        if all(v is None for v in values):
            pairs.append(None)
            continue
        for column, value in (("dataset_fingerprint", fps[i]), ("arch_hash", hashes[i])):
            if value is None:
                raise ImportFormatError(
                    f"row {i + 1}: column {column} is empty but the row has zero-cost proxies")
        pairs.append((hashes[i], fps[i]))

    def build(pair: tuple[str, str], *values: Any) -> ProxyRecord:
        kw = dict(zip((*PROXY_FIELDS, "seed", "batch_size", "seconds", "created_at"), values))
        kw["created_at"] = kw["created_at"] or now
        return ProxyRecord(arch_hash=pair[0], dataset_fingerprint=pair[1], **kw)

    return _distinct("proxy pair", [pairs, *columns], build, _PROXY_FIELD_COLUMN)


def _check_architectures(table: pa.Table, architectures: dict[str, ArchitectureRecord],
                         check: Callable[[ArchitectureRecord], None]) -> None:
    hashes = table.column("arch_hash").to_pylist() if "arch_hash" in table.column_names else []
    first_row = {}
    for i, arch_hash in enumerate(hashes):
        first_row.setdefault(str(arch_hash), i)
    for arch_hash, record in architectures.items():
        try:
            check(record)
        except ValueError as exc:
            row = first_row.get(str(arch_hash))
            where = f"row {row + 1}: " if row is not None else ""
            raise ImportFormatError(f"{where}architecture {arch_hash}: {exc}") from None


def import_experiments(
    store: ExperimentStore,
    path: str | Path,
    format: str | None = None,
    *,
    batch_size: int = 10_000,
    on_batch: Callable[[int, int], None] | None = None,
    check_architecture: Callable[[ArchitectureRecord], None] | None = None,
) -> ImportReport:
    """Import a file in the open format into ``store``.

    Every row is checked before anything is written. Experiments are then written in atomic
    batches, in ``experiment_id`` order when the file has that column (file order otherwise), so
    importing an export into an empty store reproduces its ids. Rows whose ``key`` is already stored
    are skipped, which makes an interrupted import safe to re-run when rows have keys.

    Args:
        store: Where to write.
        path: A ``.parquet`` or ``.csv`` file.
        format: ``"parquet"`` or ``"csv"``; ``None`` picks it from the suffix.
        batch_size: Experiments per transaction.
        on_batch: Called after each committed batch with (experiments done, experiments total).
        check_architecture: Called on every architecture before anything is written; a
            ``ValueError`` it raises (the store knows no network rules, its caller does) rejects
            the file, naming the first row of that architecture.

    Returns:
        An :class:`ImportReport`.

    Raises:
        ImportFormatError: Missing or unknown columns, or a bad value (the message names the row,
            counted from 1 after the header, and the column). Nothing is written then.
        InvalidArgumentError: An unknown format or a ``batch_size`` below 1.
    """
    path = Path(path)
    fmt = _resolve_format(path, format)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, but got {batch_size!r}")
    table = _read(path, fmt)
    _check_columns(path, table.column_names)
    parsed = _parse(table)
    if check_architecture is not None:
        _check_architectures(table, parsed.architectures, check_architecture)
    ids = [i for i, _ in parsed.experiments]
    order = sorted(range(len(ids)), key=lambda j: (ids[j] is None, ids[j] or 0))
    experiments = [parsed.experiments[j][1] for j in order]

    used_ds = {e.dataset_fingerprint for e in experiments}
    used_arch = {e.arch_hash for e in experiments}
    orphan_ds = [d for f, d in parsed.datasets.items() if f not in used_ds]
    orphan_arch = [a for h, a in parsed.architectures.items() if h not in used_arch]
    # A pair's proxies go in the batch of its first experiment; pairs without one, in the first.
    proxies_in: dict[int, list[ProxyRecord]] = {}
    first_batch: dict[tuple[str, str], int] = {}
    for j, e in enumerate(experiments):
        first_batch.setdefault((e.arch_hash, e.dataset_fingerprint), j // batch_size)
    for pair, record in parsed.proxies.items():
        proxies_in.setdefault(first_batch.get(pair, 0), []).append(record)
    orphan_ds += [parsed.datasets[f] for f in dict.fromkeys(
        p[1] for p in parsed.proxies if p not in first_batch) if f in used_ds]
    orphan_arch += [parsed.architectures[h] for h in dict.fromkeys(
        p[0] for p in parsed.proxies if p not in first_batch) if h in used_arch]

    inserted = batches = 0
    total = len(experiments)
    for start in range(0, max(total, 1), batch_size):
        chunk = experiments[start:start + batch_size]
        ds = {e.dataset_fingerprint: None for e in chunk}
        ar = {e.arch_hash: None for e in chunk}
        datasets = [parsed.datasets[f] for f in ds] + (orphan_ds if start == 0 else [])
        archs = [parsed.architectures[h] for h in ar] + (orphan_arch if start == 0 else [])
        proxies = proxies_in.get(start // batch_size, [])
        if not chunk and not datasets and not archs and not proxies:
            break
        inserted += store.add_experiments(chunk, architectures=archs, datasets=datasets, proxies=proxies)
        batches += 1
        if on_batch is not None:
            on_batch(min(start + batch_size, total), total)
    return ImportReport(
        path=path, format=fmt, rows=parsed.rows, experiments=total, inserted=inserted,
        skipped=total - inserted, datasets=len(parsed.datasets),
        architectures=len(parsed.architectures), batches=batches, proxies=len(parsed.proxies),
    )
