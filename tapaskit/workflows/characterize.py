"""``tapas characterize``: a dataset's DCN, computed by a probe net and cached in the LDE.

The DCN is stored on the dataset's LDE row together with how it was computed (probe name and
version, seed, seconds, probe accuracy). A later call for the same content (fingerprint), probe
version and seed returns the stored value without training (``cached=True``). Nothing is
written for a dataset that cannot be characterised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lde import ExperimentStore
from probenets import DEFAULT_PROBE, characterize, get_probe

from tapaskit.datasets import Dataset, load_dataset
from tapaskit.store import dataset_record, open_lde
from tapaskit.tracking import Tracker


@dataclass(frozen=True)
class Characterization:
    """The DCN of one dataset and where it came from."""

    dataset: str
    fingerprint: str
    dcn: float
    probe: str
    probe_version: str
    probe_accuracy: float | None
    num_classes: int
    num_samples: int
    seed: int
    seconds: float
    cached: bool
    mlflow_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cached_characterization(store: ExperimentStore, dataset: Dataset, probe: str, seed: int) -> Characterization | None:
    """The stored DCN of ``dataset`` if it was computed with this probe version and seed."""
    row = store.get_dataset(dataset.fingerprint)
    version = get_probe(probe).version
    if row is None or row.dcn is None:
        return None
    if (row.dcn_probe, row.dcn_probe_version, row.dcn_seed) != (probe, version, seed):
        return None
    return Characterization(
        dataset=dataset.name, fingerprint=dataset.fingerprint, dcn=row.dcn, probe=probe,
        probe_version=version, probe_accuracy=row.dcn_probe_accuracy, num_classes=dataset.num_classes,
        num_samples=dataset.num_samples, seed=seed, seconds=row.dcn_seconds or 0.0, cached=True,
    )


def characterize_dataset(
    dataset: str | Dataset,
    *,
    probe: str = DEFAULT_PROBE,
    seed: int = 0,
    use_cache: bool = True,
    lde: ExperimentStore | str | Path | None = None,
    track: bool = True,
    progress: Callable[[int, int, float], None] | None = None,
) -> Characterization:
    """Compute (or fetch) the DCN of a dataset and store it on its LDE row.

    Args:
        dataset: a dataset spec or a loaded dataset.
        probe: the probe net (see ``probenets.PROBES``).
        seed: the probe's seed.
        use_cache: return the stored DCN when one exists for this content, probe version and seed.
        lde: the LDE: an open store, a file, or None for the user's default LDE.
        track: log an MLflow run for a fresh characterisation.
        progress: per-epoch callback ``(epoch, epochs, val_accuracy)``.

    Returns:
        A :class:`Characterization`.
    """
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    spec = get_probe(probe)  # fail on an unknown probe before any work
    store = open_lde(lde)
    if use_cache:
        hit = cached_characterization(store, ds, probe, seed)
        if hit is not None:
            return hit
    rest = np.ones(ds.num_samples, dtype=bool)
    rest[ds.test_indices()] = False  # the test part is no selection's business, and the DCN selects experiments
    result = characterize(ds.x[rest], ds.y[rest], probe=probe, seed=seed, progress=progress)
    run_id = None
    if track:
        params = {"dataset": ds.name, "fingerprint": ds.fingerprint, "probe": probe,
                  "probe_version": spec.version, "seed": seed, "n_train": result.n_train,
                  "n_val": result.n_val, "epochs": result.epochs}
        with Tracker().run("characterize", f"characterize {ds.name}", params) as run:
            run.log_metrics({"dcn": result.dcn, "probe_accuracy": result.probe_accuracy,
                             "seconds": result.seconds})
            run.log_metric_series("probe_val_accuracy", list(result.val_accuracies))
        run_id = run.run_id
    store.add_dataset(dataset_record(ds))
    store.set_dcn(ds.fingerprint, dcn=result.dcn, probe=probe, probe_version=spec.version, seed=seed,
                  seconds=result.seconds, probe_accuracy=result.probe_accuracy)
    return Characterization(
        dataset=ds.name, fingerprint=ds.fingerprint, dcn=result.dcn, probe=probe,
        probe_version=spec.version, probe_accuracy=result.probe_accuracy,
        num_classes=ds.num_classes, num_samples=ds.num_samples, seed=seed,
        seconds=result.seconds, cached=False, mlflow_run_id=run_id,
    )
