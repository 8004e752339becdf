"""The tables of an LDE file, their versions and the migrations between them.

A file records its version in ``schema_version`` (one row per version it went through). A new file
is made by running the version-1 DDL and then every migration, so a fresh file and a migrated old
one are the same by construction. Migrations are keyed by the version they start from and run inside
the caller's transaction: a migration that fails leaves the file at its old version.

Version history:

1. Tables ``datasets``, ``architectures``, ``experiments``, ``schema_version``.
2. ``experiments.key``: idempotency keys, so resumed campaigns and re-run imports never duplicate
   an experiment.
3. ``experiments.test_accuracy``: accuracy on the test split no selection saw (nullable: older
   rows, and trainings whose test split was not evaluated, have none).
4. Table ``proxies``: the zero-cost proxies of an (architecture, dataset) pair (one row per pair,
   each score a nullable DOUBLE, with the seed, minibatch size, seconds and time of the
   computation). Older files get the table empty; ``tapas lde proxies`` fills it.

Indexes were measured on a million experiments rather than assumed, and the LDE has none besides
the primary keys of the two small tables. A unique index on ``experiments.key`` made a key lookup
7 ms faster but every operation slower (attaching the file loads it: reads 3 -> 9 ms, single adds
28 -> 48 ms) and the file 2.5 times larger; keys stay unique because the store checks them inside
the single writer's transaction. An index on ``experiments.dataset_fingerprint`` does not help the
DCN-window query: experiments arrive clustered by dataset, so DuckDB's zone maps already skip the
row groups of other datasets, and the time goes into reading the matching rows. ``datasets`` holds
hundreds of rows, so an index on ``datasets.dcn`` would have nothing to do.
``proxies`` has no primary key for the same reason as ``experiments.key``: the store keeps one row
per pair inside the single writer's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from lde.errors import LDEFileError, ReadOnlyStoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "V1_DDL", "ensure_schema", "read_version"]

#: The version this code reads and writes.
SCHEMA_VERSION = 4

#: DDL of version 1, kept verbatim: new files start here and migrate forward.
V1_DDL: tuple[str, ...] = (
    """
    CREATE TABLE schema_version (
        version    INTEGER NOT NULL,
        applied_at TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE datasets (
        fingerprint        VARCHAR PRIMARY KEY,
        name               VARCHAR NOT NULL,
        in_channels        INTEGER NOT NULL CHECK (in_channels >= 1),
        in_height          INTEGER NOT NULL CHECK (in_height >= 1),
        in_width           INTEGER NOT NULL CHECK (in_width >= 1),
        num_classes        INTEGER NOT NULL CHECK (num_classes >= 2),
        num_samples        BIGINT NOT NULL CHECK (num_samples >= 1),
        dcn                DOUBLE CHECK (dcn BETWEEN 0 AND 1),
        dcn_probe          VARCHAR,
        dcn_probe_version  VARCHAR,
        dcn_seed           BIGINT,
        dcn_seconds        DOUBLE,
        dcn_probe_accuracy DOUBLE,
        created_at         TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE architectures (
        arch_hash  VARCHAR PRIMARY KEY,
        arch_json  VARCHAR NOT NULL,
        depth      INTEGER NOT NULL,
        num_layers INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE experiments (
        experiment_id       BIGINT NOT NULL,
        arch_hash           VARCHAR NOT NULL,
        dataset_fingerprint VARCHAR NOT NULL,
        status              VARCHAR NOT NULL
                            CHECK (status IN ('ok', 'failed', 'diverged', 'oom')),
        source              VARCHAR NOT NULL
                            CHECK (source IN ('seed', 'search', 'train', 'import', 'benchmark')),
        peak_accuracy       DOUBLE CHECK (peak_accuracy BETWEEN 0 AND 1),
        final_accuracy      DOUBLE CHECK (final_accuracy BETWEEN 0 AND 1),
        curve               DOUBLE[] NOT NULL,
        lr                  DOUBLE,
        epochs              INTEGER,
        batch_size          INTEGER,
        optimizer           VARCHAR,
        weight_decay        DOUBLE,
        extra_hparams       VARCHAR NOT NULL,
        params              BIGINT,
        flops               BIGINT,
        seconds             DOUBLE,
        device              VARCHAR,
        seed                BIGINT,
        mlflow_run_id       VARCHAR,
        created_at          TIMESTAMP NOT NULL
    )
    """,
)

#: ``MIGRATIONS[v]`` takes a file from version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE experiments ADD COLUMN key VARCHAR",
    ),
    2: (
        "ALTER TABLE experiments ADD COLUMN test_accuracy DOUBLE",  # DuckDB adds no CHECK; the record checks [0, 1]
    ),
    3: (
        """
        CREATE TABLE proxies (
            arch_hash           VARCHAR NOT NULL,
            dataset_fingerprint VARCHAR NOT NULL,
            synflow             DOUBLE,
            snip                DOUBLE,
            grad_norm           DOUBLE,
            jacob_cov           DOUBLE,
            naswot              DOUBLE,
            seed                BIGINT,
            batch_size          INTEGER CHECK (batch_size >= 1),
            seconds             DOUBLE CHECK (seconds >= 0),
            created_at          TIMESTAMP NOT NULL
        )
        """,
    ),
}

def read_version(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """The schema version of an open file; ``None`` for a DuckDB file without any table.

    Raises:
        LDEFileError: A DuckDB file that holds tables but is not an LDE.
    """
    try:
        (version,) = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    except duckdb.CatalogException:
        tables = {row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()}
        if not tables:
            return None
        raise LDEFileError(
            f"{path} is a DuckDB file but not an LDE (it has tables "
            f"{', '.join(sorted(tables)[:5])} and no schema_version); point to another file"
        ) from None
    if version is None:
        raise LDEFileError(f"LDE file {path} has an empty schema_version table; it is damaged")
    return int(version)


def _migrate(con: duckdb.DuckDBPyConnection, start: int | None) -> None:
    version = start
    if version is None:
        for statement in V1_DDL:
            con.execute(statement)
        version = 1
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [1, _utcnow()])
    while version < SCHEMA_VERSION:
        for statement in MIGRATIONS[version]:
            con.execute(statement)
        version += 1
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, _utcnow()])


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_schema(con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> int:
    """Check an open file's schema; create or migrate it (in one transaction) when writable.

    Returns:
        The version the file is at afterwards (always :data:`SCHEMA_VERSION`).

    Raises:
        LDEFileError: A newer version, a foreign DuckDB file, or an old file opened read-only.
    """
    version = read_version(con, path)
    if version == SCHEMA_VERSION:
        return version
    if version is not None and version > SCHEMA_VERSION:
        raise LDEFileError(
            f"LDE file {path} has schema version {version}, newer than this lde supports "
            f"({SCHEMA_VERSION}); upgrade tapaskit to open it"
        )
    if read_only:
        what = "is empty" if version is None else f"has schema version {version}"
        raise ReadOnlyStoreError(
            f"LDE file {path} {what} and needs to be {'initialised' if version is None else 'migrated'}"
            f" to version {SCHEMA_VERSION}; open it once without read_only"
        )
    con.execute("BEGIN TRANSACTION")
    try:
        _migrate(con, version)
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        if isinstance(exc, duckdb.Error) and version is not None:
            detail = str(exc).splitlines()[0]
            raise LDEFileError(
                f"migrating LDE file {path} from schema version {version} to {SCHEMA_VERSION} "
                f"failed ({detail}); the file was left at version {version}"
            ) from None
        raise
    return SCHEMA_VERSION
