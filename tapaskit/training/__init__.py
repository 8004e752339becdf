"""Training networks for real, and where those trainings run.

- :mod:`~tapaskit.training.trainer`: :func:`train_architecture` (seeded, mixed precision on CUDA,
  failures as records), :class:`Hyperparameters`, :class:`TrainResult`;
- :mod:`~tapaskit.training.devices`: :func:`resolve_device`, :func:`is_oom`;
- :mod:`~tapaskit.training.executor`: the :class:`Executor` seam (:class:`LocalExecutor`:
  in-process, processes, one per GPU), jobs and events; :mod:`~tapaskit.training.ray_executor`:
  the same over a Ray cluster; :func:`make_executor` picks one from a command's options.

Example:
    >>> from tapaskit.datasets import load_dataset
    >>> from tapaskit.space import parse_architecture
    >>> from tapaskit.training import Hyperparameters, train_architecture
    >>> result = train_architecture(parse_architecture("[C(8,3,1), P(2,2), SM(10)]"),
    ...                             load_dataset("digits"), Hyperparameters(epochs=1))  # doctest: +SKIP
"""

from __future__ import annotations

from tapaskit.training.choice import EXECUTORS, make_executor
from tapaskit.training.devices import is_oom, resolve_device
from tapaskit.training.executor import Executor, LocalExecutor, TrainingEvents, TrainingJob, failed_result
from tapaskit.training.trainer import Hyperparameters, TrainResult, TrainStatus, train_architecture

__all__ = [
    "EXECUTORS",
    "Executor",
    "Hyperparameters",
    "LocalExecutor",
    "TrainResult",
    "TrainStatus",
    "TrainingEvents",
    "TrainingJob",
    "failed_result",
    "is_oom",
    "make_executor",
    "resolve_device",
    "train_architecture",
]
