"""An experiment store in memory: no file, no DuckDB, same contract.

Meant for tests of the rest of tapaskit (fit a predictor on a handful of experiments without
touching the disk) and as the reference the DuckDB store is checked against: both run the same
contract suite.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable

import pandas as pd

from lde.base import ExperimentStore, PreparedBatch, check_experiment_id, check_experiment_ids, check_keys
from lde.errors import RecordNotFoundError
from lde.query import ExperimentQuery
from lde.records import ArchitectureRecord, DatasetRecord, ExperimentRecord, ProxyRecord
from lde.tables import frame_table, frame_to_pandas

__all__ = ["MemoryStore"]


class MemoryStore(ExperimentStore):
    """Experiment store held in process memory; thread-safe, lost when the object goes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._datasets: dict[str, DatasetRecord] = {}
        self._architectures: dict[str, ArchitectureRecord] = {}
        # By id; a dict keeps insertion order, which is id order, and survives deletions.
        self._experiments: dict[int, ExperimentRecord] = {}
        self._last_id = 0  # the highest id ever assigned: deleted ids are never handed out again
        self._keys: set[str] = set()
        self._proxies: dict[tuple[str, str], ProxyRecord] = {}  # by (arch_hash, dataset_fingerprint)

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._experiments)} experiments)"

    def add_batch(
        self,
        experiments: Iterable[ExperimentRecord],
        *,
        architectures: Iterable[ArchitectureRecord] = (),
        datasets: Iterable[DatasetRecord] = (),
        proxies: Iterable[ProxyRecord] = (),
    ) -> list[int | None]:
        batch = self.prepare_batch(experiments, architectures, datasets, proxies)
        with self._lock:
            self._check_references(batch)  # everything before the first write: all or nothing
            for d in batch.datasets:
                self._datasets.setdefault(d.fingerprint, d)
            for a in batch.architectures:
                self._architectures.setdefault(a.arch_hash, a)
            for p in batch.proxies:
                self._proxies.setdefault(p.pair, p)
            ids: list[int | None] = []
            for e in batch.experiments:
                if e.key is not None and e.key in self._keys:
                    ids.append(None)
                    continue
                self._last_id += 1
                new_id = self._last_id
                self._experiments[new_id] = dataclasses.replace(e, experiment_id=new_id)
                if e.key is not None:
                    self._keys.add(e.key)
                ids.append(new_id)
            return ids

    def _check_references(self, batch: PreparedBatch) -> None:
        unknown = batch.missing_datasets - self._datasets.keys()
        if unknown:
            raise batch.unresolved_error("dataset", unknown)
        unknown = batch.missing_architectures - self._architectures.keys()
        if unknown:
            raise batch.unresolved_error("architecture", unknown)

    def add_proxies(self, records: Iterable[ProxyRecord], *, replace: bool = False) -> int:
        batch = self.prepare_batch((), proxies=records)
        with self._lock:
            self._check_references(batch)
            written = 0
            for p in batch.proxies:
                if replace or p.pair not in self._proxies:
                    self._proxies[p.pair] = p
                    written += 1
            return written

    def proxies(self, dataset_fingerprint: str | None = None) -> list[ProxyRecord]:
        with self._lock:
            found = [p for p in self._proxies.values()
                     if dataset_fingerprint is None or p.dataset_fingerprint == dataset_fingerprint]
        return sorted(found, key=lambda p: (p.dataset_fingerprint, p.arch_hash))

    def missing_proxies(self, status: Iterable[str] | str | None = ("ok",)) -> list[tuple[str, str]]:
        statuses = ExperimentQuery.build(status=status).statuses
        with self._lock:
            pairs = {(e.arch_hash, e.dataset_fingerprint) for e in self._experiments.values()
                     if statuses is None or e.status.value in statuses} - self._proxies.keys()
        return sorted(pairs, key=lambda pair: (pair[1], pair[0]))

    def set_dcn(
        self,
        fingerprint: str,
        dcn: float | None,
        probe: str | None = None,
        probe_version: str | None = None,
        seed: int | None = None,
        seconds: float | None = None,
        probe_accuracy: float | None = None,
    ) -> DatasetRecord:
        with self._lock:
            stored = self._datasets.get(fingerprint)
            if stored is None:
                raise RecordNotFoundError(f"no dataset with fingerprint {fingerprint!r} in the LDE")
            updated = dataclasses.replace(
                stored, dcn=dcn, dcn_probe=probe, dcn_probe_version=probe_version,
                dcn_seed=seed, dcn_seconds=seconds, dcn_probe_accuracy=probe_accuracy,
            )
            self._datasets[fingerprint] = updated
            return updated

    def datasets(self) -> list[DatasetRecord]:
        with self._lock:
            return sorted(self._datasets.values(), key=lambda d: (d.name, d.fingerprint))

    def architectures(self) -> list[ArchitectureRecord]:
        with self._lock:
            return sorted(self._architectures.values(), key=lambda a: a.arch_hash)

    def get_dataset(self, fingerprint: str) -> DatasetRecord | None:
        with self._lock:
            return self._datasets.get(fingerprint)

    def get_architecture(self, arch_hash: str) -> ArchitectureRecord | None:
        with self._lock:
            return self._architectures.get(arch_hash)

    def get_experiment(self, experiment_id: int) -> ExperimentRecord | None:
        experiment_id = check_experiment_id(experiment_id)
        with self._lock:
            return self._experiments.get(experiment_id)

    def has_keys(self, keys: Iterable[str]) -> set[str]:
        keys = check_keys(keys)
        with self._lock:
            return keys & self._keys

    def delete_experiments(self, experiment_ids: Iterable[int]) -> int:
        ids = check_experiment_ids(experiment_ids)
        with self._lock:
            deleted = [self._experiments.pop(i) for i in ids if i in self._experiments]
            self._keys.difference_update(e.key for e in deleted if e.key is not None)
            return len(deleted)

    def select(self, query: ExperimentQuery) -> pd.DataFrame:
        with self._lock:
            datasets = {f: d for f, d in self._datasets.items() if query.matches_dataset(d)}
            rows = [
                (e, datasets[e.dataset_fingerprint], self._architectures[e.arch_hash],
                 self._proxies.get((e.arch_hash, e.dataset_fingerprint)))
                for e in self._experiments.values()
                if e.dataset_fingerprint in datasets and query.matches_experiment(e)
            ]
        return frame_to_pandas(frame_table(rows))
