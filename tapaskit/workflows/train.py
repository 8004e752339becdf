"""``tapas train``: one architecture trained for real on one dataset, tracked and recorded.

:func:`run_training`: dataset + architecture → real training → MLflow run → LDE row (source
``train``). The LDE is opened before the training, so a bad ``--lde`` fails before any work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lde import ExperimentStore

from tapaskit.datasets import Dataset, load_dataset
from tapaskit.space.architecture import Architecture
from tapaskit.space.formats import parse_architecture_for
from tapaskit.store import open_lde, record_training
from tapaskit.tracking import Tracker
from tapaskit.training import Executor, Hyperparameters, LocalExecutor, TrainingEvents, TrainingJob, TrainResult
from tapaskit.training.devices import resolve_device
from tapaskit.training.trainer import check_fits_memory


def run_training(
    dataset: str | Dataset,
    arch: str | Architecture,
    hparams: Hyperparameters,
    *,
    seed: int = 0,
    device: str | None = None,
    lde: ExperimentStore | str | Path | None = None,
    record: bool = True,
    progress: Callable[[int, float, float], None] | None = None,
    executor: Executor | None = None,
) -> tuple[TrainResult, str | None]:
    """Train one architecture on one dataset, log it to MLflow and append it to the LDE.

    Args:
        dataset: a dataset spec (name, variant or path) or a loaded dataset.
        arch: an architecture (JSON file/string, MetaQNN string) or a parsed one.
        hparams: the training schedule.
        seed: drives the split, initialisation and batch order.
        device: ``"cuda"``/``"cpu"``; None picks the best available.
        lde: the LDE: an open store, a file, or None for the user's default LDE.
        record: append the result to the LDE (source ``train``).
        progress: per-epoch callback (epoch, loss, val accuracy).
        executor: where the training runs; None trains in this process.

    Returns:
        The training result and the MLflow run id (None when tracking is off).
    """
    resolve_device(device)  # a wrong device fails before a run is opened
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    net = parse_architecture_for(arch, ds.num_classes) if isinstance(arch, str) else arch
    check_fits_memory(net, ds, hparams, device)  # invalid for this data, or too large: fails before any work
    store = open_lde(lde) if record else None  # a bad LDE fails before the training, not after it
    params = {"dataset": ds.name, "fingerprint": ds.fingerprint, "arch_hash": net.arch_hash,
              "arch": net.to_json(), "seed": seed, **hparams.to_dict()}
    with Tracker().run("train", f"train {ds.name}", params) as run:
        job = TrainingJob(key=net.arch_hash, arch=net, dataset=ds, hparams=hparams, seed=seed, device=device)
        events = TrainingEvents(epoch=(lambda _job, e, loss, acc: progress(e, loss, acc)) if progress else None)
        runner = executor or LocalExecutor(workers=1, device=device)
        try:
            ((_, result),) = list(runner.run([job], events))
        finally:
            if executor is None:
                runner.close()
        run.log_metric_series("val_accuracy", list(result.curve))
        run.log_metric_series("train_loss", list(result.train_loss))
        run.log_metrics({"peak_accuracy": result.peak_accuracy, "final_accuracy": result.final_accuracy,
                         "seconds": result.seconds, "params": result.params, "flops": result.flops})
        run.set_tags({"status": result.status.value, "device": result.device})
    if store is not None:
        record_training(store, ds, net, result, source="train", mlflow_run_id=run.run_id)
    return result, run.run_id
