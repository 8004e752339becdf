"""Where trainings run: the one seam between the workflows and the machines.

An :class:`Executor` takes :class:`TrainingJob` objects and yields ``(job, TrainResult)`` pairs as
the trainings complete (the shape of ``concurrent.futures.as_completed``), whatever runs them. The
search's top-K trainings, the seeding campaign and ``tapas train`` all go through it, so a new
place to run trainings (a Ray cluster: :mod:`tapaskit.training.ray_executor`) is one class, not a
change to every workflow.

The contract every implementation keeps:

- **Workers return plain results; the caller writes.** An executor never touches the LDE or
  MLflow: the driver records each result as it is yielded, so one process writes the store.
- **A training never crashes the caller.** A network that diverges, runs out of memory or raises
  becomes a :class:`TrainResult` with status ``diverged``, ``oom`` or ``failed`` and the reason in
  ``message``; so does a worker process that dies (``failed``, "worker process died").
- **Largest first.** Jobs start in order of decreasing cost (FLOPs x training samples x epochs),
  so a pool does not wait on one big training at the end.
- **The same events everywhere.** :class:`TrainingEvents` ``started`` fires when a worker begins a
  job, ``epoch`` after each of its epochs, in-process or not.

:class:`LocalExecutor` runs on this machine: in-process for one worker, spawned processes for
several (each with ``cpu_count // workers`` torch threads), one process per GPU when there are
GPUs. Worker processes exit by themselves when the driver is gone.

Example:
    >>> from tapaskit.training import Hyperparameters, LocalExecutor, TrainingJob
    >>> jobs = [TrainingJob(key=a.arch_hash, arch=a, dataset=ds, hparams=Hyperparameters(epochs=1))
    ...         for a in archs]                                            # doctest: +SKIP
    >>> with LocalExecutor(workers=2) as executor:                         # doctest: +SKIP
    ...     for job, result in executor.run(jobs):
    ...         print(job.key, result.status.value, result.peak_accuracy)
"""

from __future__ import annotations

import abc
import os
import pickle
import queue as queue_module
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tapaskit.checks import check_int
from tapaskit.datasets import Dataset
from tapaskit.space.architecture import Architecture
from tapaskit.space.shapes import infer_shapes
from tapaskit.training.trainer import Hyperparameters, TrainResult, TrainStatus, train_architecture

__all__ = ["Executor", "LocalExecutor", "TrainingEvents", "TrainingJob", "failed_result"]


@dataclass(frozen=True)
class TrainingJob:
    """One training to run: what, on which data, with which schedule, and its idempotency key.

    Attributes:
        key: unique within a run of an executor; the LDE key its result is recorded under, so a
            retry or a resume never writes a row twice.
        arch: the network.
        dataset: the data (the executor ships it to workers once, however many jobs use it).
        hparams: the schedule.
        seed: the training's seed.
        keep_weights: return the best epoch's weights in the result.
        device: ``"cpu"``/``"cuda"``/``"cuda:1"``; None lets the executor choose.
        evaluate_test: evaluate the best epoch once on the dataset's test part (finalists only).
    """

    key: str
    arch: Architecture
    dataset: Dataset
    hparams: Hyperparameters
    seed: int = 0
    keep_weights: bool = False
    device: str | None = None
    evaluate_test: bool = False

    @property
    def cost(self) -> float:
        """Relative cost for ordering: forward FLOPs per sample x training samples x epochs."""
        try:
            flops = infer_shapes(self.arch, self.dataset.input_shape, self.dataset.num_classes).flops
        except Exception:  # noqa: BLE001 - an invalid network fails at once; its cost is nil
            return 0.0
        samples = self.dataset.num_samples * (1 - self.hparams.val_fraction)
        if self.hparams.max_train is not None:
            samples = min(samples, self.hparams.max_train)
        return float(flops) * samples * self.hparams.epochs


@dataclass(frozen=True)
class TrainingEvents:
    """Callbacks for a live display; each optional, each fired in the driver's thread."""

    started: Callable[[TrainingJob], None] | None = None
    epoch: Callable[[TrainingJob, int, float, float], None] | None = None  # (job, epoch, loss, val acc)


def failed_result(job: TrainingJob, message: str, *, status: TrainStatus = TrainStatus.FAILED,
                  seconds: float = 0.0, device: str | None = None) -> TrainResult:
    """The result of a training that produced no epoch (a worker died, a timeout, a refusal).

    ``device`` defaults to the job's, else ``"unknown"`` (the LDE needs one on every row).
    """
    try:
        summary = infer_shapes(job.arch, job.dataset.input_shape, job.dataset.num_classes)
        params, flops = summary.params, summary.flops
    except Exception:  # noqa: BLE001 - the failure may be the network itself
        params, flops = 0, 0
    return TrainResult(
        status=status, arch_hash=job.arch.arch_hash, dataset=job.dataset.name,
        fingerprint=job.dataset.fingerprint, curve=(), train_loss=(), peak_accuracy=None,
        final_accuracy=None, peak_epoch=None, seconds=seconds, device=device or job.device or "unknown", params=params,
        flops=flops, seed=job.seed, hparams=job.hparams, message=message)


def run_job(job: TrainingJob, device: str | None = None,
            progress: Callable[[int, float, float], None] | None = None) -> TrainResult:
    """Train one job here and now; any exception becomes a ``failed`` result."""
    started = time.perf_counter()
    try:
        return train_architecture(job.arch, job.dataset, job.hparams, seed=job.seed,
                                  device=job.device or device, keep_weights=job.keep_weights,
                                  evaluate_test=job.evaluate_test, progress=progress)
    except Exception as exc:  # noqa: BLE001 - e.g. a network invalid for this dataset
        return failed_result(job, f"{type(exc).__name__}: {exc}".splitlines()[0],
                             seconds=time.perf_counter() - started)


def _unique(jobs: Iterable[TrainingJob]) -> list[TrainingJob]:
    jobs = list(jobs)
    keys = [job.key for job in jobs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"job keys must be unique, but {duplicate!r} appears twice")
    return jobs


def largest_first(jobs: Iterable[TrainingJob]) -> list[TrainingJob]:
    """``jobs`` by decreasing :attr:`TrainingJob.cost` (stable for equal costs); keys must be unique."""
    return sorted(_unique(jobs), key=lambda job: -job.cost)


class Executor(abc.ABC):
    """Runs trainings and yields their results as they complete; see the module docstring.

    An executor is a context manager: its workers live from the first :meth:`run` to
    :meth:`close` (or the end of the ``with`` block), so rounds of trainings reuse them.
    """

    #: How many trainings run at once.
    workers: int = 1
    #: What a worker runs for a job: ``task(job, device, progress) -> TrainResult`` (a module-level
    #: function, so that it reaches worker processes): :func:`run_job`, the training; benchmarks
    #: of the executors themselves pass a job that only sleeps.
    task: Callable[..., TrainResult] = staticmethod(run_job)  # type: ignore[assignment]
    #: Start the costliest jobs first (False: in the order given).
    largest_first: bool = True

    def ordered(self, jobs: Sequence[TrainingJob]) -> list[TrainingJob]:
        """``jobs`` in the order they start (largest first unless turned off); keys must be unique."""
        return largest_first(jobs) if self.largest_first else _unique(jobs)

    @abc.abstractmethod
    def run(self, jobs: Sequence[TrainingJob], events: TrainingEvents | None = None
            ) -> Iterator[tuple[TrainingJob, TrainResult]]:
        """Start ``jobs`` (largest first) and yield each with its result as it completes.

        Closing the iterator early (``break``, an exception, Ctrl-C) cancels the jobs not yet
        finished; the results already yielded are the caller's to keep.
        """

    def close(self) -> None:
        """Release the workers (a no-op where there are none)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------- local processes
class LocalExecutor(Executor):
    """Trainings on this machine: in-process for one worker, spawned processes for several.

    Args:
        workers: trainings at once; None is one per GPU when there are GPUs (and ``device`` does
            not say ``cpu``), else 1.
        device: ``"cpu"`` or ``"cuda"`` for every job without a device of its own; None is CUDA
            when present. With several workers and GPUs, worker ``i`` trains on GPU ``i % gpus``.
        threads: torch threads per training (default: ``cpu_count // workers`` in worker processes,
            torch's own setting in-process).
        max_retries: times a job lost with a dying worker process is run again before it is
            recorded ``failed``.
        largest_first: start the costliest jobs first (False: in the order given).
        task: what a worker runs for a job (see :attr:`Executor.task`).
    """

    def __init__(self, workers: int | None = None, *, device: str | None = None, threads: int | None = None,
                 max_retries: int = 1, largest_first: bool = True, task: Callable[..., TrainResult] = run_job) -> None:
        from tapaskit.training.devices import gpu_count, resolve_device

        self.largest_first, self.task = largest_first, task

        if device is not None:
            resolve_device(device)  # a wrong device fails before any work
        self.gpus = gpu_count() if device in (None, "cuda") else 0
        self.workers = check_int("workers", workers) if workers is not None else max(1, self.gpus)
        self.device = device
        self.max_retries = check_int("max_retries", max_retries, minimum=0)
        self.threads = check_int("threads", threads) if threads is not None else max(1, (os.cpu_count() or 1) // self.workers)
        self._threads_here = self.threads if threads is not None else None  # in-process: torch's own unless set
        self._pool: ProcessPoolExecutor | None = None
        self._messages: Any = None
        self._shipped: dict[str, Path] = {}
        self._ship_dir: Path | None = None

    # -- in-process ---------------------------------------------------------------------------
    def _run_here(self, jobs: list[TrainingJob], events: TrainingEvents) -> Iterator[tuple[TrainingJob, TrainResult]]:
        for job in jobs:
            if events.started:
                events.started(job)
            progress = None
            if events.epoch:
                def progress(epoch: int, loss: float, acc: float, job: TrainingJob = job) -> None:
                    events.epoch(job, epoch, loss, acc)  # type: ignore[misc]
            with _torch_threads(self._threads_here):
                result = self.task(job, self.device, progress)
            yield job, result

    # -- processes ----------------------------------------------------------------------------
    def _start_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = get_context("spawn")
            self._messages = context.Queue()
            devices = context.Queue()
            for worker in range(self.workers):
                devices.put(f"cuda:{worker % self.gpus}" if self.gpus and self.device in (None, "cuda") else self.device)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_init_worker,
                initargs=(self.threads, devices, self._messages, os.getpid()))
        return self._pool

    def _ship(self, dataset: Dataset) -> Path:
        """The dataset written once to a private file that workers load (and keep) by path."""
        if dataset.fingerprint not in self._shipped:
            if self._ship_dir is None:
                self._ship_dir = Path(tempfile.mkdtemp(prefix="tapas-datasets-"))
            path = self._ship_dir / f"{dataset.fingerprint}.pkl"
            with path.open("wb") as handle:
                pickle.dump(dataset, handle, protocol=pickle.HIGHEST_PROTOCOL)
            self._shipped[dataset.fingerprint] = path
        return self._shipped[dataset.fingerprint]

    def _run_in_processes(self, jobs: list[TrainingJob], events: TrainingEvents
                          ) -> Iterator[tuple[TrainingJob, TrainResult]]:
        pool = self._start_pool()
        backlog = list(reversed(jobs))
        running: dict[Future[TrainResult], TrainingJob] = {}
        by_key = {job.key: job for job in jobs}
        attempts = dict.fromkeys(by_key, 0)
        finished = False
        try:
            while backlog or running:
                while backlog and len(running) < 2 * self.workers:  # a small backlog keeps workers busy
                    job = backlog.pop()
                    wire = replace(job, dataset=None)  # type: ignore[arg-type] - shipped by path instead
                    running[pool.submit(_train_in_worker, self.task, wire, self._ship(job.dataset))] = job
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                self._relay(events, by_key)
                lost: list[TrainingJob] = []
                for future in done:
                    job = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:  # a worker died: every job of the pool is lost
                        lost.append(job)
                        continue
                    yield job, result
                if not lost:
                    continue
                lost += running.values()
                running.clear()
                self._discard_pool()
                pool = self._start_pool()
                for job in lost:
                    attempts[job.key] += 1
                    if attempts[job.key] > self.max_retries:
                        yield job, failed_result(job, f"worker process died (killed, or out of memory) "
                                                      f"in {attempts[job.key]} attempts")
                    else:
                        backlog.append(job)
            finished = True
        finally:
            if not finished:  # the caller stopped early: nothing more is wanted
                for future in running:
                    future.cancel()
                self._discard_pool()

    def _relay(self, events: TrainingEvents, by_key: dict[str, TrainingJob]) -> None:
        """Fire the events the workers sent since the last call."""
        while True:
            try:
                kind, key, *values = self._messages.get_nowait()
            except queue_module.Empty:
                return
            job = by_key.get(key)
            if job is None:
                continue
            if kind == "started" and events.started:
                events.started(job)
            elif kind == "epoch" and events.epoch:
                events.epoch(job, *values)

    def _discard_pool(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for process in list(getattr(pool, "_processes", {}).values()):  # running trainings end now
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, jobs: Sequence[TrainingJob], events: TrainingEvents | None = None
            ) -> Iterator[tuple[TrainingJob, TrainResult]]:
        ordered = self.ordered(jobs)
        events = events or TrainingEvents()
        if self.workers == 1 or len(ordered) <= 1 and self._pool is None:
            return self._run_here(ordered, events)
        return self._run_in_processes(ordered, events)

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True)
        if self._ship_dir is not None:
            shutil.rmtree(self._ship_dir, ignore_errors=True)
            self._ship_dir, self._shipped = None, {}


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# Worker side: module-level so that spawned processes can import them.
_WORKER: dict[str, Any] = {}


def _init_worker(threads: int, devices: Any, messages: Any, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER.update(device=devices.get(), messages=messages)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose driver is gone (killed, even by SIGKILL) exits instead of training on."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


@lru_cache(maxsize=4)
def _shipped_dataset(path: Path) -> Dataset:
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301 - our own file, written by the driver for this run


def _train_in_worker(task: Callable[..., TrainResult], job: TrainingJob, dataset_path: Path) -> TrainResult:
    messages = _WORKER["messages"]
    job = replace(job, dataset=_shipped_dataset(dataset_path))
    messages.put(("started", job.key))

    def progress(epoch: int, loss: float, acc: float) -> None:
        messages.put(("epoch", job.key, epoch, loss, acc))

    return task(job, _WORKER["device"], progress)
