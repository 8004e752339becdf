"""End-to-end jobs behind the CLI: each loads what it needs, runs, tracks and records.

``run_training`` is ``tapas train``: dataset + architecture → real training → MLflow run → LDE row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tapaskit.architecture import Architecture, parse_architecture
from tapaskit.datasets import Dataset, load_dataset
from tapaskit.experiments import open_lde, record_training
from tapaskit.tracking import Tracker
from tapaskit.trainer import Hyperparameters, TrainResult, resolve_device, train_architecture


def run_training(
    dataset: str | Dataset,
    arch: str | Architecture,
    hparams: Hyperparameters,
    *,
    seed: int = 0,
    device: str | None = None,
    lde_path: str | Path | None = None,
    record: bool = True,
    progress: Callable[[int, float, float], None] | None = None,
) -> tuple[TrainResult, str | None]:
    """Train one architecture on one dataset, log it to MLflow and append it to the LDE.

    Args:
        dataset: a dataset spec (name, variant or path) or a loaded dataset.
        arch: an architecture (JSON file/string, MetaQNN string) or a parsed one.
        hparams: the training schedule.
        seed: drives the split, initialisation and batch order.
        device: ``"cuda"``/``"cpu"``; None picks the best available.
        lde_path: LDE file; None is the user's default LDE.
        record: append the result to the LDE (source ``train``).
        progress: per-epoch callback (epoch, loss, val accuracy).

    Returns:
        The training result and the MLflow run id (None when tracking is off).
    """
    resolve_device(device)  # a wrong device fails before a run is opened
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    net = parse_architecture(arch) if isinstance(arch, str) else arch
    params = {"dataset": ds.name, "fingerprint": ds.fingerprint, "arch_hash": net.arch_hash,
              "arch": net.to_json(), "seed": seed, **hparams.to_dict()}
    with Tracker().run("train", f"train {ds.name}", params) as run:
        result = train_architecture(net, ds, hparams, seed=seed, device=device, progress=progress)
        run.log_metric_series("val_accuracy", list(result.curve))
        run.log_metric_series("train_loss", list(result.train_loss))
        run.log_metrics({"peak_accuracy": result.peak_accuracy, "final_accuracy": result.final_accuracy,
                         "seconds": result.seconds, "params": result.params, "flops": result.flops})
        run.set_tags({"status": result.status.value, "device": result.device})
    if record:
        store = open_lde(lde_path)
        record_training(store, ds, net, result, source="train", mlflow_run_id=run.run_id)
    return result, run.run_id
