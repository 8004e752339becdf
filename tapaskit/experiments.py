"""The bridge between tapaskit's objects and the LDE's plain records.

``lde`` knows nothing of datasets, architectures or torch; this module turns a
:class:`~tapaskit.datasets.Dataset`, an :class:`~tapaskit.architecture.Architecture` and a
:class:`~tapaskit.trainer.TrainResult` into the frozen records the store accepts, and opens the
user's LDE (filling a brand-new default file from the embedded default LDE shipped in
``lde/default/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lde import (
    ArchitectureRecord,
    DatasetRecord,
    DuckDBStore,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
)
from lde.default import embedded_default_path
from lde.io import import_experiments

from tapaskit import paths
from tapaskit.architecture import Architecture
from tapaskit.datasets import Dataset

if TYPE_CHECKING:  # type hints only: the trainer imports torch, which `tapas lde ...` never needs
    from tapaskit.trainer import TrainResult


def open_lde(path: str | Path | None = None, *, read_only: bool = False) -> DuckDBStore:
    """Open an LDE file; ``None`` means the user's default file in the data home.

    The first use of the default file fills it from the embedded default LDE, so a fresh install
    can predict and search at once. A path the user names is opened as it is (created empty when
    missing) and never filled or overwritten.
    """
    if path is not None:
        return DuckDBStore(Path(path), read_only=read_only)
    default = paths.default_lde_path()
    embedded = embedded_default_path()
    _remove_abandoned_fills(default)
    if not default.exists() and embedded is not None:
        _fill_default(default, embedded)
    return DuckDBStore(default, read_only=read_only and default.exists())


def _fill_default(default: Path, embedded: Path) -> None:
    """Create the default LDE filled from the embedded one, all at once or not at all.

    The import goes to a file of this process's own, linked into place only when complete: two
    first commands run side by side both see the whole default LDE (the later link finds the file
    there and drops its copy), and a first use killed during the import leaves no half-filled LDE
    behind, so the next one fills it again.
    """
    default.parent.mkdir(parents=True, exist_ok=True)
    partial = default.with_name(f".{default.name}.{os.getpid()}.filling")
    try:
        store = DuckDBStore(partial)
        import_experiments(store, embedded)
        store.close()
        try:
            os.link(partial, default)
        except FileExistsError:
            pass  # another process filled it first; its copy is the same
        except OSError:  # a file system without hard links: a plain rename, if still absent
            if not default.exists():
                os.replace(partial, default)
    finally:
        for leftover in (partial, partial.with_name(partial.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _remove_abandoned_fills(default: Path) -> None:
    """Delete the private files of fills whose process is gone (killed by SIGKILL or a power cut).

    A fill cleans up after itself on any exception; only a process that could run no code at all
    leaves its ``.<name>.<pid>.filling`` (and ``.wal``) behind. Files of live processes stay.
    """
    if os.name != "posix" or not default.parent.is_dir():
        return  # os.kill(pid, 0) is the liveness probe used here; on Windows it would kill
    for leftover in default.parent.glob(f".{default.name}.*.filling*"):
        pid = leftover.name[len(default.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists but belongs to another user
        return True
    return True


def dataset_record(dataset: Dataset) -> DatasetRecord:
    """The LDE row of a dataset (without DCN; see :mod:`tapaskit.characterization`)."""
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
        curve=tuple(result.curve), status=ExperimentStatus(result.status.value),
        source=ExperimentSource(source), lr=hp.lr, epochs=hp.epochs, batch_size=hp.batch_size,
        optimizer=hp.optimizer, weight_decay=hp.weight_decay,
        extra_hparams={"momentum": hp.momentum, "val_fraction": hp.val_fraction,
                       "max_train": hp.max_train, "message": result.message},
        params=result.params, flops=result.flops, seconds=result.seconds, device=result.device,
        seed=result.seed, mlflow_run_id=mlflow_run_id, key=key,
    )


def record_training(
    store: DuckDBStore,
    dataset: Dataset,
    arch: Architecture,
    result: TrainResult,
    *,
    source: str | ExperimentSource,
    key: str | None = None,
    mlflow_run_id: str | None = None,
) -> int:
    """Append one training run (with its dataset and architecture rows) in one atomic batch."""
    return store.add_experiments(
        [experiment_record(result, source=source, key=key, mlflow_run_id=mlflow_run_id)],
        architectures=[architecture_record(arch)], datasets=[dataset_record(dataset)],
    )
