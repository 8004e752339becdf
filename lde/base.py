"""The experiment-store interface and its contract.

:class:`ExperimentStore` is the whole surface the rest of tapaskit sees of the LDE. Implementations
provide a handful of abstract methods; the conveniences (``add_dataset``, ``add_experiment``,
``query``, ``stats``...) are written once here on top of them.

Contract (every implementation honours it; ``tests/test_lde_contract.py`` checks it against each):

* **Records in, records out.** Methods take and return the frozen records of :mod:`lde.records`
  and pandas frames with the columns of :data:`lde.tables.FRAME_COLUMNS`. Returned records are
  immutable and never change afterwards, whatever the store does next; returned frames are fresh
  copies owned by the caller.
* **Idempotence.** A dataset is identified by its fingerprint and an architecture by its hash:
  adding one that is already stored does nothing and the stored record wins (change a DCN with
  :meth:`set_dcn`). An experiment whose ``key`` is already stored (or appears earlier in the same
  batch) is skipped. Experiments without a key are always appended. Zero-cost proxies are
  identified by their (architecture, dataset) pair, one record per pair: the first one stored wins
  (the values are a deterministic function of the pair and the proxy seed, so a later computation
  brings nothing new), unless :meth:`add_proxies` is asked to ``replace``.
* **Atomicity.** :meth:`add_batch` (and so every ``add_*``) writes all of its records or none: a
  batch with an experiment (or a proxy record) that references a dataset or architecture that is
  neither stored nor in the batch raises :class:`~lde.errors.InvalidRecordError` and leaves the
  store unchanged. A training's proxies travel in the same batch as its experiment.
  Records are validated when they are built, so a batch can only hold valid records.
* **Ids.** The store assigns ``experiment_id`` = 1, 2, 3... in insertion order (the id a record
  carries on input is ignored); ids are never reused, not even those of deleted experiments.
* **Deletion.** :meth:`delete_experiments` removes experiments by id, all or none; their keys are
  free again (the experiment may be added anew), while their datasets and architectures stay.
* **Thread safety.** One store object may be shared by threads: each method is atomic and runs
  alone. Stores that live in a file also serialise across processes; a process that cannot get the
  file within the lock timeout gets :class:`~lde.errors.LDELockedError`, never a partial write.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lde.errors import InvalidArgumentError, InvalidRecordError
from lde.query import ExperimentQuery
from lde.records import (
    ArchitectureRecord,
    DatasetRecord,
    ExperimentRecord,
    ExperimentSource,
    ExperimentStatus,
    ProxyRecord,
)

__all__ = ["ExperimentStore", "PreparedBatch", "check_experiment_id", "check_experiment_ids",
           "check_keys"]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch checked for types and deduplicated within itself (see :meth:`prepare_batch`).

    Attributes:
        experiments: The experiments, in input order.
        datasets: Distinct datasets of the batch (first of each fingerprint wins).
        architectures: Distinct architectures of the batch (first of each hash wins).
        missing_datasets: Fingerprints the experiments and proxies reference but the batch does
            not carry; the store must hold them.
        missing_architectures: Same for architecture hashes.
        proxies: Distinct proxy records of the batch (first of each pair wins).
    """

    experiments: tuple[ExperimentRecord, ...]
    datasets: tuple[DatasetRecord, ...]
    architectures: tuple[ArchitectureRecord, ...]
    missing_datasets: frozenset[str]
    missing_architectures: frozenset[str]
    proxies: tuple[ProxyRecord, ...] = ()

    def unresolved_error(self, kind: str, missing: Iterable[str]) -> InvalidRecordError:
        """The error for references to ``kind`` ('dataset' or 'architecture') found nowhere."""
        missing = set(missing)
        attr = "dataset_fingerprint" if kind == "dataset" else "arch_hash"
        name, index, ref = next(
            (name, i, getattr(r, attr))
            for name, records in (("experiments", self.experiments), ("proxies", self.proxies))
            for i, r in enumerate(records) if getattr(r, attr) in missing)
        where = "datasets=" if kind == "dataset" else "architectures="
        more = f" ({len(missing)} unknown {kind} references in all)" if len(missing) > 1 else ""
        return InvalidRecordError(
            f"{name}[{index}] references {kind} {ref!r}, which is neither in the store nor "
            f"in this batch; add it first or pass it in {where}{more}; nothing was written"
        )


def _check_items(name: str, items: Iterable[Any], cls: type) -> tuple[Any, ...]:
    if isinstance(items, cls):
        raise InvalidRecordError(f"{name} must be a sequence of {cls.__name__}, but got a single one")
    items = tuple(items)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise InvalidRecordError(
                f"{name}[{i}] must be a {cls.__name__}, but got {type(item).__name__}"
            )
    return items


class ExperimentStore(abc.ABC):
    """Abstract lifelong database of experiments. Read the module docstring for the contract."""

    # -- abstract methods: what an implementation provides ---------------------------------------

    @abc.abstractmethod
    def add_batch(
        self,
        experiments: Iterable[ExperimentRecord],
        *,
        architectures: Iterable[ArchitectureRecord] = (),
        datasets: Iterable[DatasetRecord] = (),
        proxies: Iterable[ProxyRecord] = (),
    ) -> list[int | None]:
        """Atomically add datasets, architectures, experiments and zero-cost proxies.

        Args:
            experiments: Experiments to add; each must reference a dataset and an architecture that
                are stored or passed alongside.
            architectures: Architectures to add (ignored when already stored).
            datasets: Datasets to add (ignored when already stored).
            proxies: Proxy records to add (same reference rule; ignored when their pair already
                has proxies).

        Returns:
            One entry per experiment: the id assigned, or ``None`` when it was skipped because its
            key was already stored or came earlier in the batch.

        Raises:
            InvalidRecordError: A wrong record type or an unresolved reference; nothing is written.
        """

    @abc.abstractmethod
    def add_proxies(self, records: Iterable[ProxyRecord], *, replace: bool = False) -> int:
        """Atomically add zero-cost proxy records, one per (architecture, dataset) pair.

        Args:
            records: The records; each pair's dataset and architecture must be stored. Within
                ``records`` the first record of a pair wins.
            replace: Overwrite the stored record of a pair; by default a pair that has proxies
                keeps them (the first stored wins).

        Returns:
            How many records were written (new pairs, plus replaced ones when ``replace``).

        Raises:
            InvalidRecordError: A wrong record type or an unknown dataset or architecture;
                nothing is written.
        """

    @abc.abstractmethod
    def proxies(self, dataset_fingerprint: str | None = None) -> list[ProxyRecord]:
        """The stored proxy records (of one dataset, when given), sorted by dataset then hash."""

    @abc.abstractmethod
    def missing_proxies(self, status: Iterable[str] | str | None = ("ok",)) -> list[tuple[str, str]]:
        """The ``(arch_hash, dataset_fingerprint)`` pairs that have experiments but no proxies.

        What a backfill computes. Sorted by dataset fingerprint, then architecture hash.

        Args:
            status: Only pairs with an experiment of these statuses; ``None`` for any.

        Raises:
            InvalidArgumentError: An unknown status.
        """

    @abc.abstractmethod
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
        """Set (or clear, with ``dcn=None``) a dataset's DCN and how it was computed.

        Returns:
            The updated dataset record.

        Raises:
            RecordNotFoundError: No dataset has this fingerprint.
            InvalidRecordError: A value breaks a rule of :class:`DatasetRecord`.
        """

    @abc.abstractmethod
    def datasets(self) -> list[DatasetRecord]:
        """All datasets, sorted by name then fingerprint."""

    @abc.abstractmethod
    def architectures(self) -> list[ArchitectureRecord]:
        """All architectures, sorted by hash."""

    @abc.abstractmethod
    def get_architecture(self, arch_hash: str) -> ArchitectureRecord | None:
        """The architecture with this hash, or ``None``."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: int) -> ExperimentRecord | None:
        """The experiment with this id, or ``None``."""

    @abc.abstractmethod
    def has_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already stored (what a resumed campaign can skip)."""

    @abc.abstractmethod
    def select(self, query: ExperimentQuery) -> pd.DataFrame:
        """The experiment frame of the experiments matching a checked query, ordered by id."""

    @abc.abstractmethod
    def delete_experiments(self, experiment_ids: Iterable[int]) -> int:
        """Atomically delete the experiments with these ids (e.g. bad rows of an import).

        Ids that are not stored are ignored. Their datasets and architectures stay, even when no
        experiment references them any more; their keys are free again; their ids are never
        assigned again.

        Args:
            experiment_ids: Ids of the experiments to delete.

        Returns:
            How many experiments were deleted.

        Raises:
            InvalidArgumentError: A single id instead of an iterable, or an id that is not an
                integer; nothing is deleted.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Stores that open a connection per operation hold none."""

    # -- conveniences, written once ------------------------------------------------------------

    def __enter__(self) -> ExperimentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def prepare_batch(
        experiments: Iterable[ExperimentRecord],
        architectures: Iterable[ArchitectureRecord] = (),
        datasets: Iterable[DatasetRecord] = (),
        proxies: Iterable[ProxyRecord] = (),
    ) -> PreparedBatch:
        """Check types and deduplicate a batch; implementations call it first in :meth:`add_batch`.

        Raises:
            InvalidRecordError: An item of the wrong type.
        """
        experiments = _check_items("experiments", experiments, ExperimentRecord)
        architectures = _check_items("architectures", architectures, ArchitectureRecord)
        datasets = _check_items("datasets", datasets, DatasetRecord)
        proxies = _check_items("proxies", proxies, ProxyRecord)
        ds = {d.fingerprint: d for d in reversed(datasets)}  # reversed: the first one wins
        archs = {a.arch_hash: a for a in reversed(architectures)}
        pairs = {p.pair: p for p in reversed(proxies)}
        refs = (*experiments, *proxies)
        return PreparedBatch(
            experiments=experiments,
            datasets=tuple(ds[f] for f in dict.fromkeys(d.fingerprint for d in datasets)),
            architectures=tuple(archs[h] for h in dict.fromkeys(a.arch_hash for a in architectures)),
            missing_datasets=frozenset(r.dataset_fingerprint for r in refs) - ds.keys(),
            missing_architectures=frozenset(r.arch_hash for r in refs) - archs.keys(),
            proxies=tuple(pairs[k] for k in dict.fromkeys(p.pair for p in proxies)),
        )

    def add_dataset(self, record: DatasetRecord) -> DatasetRecord:
        """Add a dataset unless its fingerprint is stored; return the stored record."""
        self.add_batch((), datasets=(record,))
        stored = self.get_dataset(record.fingerprint)
        assert stored is not None  # just written (datasets are never deleted)
        return stored

    def add_architectures(self, records: Iterable[ArchitectureRecord]) -> None:
        """Add architectures, skipping hashes already stored."""
        self.add_batch((), architectures=records)

    def add_experiment(
        self,
        record: ExperimentRecord,
        *,
        architecture: ArchitectureRecord | None = None,
        dataset: DatasetRecord | None = None,
        proxies: ProxyRecord | None = None,
    ) -> int | None:
        """Add one experiment (optionally with its architecture, dataset and proxies).

        Returns:
            Its id, or ``None`` when its key was already stored.
        """
        return self.add_batch(
            (record,),
            architectures=() if architecture is None else (architecture,),
            datasets=() if dataset is None else (dataset,),
            proxies=() if proxies is None else (proxies,),
        )[0]

    def add_experiments(
        self,
        records: Iterable[ExperimentRecord],
        architectures: Iterable[ArchitectureRecord] = (),
        datasets: Iterable[DatasetRecord] = (),
        proxies: Iterable[ProxyRecord] = (),
    ) -> int:
        """Atomically add experiments with the architectures, datasets and proxies they need.

        Returns:
            How many experiments were inserted (those with a known key are skipped).
        """
        ids = self.add_batch(records, architectures=architectures, datasets=datasets, proxies=proxies)
        return sum(i is not None for i in ids)

    def get_dataset(self, fingerprint: str) -> DatasetRecord | None:
        """The dataset with this fingerprint, or ``None``."""
        return next((d for d in self.datasets() if d.fingerprint == fingerprint), None)

    def get_proxies(self, arch_hash: str, dataset_fingerprint: str) -> ProxyRecord | None:
        """The proxies of one (architecture, dataset) pair, or ``None``."""
        return next((p for p in self.proxies(dataset_fingerprint) if p.arch_hash == arch_hash), None)

    def find_datasets(self, name: str | None = None) -> list[DatasetRecord]:
        """Datasets with this name (all datasets when ``name`` is ``None``)."""
        return [d for d in self.datasets() if name is None or d.name == name]

    def query(
        self,
        dcn: float | None = None,
        tau: float | None = None,
        *,
        exclude_datasets: Iterable[str] | str = (),
        datasets: Iterable[str] | str | None = None,
        status: Iterable[str] | str | None = ("ok",),
        source: Iterable[str] | str | None = None,
    ) -> pd.DataFrame:
        """Experiments joined with their dataset and architecture, as the experiment frame.

        Args:
            dcn: Centre of the DCN window; give it with ``tau`` or not at all.
            tau: Half-width of the window: datasets with ``dcn - tau <= DCN <= dcn + tau`` (inclusive,
                up to :data:`~lde.query.DCN_TOLERANCE`) match; datasets without a DCN never do.
            exclude_datasets: Names or fingerprints of datasets to leave out (e.g. the target).
            datasets: Names or fingerprints to keep; ``None`` keeps all.
            status: Statuses to keep; ``None`` keeps all. Default: only ``ok`` runs.
            source: Sources to keep; ``None`` keeps all.

        Returns:
            One row per experiment, ordered by ``experiment_id``, with the columns of
            :data:`lde.tables.FRAME_COLUMNS` (``dataset_name``, ``dataset_fingerprint``, ``dcn``,
            ``num_classes``, ``in_channels``/``in_height``/``in_width``, ``num_samples``,
            ``arch_json``, ``depth``, ``num_layers``, the experiment's columns...).

        Raises:
            InvalidArgumentError: Inconsistent arguments (see :meth:`ExperimentQuery.build`).
        """
        return self.select(ExperimentQuery.build(
            dcn, tau, exclude_datasets=exclude_datasets, datasets=datasets, status=status,
            source=source,
        ))

    def experiments_frame(self) -> pd.DataFrame:
        """Every experiment, whatever its status or source, as the experiment frame."""
        return self.select(ExperimentQuery(statuses=None))

    def stats(self) -> dict[str, Any]:
        """A summary of the store.

        Returns:
            ``datasets``, ``experiments``, ``ok_experiments``, ``architectures`` (counts),
            ``dcn_min``/``dcn_max`` (over datasets with a DCN; ``None`` when none has one),
            ``by_status`` and ``by_source`` (count per value, zeros included), ``proxies`` (proxy
            records stored), ``ok_with_proxies`` (ok experiments whose pair has proxies),
            ``proxy_coverage`` (``ok_with_proxies / ok_experiments``; ``None`` without ok
            experiments) and ``per_dataset``: one dict per dataset (sorted by name, fingerprint)
            with ``name``, ``fingerprint``, ``dcn``, ``input_shape`` (``[C, H, W]``),
            ``experiments``, ``ok_experiments``, ``ok_with_proxies``, ``epochs`` (the distinct
            epoch counts of its experiments, ascending), ``peak_accuracy_mean`` and
            ``peak_accuracy_std`` (sample std over ok runs; ``None`` below 1 resp. 2 runs).
        """
        frame = self.experiments_frame()
        datasets = self.datasets()
        status = frame["status"].astype(object)
        ok = frame[status == ExperimentStatus.OK.value]
        total = frame.groupby("dataset_fingerprint").size()
        peak = ok.groupby("dataset_fingerprint")["peak_accuracy"]
        n_ok, mean, std = peak.size(), peak.mean(), peak.std()
        with_proxies = ok[ok["proxies_created_at"].notna()].groupby("dataset_fingerprint").size()
        epochs = {fp: sorted(int(e) for e in group.dropna().unique())
                  for fp, group in frame.groupby("dataset_fingerprint")["epochs"]}
        dcns = [d.dcn for d in datasets if d.dcn is not None]
        per_dataset = [
            {
                "name": d.name,
                "fingerprint": d.fingerprint,
                "dcn": d.dcn,
                "input_shape": list(d.input_shape),
                "experiments": int(total.get(d.fingerprint, 0)),
                "ok_experiments": int(n_ok.get(d.fingerprint, 0)),
                "ok_with_proxies": int(with_proxies.get(d.fingerprint, 0)),
                "epochs": epochs.get(d.fingerprint, []),
                "peak_accuracy_mean": _number(mean.get(d.fingerprint)),
                "peak_accuracy_std": _number(std.get(d.fingerprint)),
            }
            for d in datasets
        ]
        ok_with_proxies = int(with_proxies.sum())
        return {
            "datasets": len(datasets),
            "experiments": len(frame),
            "ok_experiments": len(ok),
            "architectures": len(self.architectures()),
            "dcn_min": min(dcns) if dcns else None,
            "dcn_max": max(dcns) if dcns else None,
            "by_status": _counts(status, ExperimentStatus),
            "by_source": _counts(frame["source"].astype(object), ExperimentSource),
            "proxies": len(self.proxies()),
            "ok_with_proxies": ok_with_proxies,
            "proxy_coverage": ok_with_proxies / len(ok) if len(ok) else None,
            "per_dataset": per_dataset,
        }


def check_experiment_id(experiment_id: Any) -> int:
    """``experiment_id`` as an ``int``.

    Raises:
        InvalidArgumentError: Not an integer.
    """
    if isinstance(experiment_id, bool) or not isinstance(experiment_id, numbers.Integral):
        raise InvalidArgumentError(f"experiment_id must be an integer, but got {experiment_id!r}")
    return int(experiment_id)


def check_experiment_ids(experiment_ids: Any) -> set[int]:
    """``experiment_ids`` as a set of ``int``.

    Raises:
        InvalidArgumentError: A single id (a common slip) or an id that is not an integer.
    """
    if isinstance(experiment_ids, (str, bytes)) or not isinstance(experiment_ids, Iterable):
        raise InvalidArgumentError(
            f"experiment_ids must be an iterable of integers, but got {experiment_ids!r}")
    return {check_experiment_id(i) for i in experiment_ids}


def check_keys(keys: Any) -> set[str]:
    """``keys`` as a set of strings.

    Raises:
        InvalidArgumentError: A single string (a common slip) or a non-string key.
    """
    if isinstance(keys, str):
        raise InvalidArgumentError(
            f"keys must be an iterable of strings, but got the single string {keys!r}")
    out = set(keys)
    bad = next((k for k in out if not isinstance(k, str)), None)
    if bad is not None:
        raise InvalidArgumentError(f"keys must be strings, but got {bad!r}")
    return out


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _counts(values: pd.Series, enum: type[ExperimentStatus] | type[ExperimentSource]) -> dict[str, int]:
    found = values.value_counts()
    return {m.value: int(found.get(m.value, 0)) for m in enum}

