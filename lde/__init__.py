"""lde: the lifelong database of experiments (LDE) of tapaskit.

A standalone storage layer: it knows nothing of torch, tapaskit or the probe nets, takes and returns
the plain frozen records of :mod:`lde.records`, and keeps them in a DuckDB file
(:class:`DuckDBStore`) or in memory (:class:`MemoryStore`). Both honour the contract written in
:mod:`lde.base`. :mod:`lde.io` moves experiments to and from the open Parquet/CSV format described
in ``lde/SCHEMA.md``.

Example:
    >>> from lde import DuckDBStore
    >>> store = DuckDBStore("lde.duckdb")                         # doctest: +SKIP
    >>> frame = store.query(dcn=0.4, tau=0.05, exclude_datasets=["cifar10"])  # doctest: +SKIP
"""

from __future__ import annotations

from lde.base import ExperimentStore
from lde.duckdb_store import DuckDBStore
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
from lde.io import ImportReport, export_experiments, import_experiments
from lde.lock import LOCK_TIMEOUT_ENV
from lde.memory_store import MemoryStore
from lde.query import DCN_TOLERANCE, ExperimentQuery
from lde.records import (
    ArchitectureRecord,
    DatasetRecord,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
)
from lde.schema import SCHEMA_VERSION
from lde.tables import FRAME_COLUMNS

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
    "ReadOnlyStoreError",
    "RecordNotFoundError",
    "SCHEMA_VERSION",
    "export_experiments",
    "import_experiments",
]
