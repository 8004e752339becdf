"""tapaskit's objects as the LDE's plain records.

``lde`` knows nothing of datasets, architectures or torch; this module turns a
:class:`~tapaskit.datasets.Dataset`, an :class:`~tapaskit.space.architecture.Architecture`, a
:class:`~tapaskit.training.trainer.TrainResult` and zero-cost
:class:`~tapaskit.training.zero_cost.ProxyScores` into the frozen records the store accepts, and
:func:`record_training` writes one training with its dataset, architecture and proxy rows at once. It
works with any :class:`lde.ExperimentStore` (the DuckDB file or the in-memory store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lde import (
    ArchitectureRecord,
    DatasetRecord,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
    ExperimentStore,
    ProxyRecord,
)

from tapaskit.errors import InvalidArchitectureError
from tapaskit.space.architecture import Architecture
from tapaskit.datasets import Dataset

if TYPE_CHECKING:  # type hints only: the trainer imports torch, which `tapas lde ...` never needs
    from tapaskit.training.trainer import TrainResult
    from tapaskit.training.zero_cost import ProxyScores


def check_architecture_record(record: ArchitectureRecord) -> None:
    """An imported architecture row must be a valid network whose hash is that of its JSON.

    Raises:
        InvalidArchitectureError: the JSON is not a network (malformed, nested without end, a
            rule broken), or ``arch_hash`` is not the hash of that network.
    """
    arch = Architecture.from_json(record.arch_json)
    if arch.arch_hash != record.arch_hash:
        raise InvalidArchitectureError(
            f"arch_hash {record.arch_hash} does not match its JSON, whose hash is {arch.arch_hash}")


def dataset_record(dataset: Dataset) -> DatasetRecord:
    """The LDE row of a dataset (without DCN; see :mod:`tapaskit.workflows.characterize`)."""
    return DatasetRecord(
        fingerprint=dataset.fingerprint, name=dataset.name, input_shape=tuple(dataset.input_shape),
        num_classes=dataset.num_classes, num_samples=dataset.num_samples,
    )


def architecture_record(arch: Architecture) -> ArchitectureRecord:
    """The LDE row of an architecture, keyed by its content hash."""
    return ArchitectureRecord(arch_hash=arch.arch_hash, arch_json=arch.to_json(), depth=arch.depth,
                              num_layers=len(arch))


def experiment_record(
    result: TrainResult,
    *,
    source: str | ExperimentSource,
    key: str | None = None,
    mlflow_run_id: str | None = None,
) -> ExperimentRecord:
    """The LDE row of one training run."""
    hp = result.hparams
    return ExperimentRecord(
        arch_hash=result.arch_hash, dataset_fingerprint=result.fingerprint,
        peak_accuracy=result.peak_accuracy, final_accuracy=result.final_accuracy,
        test_accuracy=result.test_accuracy, curve=tuple(result.curve), status=ExperimentStatus(result.status.value),
        source=ExperimentSource(source), lr=hp.lr, epochs=hp.epochs, batch_size=hp.batch_size,
        optimizer=hp.optimizer, weight_decay=hp.weight_decay,
        extra_hparams={"momentum": hp.momentum, "val_fraction": hp.val_fraction,
                       "max_train": hp.max_train, "message": result.message},
        params=result.params, flops=result.flops, seconds=result.seconds, device=result.device,
        seed=result.seed, mlflow_run_id=mlflow_run_id, key=key,
    )


def proxy_record(arch_hash: str, dataset_fingerprint: str, scores: ProxyScores) -> ProxyRecord:
    """The LDE row of the zero-cost proxies of one (architecture, dataset) pair."""
    return ProxyRecord(arch_hash=arch_hash, dataset_fingerprint=dataset_fingerprint, **scores.values(),
                       seed=scores.seed, batch_size=scores.batch_size, seconds=scores.seconds)


def training_proxies(result: TrainResult) -> list[ProxyRecord]:
    """The proxy rows a training carries: one record, or none when its proxies were not computed."""
    if result.proxies is None:
        return []
    return [proxy_record(result.arch_hash, result.fingerprint, result.proxies)]


def record_training(
    store: ExperimentStore,
    dataset: Dataset,
    arch: Architecture,
    result: TrainResult,
    *,
    source: str | ExperimentSource,
    key: str | None = None,
    mlflow_run_id: str | None = None,
) -> int:
    """Append one training run (with its dataset, architecture and proxy rows) in one atomic batch.

    The proxies the training computed are kept unless the pair has proxies already (the first wins).
    """
    return store.add_experiments(
        [experiment_record(result, source=source, key=key, mlflow_run_id=mlflow_run_id)],
        architectures=[architecture_record(arch)], datasets=[dataset_record(dataset)],
        proxies=training_proxies(result),
    )
