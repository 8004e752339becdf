"""lde: the lifelong database of experiments (LDE) of tapaskit.

A standalone storage layer: it knows nothing of torch, tapaskit or the probe nets, takes and returns
the plain frozen records of :mod:`lde.records` (datasets, architectures, experiments and the
zero-cost proxies of an architecture on a dataset), and keeps them in a DuckDB file
(:class:`DuckDBStore`) or in memory (:class:`MemoryStore`). Both honour the contract written in
:mod:`lde.base`. :mod:`lde.io` moves experiments to and from the open Parquet/CSV format described
in ``lde/SCHEMA.md``.

Example:
    >>> from lde import DuckDBStore
    >>> store = DuckDBStore("lde.duckdb")                         # doctest: +SKIP
    >>> frame = store.query(dcn=0.4, tau=0.05, exclude_datasets=["cifar10"])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from lde.errors import (
    ImportFormatError,
    InvalidArgumentError,
    InvalidRecordError,
    LDEError,
    LDEFileError,
    LDELockedError,
    ReadOnlyStoreError,
    RecordNotFoundError,
)
from lde.query import DCN_TOLERANCE, ExperimentQuery
from lde.records import (
    PROXY_FIELDS,
    ArchitectureRecord,
    DatasetRecord,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
    ProxyRecord,
)

# The names that need duckdb, pandas or pyarrow load on first use, so that importing the errors
# and records (as every `tapas` command does) starts in milliseconds.
_LAZY = {
    "ExperimentStore": "lde.base",
    "DuckDBStore": "lde.duckdb_store",
    "MemoryStore": "lde.memory_store",
    **dict.fromkeys(("ImportReport", "export_experiments", "import_experiments"), "lde.io"),
    "LOCK_TIMEOUT_ENV": "lde.lock",
    "SCHEMA_VERSION": "lde.schema",
    "FRAME_COLUMNS": "lde.tables",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lde' has no attribute {name!r}")


__all__ = [
    "ArchitectureRecord",
    "DCN_TOLERANCE",
    "DatasetRecord",
    "DuckDBStore",
    "ExperimentQuery",
    "ExperimentRecord",
    "ExperimentSource",
    "ExperimentStatus",
    "ExperimentStore",
    "FRAME_COLUMNS",
    "ImportFormatError",
    "ImportReport",
    "InvalidArgumentError",
    "InvalidRecordError",
    "LDEError",
    "LDEFileError",
    "LDELockedError",
    "LOCK_TIMEOUT_ENV",
    "MemoryStore",
    "PROXY_FIELDS",
    "ProxyRecord",
    "ReadOnlyStoreError",
    "RecordNotFoundError",
    "SCHEMA_VERSION",
    "export_experiments",
    "import_experiments",
]
