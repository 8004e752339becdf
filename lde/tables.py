"""Records as Arrow tables, and the one joined *experiment frame* every reader sees.

The experiment frame is one row per experiment carrying its dataset's and its architecture's columns,
and the zero-cost proxies of its (architecture, dataset) pair (a left join: empty where the pair has
none).
:meth:`~lde.base.ExperimentStore.query` returns it, :mod:`lde.io` writes it to Parquet/CSV, and the
import reads it back, so its columns (:data:`FRAME_COLUMNS`) are the open format of the LDE,
documented in ``lde/SCHEMA.md``. Every store builds its frame through :func:`frame_to_pandas`, so
all implementations return the same columns with the same dtypes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from lde.records import PROXY_FIELDS, ArchitectureRecord, DatasetRecord, ExperimentRecord, ProxyRecord

__all__ = [
    "FRAME_COLUMNS",
    "FRAME_SCHEMA",
    "FrameColumn",
    "PROXY_COLUMNS",
    "architecture_from_mapping",
    "dataset_from_mapping",
    "experiment_from_mapping",
    "frame_table",
    "frame_to_pandas",
    "proxy_from_mapping",
    "proxies_table",
]

_INT = pa.int64()
_FLOAT = pa.float64()
_STR = pa.string()
_CURVE = pa.list_(pa.float64())
_TIME = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class FrameColumn:
    """One column of the experiment frame (and of the export format).

    Attributes:
        name: Column name in the frame and in files.
        type: Arrow type.
        table: The LDE table it comes from: ``datasets``, ``architectures``, ``experiments`` or
            ``proxies``.
        field: The record field (or the part of one) it holds.
        required: Whether an import file must have the column.
        doc: One line for ``SCHEMA.md``.
    """

    name: str
    type: pa.DataType
    table: str
    field: str
    required: bool
    doc: str


FRAME_COLUMNS: tuple[FrameColumn, ...] = (
    FrameColumn("experiment_id", _INT, "experiments", "experiment_id", False,
                "Store-assigned id (1, 2, ...); an import inserts rows in this order and the "
                "target assigns its own ids"),
    FrameColumn("dataset_fingerprint", _STR, "datasets", "fingerprint", True,
                "Content fingerprint of the dataset"),
    FrameColumn("dataset_name", _STR, "datasets", "name", True, "Dataset name (not unique)"),
    FrameColumn("dcn", _FLOAT, "datasets", "dcn", False, "Dataset characterisation number in [0, 1]"),
    FrameColumn("num_classes", _INT, "datasets", "num_classes", True, "Number of classes (>= 2)"),
    FrameColumn("in_channels", _INT, "datasets", "input_shape[0]", True, "Input channels C"),
    FrameColumn("in_height", _INT, "datasets", "input_shape[1]", True, "Input height H"),
    FrameColumn("in_width", _INT, "datasets", "input_shape[2]", True, "Input width W"),
    FrameColumn("num_samples", _INT, "datasets", "num_samples", True, "Number of samples (>= 1)"),
    FrameColumn("dcn_probe", _STR, "datasets", "dcn_probe", False, "Probe net the DCN came from"),
    FrameColumn("dcn_probe_version", _STR, "datasets", "dcn_probe_version", False,
                "Version of that probe net"),
    FrameColumn("dcn_seed", _INT, "datasets", "dcn_seed", False, "Seed of the characterisation"),
    FrameColumn("dcn_seconds", _FLOAT, "datasets", "dcn_seconds", False,
                "Wall time of the characterisation"),
    FrameColumn("dcn_probe_accuracy", _FLOAT, "datasets", "dcn_probe_accuracy", False,
                "Accuracy the probe reached, in [0, 1]"),
    FrameColumn("dataset_created_at", _TIME, "datasets", "created_at", False,
                "When the dataset entered the LDE (UTC; import time when absent)"),
    FrameColumn("arch_hash", _STR, "architectures", "arch_hash", True,
                "Hash of the canonical architecture JSON"),
    FrameColumn("arch_json", _STR, "architectures", "arch_json", True,
                "Canonical architecture JSON (made by tapaskit)"),
    FrameColumn("depth", _INT, "architectures", "depth", True, "Network depth (>= 0)"),
    FrameColumn("num_layers", _INT, "architectures", "num_layers", True,
                "Layers in the chain (>= 1)"),
    FrameColumn("status", _STR, "experiments", "status", True,
                "ok, failed, diverged or oom; empty on a row that only carries a dataset or an "
                "architecture no experiment uses"),
    FrameColumn("source", _STR, "experiments", "source", False,
                "seed, search, train, import or benchmark ('import' when absent)"),
    FrameColumn("peak_accuracy", _FLOAT, "experiments", "peak_accuracy", False,
                "Best validation accuracy in [0, 1]; required when status is ok"),
    FrameColumn("final_accuracy", _FLOAT, "experiments", "final_accuracy", False,
                "Last-epoch validation accuracy in [0, 1]; required when status is ok"),
    FrameColumn("test_accuracy", _FLOAT, "experiments", "test_accuracy", False,
                "Accuracy in [0, 1] on the test split no selection saw; empty when not evaluated"),
    FrameColumn("curve", _CURVE, "experiments", "curve", False,
                "Accuracy per epoch: a list in Parquet, a JSON array text in CSV"),
    FrameColumn("lr", _FLOAT, "experiments", "lr", False, "Learning rate (> 0)"),
    FrameColumn("epochs", _INT, "experiments", "epochs", False, "Epochs trained (>= 1)"),
    FrameColumn("batch_size", _INT, "experiments", "batch_size", False, "Batch size (>= 1)"),
    FrameColumn("optimizer", _STR, "experiments", "optimizer", False, "Optimizer name"),
    FrameColumn("weight_decay", _FLOAT, "experiments", "weight_decay", False,
                "Weight decay (>= 0)"),
    FrameColumn("extra_hparams", _STR, "experiments", "extra_hparams", False,
                "Other hyperparameters as a JSON object text ('{}' when absent)"),
    FrameColumn("params", _INT, "experiments", "params", False,
                "Trainable parameters for this dataset's input shape and classes"),
    FrameColumn("flops", _INT, "experiments", "flops", False, "FLOPs of one forward pass"),
    FrameColumn("seconds", _FLOAT, "experiments", "seconds", False, "Training wall time"),
    FrameColumn("device", _STR, "experiments", "device", False, "Device it ran on"),
    FrameColumn("seed", _INT, "experiments", "seed", False, "Training seed"),
    FrameColumn("mlflow_run_id", _STR, "experiments", "mlflow_run_id", False, "MLflow run id"),
    FrameColumn("key", _STR, "experiments", "key", False,
                "Idempotency key: a row whose key is already stored is skipped"),
    FrameColumn("created_at", _TIME, "experiments", "created_at", False,
                "When the experiment was recorded (UTC; import time when absent)"),
    FrameColumn("proxy_synflow", _FLOAT, "proxies", "synflow", False,
                "Zero-cost proxy synflow of the pair, log10(1 + synflow) (docs/proxies.md)"),
    FrameColumn("proxy_snip", _FLOAT, "proxies", "snip", False, "Zero-cost proxy snip, log10(snip)"),
    FrameColumn("proxy_grad_norm", _FLOAT, "proxies", "grad_norm", False,
                "Zero-cost proxy grad_norm, log10(grad_norm)"),
    FrameColumn("proxy_jacob_cov", _FLOAT, "proxies", "jacob_cov", False,
                "Zero-cost proxy jacob_cov, -log10(-jacob_cov)"),
    FrameColumn("proxy_naswot", _FLOAT, "proxies", "naswot", False,
                "Zero-cost proxy naswot, log det of the activation-code kernel"),
    FrameColumn("proxies_seed", _INT, "proxies", "seed", False,
                "Seed of the proxies' initialisation and minibatch"),
    FrameColumn("proxies_batch_size", _INT, "proxies", "batch_size", False,
                "Samples in the proxies' minibatch (>= 1)"),
    FrameColumn("proxies_seconds", _FLOAT, "proxies", "seconds", False,
                "Wall time of the proxies' computation"),
    FrameColumn("proxies_created_at", _TIME, "proxies", "created_at", False,
                "When the proxies were computed (UTC; import time when absent)"),
)

FRAME_SCHEMA: pa.Schema = pa.schema([pa.field(c.name, c.type) for c in FRAME_COLUMNS])

#: Columns of the experiment frame that come from each record type, in frame order.
DATASET_COLUMNS = tuple(c.name for c in FRAME_COLUMNS if c.table == "datasets")
ARCHITECTURE_COLUMNS = tuple(c.name for c in FRAME_COLUMNS if c.table == "architectures")
EXPERIMENT_COLUMNS = tuple(c.name for c in FRAME_COLUMNS if c.table == "experiments")
#: Columns of the frame from the ``proxies`` table: one per proxy (``proxy_<name>``), then how
#: they were computed (``proxies_<field>``). A row carries a proxy record when any of them is set.
PROXY_COLUMNS = tuple(c.name for c in FRAME_COLUMNS if c.table == "proxies")


def _types_mapper(arrow_type: pa.DataType) -> Any:
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()  # nullable ints stay ints instead of turning into floats
    if pa.types.is_list(arrow_type):
        return pd.ArrowDtype(arrow_type)  # curves stay Arrow lists: no per-row Python objects
    return None


def frame_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert an Arrow table with the frame's columns into the experiment frame.

    Dtypes: integers ``Int64`` (nullable), floats ``float64`` (NaN for null), strings pandas'
    ``str``, ``curve`` an Arrow list column (each cell reads back as a Python list), timestamps
    ``datetime64[us, UTC]``.
    """
    table = table.select(list(FRAME_SCHEMA.names)).cast(FRAME_SCHEMA)
    return table.to_pandas(types_mapper=_types_mapper)


def _dataset_values(d: DatasetRecord | None) -> tuple[Any, ...]:
    if d is None:
        return (None,) * len(DATASET_COLUMNS)
    c, h, w = d.input_shape
    return (d.fingerprint, d.name, d.dcn, d.num_classes, c, h, w, d.num_samples, d.dcn_probe,
            d.dcn_probe_version, d.dcn_seed, d.dcn_seconds, d.dcn_probe_accuracy, d.created_at)


def _architecture_values(a: ArchitectureRecord | None) -> tuple[Any, ...]:
    if a is None:
        return (None,) * len(ARCHITECTURE_COLUMNS)
    return (a.arch_hash, a.arch_json, a.depth, a.num_layers)


def _experiment_values(e: ExperimentRecord | None) -> tuple[Any, ...]:
    if e is None:
        return (None,) * (len(EXPERIMENT_COLUMNS) - 1)  # experiment_id comes first, on its own
    return (e.status.value, e.source.value, e.peak_accuracy, e.final_accuracy, e.test_accuracy, list(e.curve),
            e.lr, e.epochs, e.batch_size, e.optimizer, e.weight_decay, e.extra_hparams_json,
            e.params, e.flops, e.seconds, e.device, e.seed, e.mlflow_run_id, e.key, e.created_at)


def _proxy_values(p: ProxyRecord | None) -> tuple[Any, ...]:
    if p is None:
        return (None,) * len(PROXY_COLUMNS)
    return (*(getattr(p, name) for name in PROXY_FIELDS), p.seed, p.batch_size, p.seconds,
            p.created_at)


def frame_table(
    rows: Iterable[tuple[ExperimentRecord | None, DatasetRecord | None, ArchitectureRecord | None,
                         ProxyRecord | None]],
) -> pa.Table:
    """Build the frame's Arrow table from ``(experiment, dataset, architecture, proxies)`` rows.

    A ``None`` member leaves its columns null: ``(None, dataset, None, None)`` is a row that carries
    a dataset no experiment references (how exports keep such datasets), and
    ``(None, dataset, architecture, proxies)`` the proxies of a pair no experiment has.
    """
    names = FRAME_SCHEMA.names
    columns: list[list[Any]] = [[] for _ in names]
    for e, d, a, p in rows:
        values = ((e.experiment_id if e is not None else None,) + _dataset_values(d)
                  + _architecture_values(a) + _experiment_values(e) + _proxy_values(p))
        for column, value in zip(columns, values):
            column.append(value)
    return pa.table(
        [pa.array(col, type=FRAME_SCHEMA.field(i).type) for i, col in enumerate(columns)],
        schema=FRAME_SCHEMA,
    )


# ---------------------------------------------------------------------------------------------
# Arrow tables shaped like the LDE tables (what a store writes), and records back from mappings.
# ---------------------------------------------------------------------------------------------

DATASET_TABLE_COLUMNS = ("fingerprint", "name", "in_channels", "in_height", "in_width",
                         "num_classes", "num_samples", "dcn", "dcn_probe", "dcn_probe_version",
                         "dcn_seed", "dcn_seconds", "dcn_probe_accuracy", "created_at")
ARCHITECTURE_TABLE_COLUMNS = ("arch_hash", "arch_json", "depth", "num_layers")
EXPERIMENT_TABLE_COLUMNS = ("experiment_id", "arch_hash", "dataset_fingerprint", "status",
                            "source", "peak_accuracy", "final_accuracy", "test_accuracy", "curve", "lr", "epochs",
                            "batch_size", "optimizer", "weight_decay", "extra_hparams", "params",
                            "flops", "seconds", "device", "seed", "mlflow_run_id", "key",
                            "created_at")
PROXY_TABLE_COLUMNS = ("arch_hash", "dataset_fingerprint", *PROXY_FIELDS, "seed", "batch_size",
                       "seconds", "created_at")


def datasets_table(records: Sequence[DatasetRecord]) -> pa.Table:
    """Datasets as an Arrow table with the ``datasets`` table's columns."""
    return pa.table({
        "fingerprint": pa.array([d.fingerprint for d in records], _STR),
        "name": pa.array([d.name for d in records], _STR),
        "in_channels": pa.array([d.input_shape[0] for d in records], _INT),
        "in_height": pa.array([d.input_shape[1] for d in records], _INT),
        "in_width": pa.array([d.input_shape[2] for d in records], _INT),
        "num_classes": pa.array([d.num_classes for d in records], _INT),
        "num_samples": pa.array([d.num_samples for d in records], _INT),
        "dcn": pa.array([d.dcn for d in records], _FLOAT),
        "dcn_probe": pa.array([d.dcn_probe for d in records], _STR),
        "dcn_probe_version": pa.array([d.dcn_probe_version for d in records], _STR),
        "dcn_seed": pa.array([d.dcn_seed for d in records], _INT),
        "dcn_seconds": pa.array([d.dcn_seconds for d in records], _FLOAT),
        "dcn_probe_accuracy": pa.array([d.dcn_probe_accuracy for d in records], _FLOAT),
        "created_at": pa.array([d.created_at for d in records], _TIME),
    })


def architectures_table(records: Sequence[ArchitectureRecord]) -> pa.Table:
    """Architectures as an Arrow table with the ``architectures`` table's columns."""
    return pa.table({
        "arch_hash": pa.array([a.arch_hash for a in records], _STR),
        "arch_json": pa.array([a.arch_json for a in records], _STR),
        "depth": pa.array([a.depth for a in records], _INT),
        "num_layers": pa.array([a.num_layers for a in records], _INT),
    })


def experiments_table(records: Sequence[ExperimentRecord], ids: Sequence[int]) -> pa.Table:
    """Experiments as an Arrow table with the ``experiments`` table's columns and the given ids."""
    return pa.table({
        "experiment_id": pa.array(ids, _INT),
        "arch_hash": pa.array([e.arch_hash for e in records], _STR),
        "dataset_fingerprint": pa.array([e.dataset_fingerprint for e in records], _STR),
        "status": pa.array([e.status.value for e in records], _STR),
        "source": pa.array([e.source.value for e in records], _STR),
        "peak_accuracy": pa.array([e.peak_accuracy for e in records], _FLOAT),
        "final_accuracy": pa.array([e.final_accuracy for e in records], _FLOAT),
        "test_accuracy": pa.array([e.test_accuracy for e in records], _FLOAT),
        "curve": pa.array([e.curve for e in records], _CURVE),
        "lr": pa.array([e.lr for e in records], _FLOAT),
        "epochs": pa.array([e.epochs for e in records], _INT),
        "batch_size": pa.array([e.batch_size for e in records], _INT),
        "optimizer": pa.array([e.optimizer for e in records], _STR),
        "weight_decay": pa.array([e.weight_decay for e in records], _FLOAT),
        "extra_hparams": pa.array([e.extra_hparams_json for e in records], _STR),
        "params": pa.array([e.params for e in records], _INT),
        "flops": pa.array([e.flops for e in records], _INT),
        "seconds": pa.array([e.seconds for e in records], _FLOAT),
        "device": pa.array([e.device for e in records], _STR),
        "seed": pa.array([e.seed for e in records], _INT),
        "mlflow_run_id": pa.array([e.mlflow_run_id for e in records], _STR),
        "key": pa.array([e.key for e in records], _STR),
        "created_at": pa.array([e.created_at for e in records], _TIME),
    })


def proxies_table(records: Sequence[ProxyRecord]) -> pa.Table:
    """Proxy records as an Arrow table with the ``proxies`` table's columns."""
    return pa.table({
        "arch_hash": pa.array([p.arch_hash for p in records], _STR),
        "dataset_fingerprint": pa.array([p.dataset_fingerprint for p in records], _STR),
        **{name: pa.array([getattr(p, name) for p in records], _FLOAT) for name in PROXY_FIELDS},
        "seed": pa.array([p.seed for p in records], _INT),
        "batch_size": pa.array([p.batch_size for p in records], _INT),
        "seconds": pa.array([p.seconds for p in records], _FLOAT),
        "created_at": pa.array([p.created_at for p in records], _TIME),
    })


def proxy_from_mapping(m: Mapping[str, Any]) -> ProxyRecord:
    """A :class:`ProxyRecord` from a row with the ``proxies`` table's column names."""
    return ProxyRecord(**{name: m[name] for name in PROXY_TABLE_COLUMNS})


def dataset_from_mapping(m: Mapping[str, Any]) -> DatasetRecord:
    """A :class:`DatasetRecord` from a row with the ``datasets`` table's column names."""
    return DatasetRecord(
        fingerprint=m["fingerprint"], name=m["name"],
        input_shape=(m["in_channels"], m["in_height"], m["in_width"]),
        num_classes=m["num_classes"], num_samples=m["num_samples"], dcn=m["dcn"],
        dcn_probe=m["dcn_probe"], dcn_probe_version=m["dcn_probe_version"],
        dcn_seed=m["dcn_seed"], dcn_seconds=m["dcn_seconds"],
        dcn_probe_accuracy=m["dcn_probe_accuracy"], created_at=m["created_at"],
    )


def architecture_from_mapping(m: Mapping[str, Any]) -> ArchitectureRecord:
    """An :class:`ArchitectureRecord` from a row with the ``architectures`` table's column names."""
    return ArchitectureRecord(arch_hash=m["arch_hash"], arch_json=m["arch_json"],
                              depth=m["depth"], num_layers=m["num_layers"])


def experiment_from_mapping(m: Mapping[str, Any]) -> ExperimentRecord:
    """An :class:`ExperimentRecord` from a row with the ``experiments`` table's column names.

    ``extra_hparams`` may be JSON text (as stored) or a mapping.
    """
    extra = m["extra_hparams"]
    if isinstance(extra, str):
        extra = json.loads(extra)
    return ExperimentRecord(
        experiment_id=m["experiment_id"], arch_hash=m["arch_hash"],
        dataset_fingerprint=m["dataset_fingerprint"], status=m["status"], source=m["source"],
        peak_accuracy=m["peak_accuracy"], final_accuracy=m["final_accuracy"],
        test_accuracy=m.get("test_accuracy"),
        curve=m["curve"] if m["curve"] is not None else (), lr=m["lr"], epochs=m["epochs"],
        batch_size=m["batch_size"], optimizer=m["optimizer"], weight_decay=m["weight_decay"],
        extra_hparams=extra, params=m["params"], flops=m["flops"], seconds=m["seconds"],
        device=m["device"], seed=m["seed"], mlflow_run_id=m["mlflow_run_id"], key=m["key"],
        created_at=m["created_at"],
    )
