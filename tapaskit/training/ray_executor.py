"""Trainings as Ray tasks: one search or campaign over any number of machines and GPUs.

:class:`RayExecutor` keeps the :class:`~tapaskit.training.executor.Executor` contract (results as
they complete, largest first, failures as results, the driver the only writer) over a Ray cluster:

- **one task per training** (``num_cpus`` / ``num_gpus`` per trial, fractions allowed), so a
  training's GPU memory is freed when its task ends; at most ``workers`` run at once;
- **data travels with the job**: each dataset goes into Ray's object store once (``ray.put``) and
  every task gets the reference, so worker nodes need no copy of the user's files. A dataset larger
  than the object store can hold is refused in one line, naming the alternative
  (``data="path"``: each task loads the dataset by its spec, a path visible on every node);
- **faults**: a worker process that dies is retried by Ray (``max_retries``), then the training is
  a ``failed`` result saying so; a training over ``trial_timeout`` seconds is cancelled and
  ``failed`` with the message ``timeout``; CUDA out of memory is the trainer's ``oom`` status;
  closing the iterator early (Ctrl-C) cancels every outstanding task;
- **connecting**: ``address`` (or ``$RAY_ADDRESS``; ``"auto"`` finds a cluster started with
  ``ray start --head`` on this machine) joins a cluster; without one a local Ray is started over
  this machine's CPUs and GPUs and shut down by :meth:`close`. A Ray already initialised in this
  process (e.g. by a test, or a notebook) is used as it is.

Epoch events are not relayed from Ray workers: ``started`` fires when a task is submitted (up to
``2 x workers`` are submitted at once, ``workers`` with a ``trial_timeout``, whose clock starts
at submission).
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from tapaskit.checks import check_choice, check_int, check_number
from tapaskit.datasets import Dataset, load_dataset
from tapaskit.errors import InvalidOptionError, TapasError
from tapaskit.training.executor import Executor, TrainingEvents, TrainingJob, failed_result, run_job
from tapaskit.training.trainer import TrainResult

__all__ = ["RayClusterError", "RayExecutor"]

#: Share of the object store one dataset may take.
OBJECT_STORE_SHARE = 0.5


class RayClusterError(TapasError, ConnectionError):
    """No Ray cluster answers at the address given."""


def _train_task(task: Callable[..., TrainResult], job: TrainingJob, dataset: Any, device: str | None,
                threads: int) -> TrainResult:
    """One training inside a Ray worker (wrapped by ``ray.remote`` when Ray is first used)."""
    import torch

    torch.set_num_threads(max(1, threads))
    if isinstance(dataset, str):  # data="path": loaded here, from a path every node sees
        dataset = load_dataset(dataset)
    return task(replace(job, dataset=dataset), device, None)


class RayExecutor(Executor):
    """Trainings as Ray tasks; see the module docstring.

    Args:
        workers: trainings at once; None fills the cluster (its CPUs / ``cpus_per_trial``, or its
            GPUs / ``gpus_per_trial`` when trials take GPUs).
        address: a cluster's address (``host:port`` or ``"auto"``); None uses ``$RAY_ADDRESS``, else
            starts a local Ray.
        gpus_per_trial: GPUs per training (0.25 packs four small trainings on one GPU); None is 1
            when the cluster has GPUs, else 0.
        cpus_per_trial: CPUs per training (also its torch threads).
        trial_timeout: seconds after which a training is cancelled and recorded ``failed``
            (``timeout``); None: no limit.
        max_retries: times Ray reruns a training whose worker process died.
        data: ``"object-store"`` (datasets travel through Ray) or ``"path"`` (each task loads the
            dataset by its spec, which must be a path or a built-in every node can load).
        largest_first: start the costliest jobs first (False: in the order given).
        task: what a worker runs for a job (see :attr:`~tapaskit.training.executor.Executor.task`).
    """

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 gpus_per_trial: float | None = None, cpus_per_trial: float = 1.0,
                 trial_timeout: float | None = None, max_retries: int = 1, data: str = "object-store",
                 largest_first: bool = True, task: Callable[..., TrainResult] = run_job) -> None:
        self.largest_first, self.task = largest_first, task
        self.cpus_per_trial = check_number("cpus_per_trial", cpus_per_trial, 0.0, open_low=True)
        self.trial_timeout = None if trial_timeout is None else check_number(
            "trial_timeout", trial_timeout, 0.0, open_low=True)
        self.max_retries = check_int("max_retries", max_retries, 0)
        self.data = check_choice("data", data, ("object-store", "path"))
        if gpus_per_trial is not None:
            check_number("gpus_per_trial", gpus_per_trial, 0.0)
        if workers is not None:
            check_int("workers", workers)
        self._owns_ray = False
        ray = _import_ray(local=not (address or os.environ.get("RAY_ADDRESS")))
        self._connect(ray, address if address is not None else os.environ.get("RAY_ADDRESS"))
        self._task = ray.remote(_train_task)
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0.0))
        self.gpus_per_trial = (1.0 if gpus else 0.0) if gpus_per_trial is None else float(gpus_per_trial)
        if self.gpus_per_trial > 0 and not gpus:
            raise InvalidOptionError(f"gpus_per_trial is {self.gpus_per_trial:g}, but the Ray cluster has no GPU; "
                                     "use 0 (CPU trainings) or a cluster with GPUs")
        if workers is None:
            slots = resources.get("CPU", 1.0) / self.cpus_per_trial
            if self.gpus_per_trial > 0:
                slots = min(slots, gpus / self.gpus_per_trial)
            workers = max(1, int(math.floor(slots + 1e-9)))
        self.workers = workers
        self._object_store = float(resources.get("object_store_memory", 0.0))
        self._refs: dict[str, Any] = {}

    def _connect(self, ray: Any, address: str | None) -> None:
        if ray.is_initialized():
            return
        if address and address != "auto":
            _check_reachable(address)
        try:
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            else:
                ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
                self._owns_ray = True
        except ConnectionError as exc:
            raise RayClusterError(_no_cluster(address or "auto", str(exc))) from None

    def _dataset_arg(self, dataset: Dataset) -> Any:
        """What a task gets for ``dataset``: an object-store reference (put once), or its spec."""
        if self.data == "path":
            return dataset.name
        if dataset.fingerprint not in self._refs:
            size = dataset.x.nbytes + dataset.y.nbytes
            if self._object_store and size > OBJECT_STORE_SHARE * self._object_store:
                raise InvalidOptionError(
                    f"dataset {dataset.name} ({size / 2**30:.1f} GiB) is too large for Ray's object store "
                    f"({self._object_store / 2**30:.1f} GiB); give a path visible on every node and "
                    "--ray-data path, or start Ray with a larger --object-store-memory")
            self._refs[dataset.fingerprint] = _ray().put(dataset)
        return self._refs[dataset.fingerprint]

    def _submit(self, job: TrainingJob) -> Any:
        device = job.device or ("cuda" if self.gpus_per_trial > 0 else "cpu")
        wire = replace(job, dataset=None)  # type: ignore[arg-type] - the data travels as its own argument
        task = self._task.options(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial,
                                   max_retries=self.max_retries, retry_exceptions=False)
        return task.remote(self.task, wire, self._dataset_arg(job.dataset), device, max(1, int(self.cpus_per_trial)))

    def run(self, jobs: Sequence[TrainingJob], events: TrainingEvents | None = None
            ) -> Iterator[tuple[TrainingJob, TrainResult]]:
        ordered = self.ordered(jobs)
        events = events or TrainingEvents()
        for job in ordered:  # a dataset too large for the object store fails before any task starts
            self._dataset_arg(job.dataset)
        return self._run(ordered, events)

    def _run(self, ordered: list[TrainingJob], events: TrainingEvents) -> Iterator[tuple[TrainingJob, TrainResult]]:
        ray = _ray()
        backlog = list(reversed(ordered))
        # a small backlog queued in Ray hides the round trip between two tasks; with a timeout each
        # submitted task must be running, since its clock starts at submission
        in_flight = self.workers if self.trial_timeout is not None else 2 * self.workers
        running: dict[Any, tuple[TrainingJob, float]] = {}
        try:
            while backlog or running:
                while backlog and len(running) < in_flight:
                    job = backlog.pop()
                    running[self._submit(job)] = (job, time.monotonic())
                    if events.started:
                        events.started(job)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
                for ref in ready:
                    job, started = running.pop(ref)
                    yield job, self._result(ref, job, started)
                if self.trial_timeout is not None:
                    now = time.monotonic()
                    for ref, (job, started) in list(running.items()):
                        if now - started > self.trial_timeout:
                            ray.cancel(ref, force=True)
                            running.pop(ref)
                            yield job, failed_result(job, f"timeout: over {self.trial_timeout:g} s", seconds=now - started)
        finally:
            for ref in running:  # stopped early (Ctrl-C, an error in the caller): nothing more is wanted
                ray.cancel(ref, force=True)

    def _result(self, ref: Any, job: TrainingJob, started: float) -> TrainResult:
        ray = _ray()
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return failed_result(job, "cancelled", seconds=time.monotonic() - started)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError) as exc:
            reason = "out of memory (Ray's memory monitor)" if isinstance(exc, ray.exceptions.OutOfMemoryError) \
                else "worker process died"
            return failed_result(job, f"{reason} in {self.max_retries + 1} attempts",
                                 seconds=time.monotonic() - started)
        except ray.exceptions.RayError as exc:
            return failed_result(job, f"{type(exc).__name__}: {exc}".splitlines()[0],
                                 seconds=time.monotonic() - started)

    def close(self) -> None:
        self._refs.clear()
        ray = _ray()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False


def _import_ray(*, local: bool) -> Any:
    """``ray``, imported so that a local Ray started here listens on the loopback interface only.

    Ray reads its choice of node address when first imported; a Ray started by tapaskit on one
    machine needs no other interface (a cluster is joined by address instead).
    """
    import sys

    if local and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise InvalidOptionError("--executor ray needs Ray, which is not installed here: "
                                 "pip install 'tapaskit[ray]' (or use --executor local)") from None
    return ray


def _ray() -> Any:
    import ray

    return ray


def _check_reachable(address: str) -> None:
    """One line, at once, when nothing listens at ``host:port`` (ray.init would wait a long time)."""
    host, _, port = address.rpartition(":")
    host = host.removeprefix("ray://") or "127.0.0.1"
    if not port.isdigit():
        raise InvalidOptionError(f"ray address must be host:port or auto, but got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as exc:
        raise RayClusterError(_no_cluster(address, exc.strerror or str(exc))) from None


def _no_cluster(address: str, reason: str) -> str:
    return (f"no Ray cluster at {address} ({reason.splitlines()[0] if reason else 'no answer'}); start one with "
            "`ray start --head` and pass its address (or auto), or leave --ray-address out to start a local Ray")
