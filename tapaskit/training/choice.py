"""Choosing where trainings run from a command's options (``--executor local|ray`` and the rest)."""

from __future__ import annotations

from tapaskit.checks import check_choice
from tapaskit.errors import InvalidOptionError
from tapaskit.training.executor import Executor, LocalExecutor

__all__ = ["EXECUTORS", "make_executor"]

#: The executors by option value.
EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", *, workers: int | None = None, device: str | None = None,
                  ray_address: str | None = None, gpus_per_trial: float | None = None,
                  cpus_per_trial: float = 1.0, trial_timeout: float | None = None,
                  max_retries: int = 1, ray_data: str = "object-store") -> Executor:
    """The executor a command's options describe.

    Args:
        kind: ``"local"`` (this machine: in-process, or processes) or ``"ray"`` (a Ray cluster).
        workers: trainings at once (None: the executor's default).
        device: local only: ``cpu`` or ``cuda`` (None: CUDA when present).
        ray_address, gpus_per_trial, cpus_per_trial, trial_timeout, ray_data: Ray only; see
            :class:`~tapaskit.training.ray_executor.RayExecutor`.
        max_retries: reruns of a training whose worker process died.

    Raises:
        InvalidOptionError: an unknown kind, or a Ray option with the local executor.
    """
    check_choice("executor", kind, EXECUTORS)
    if kind == "local":
        given = [name for name, value in (("--ray-address", ray_address), ("--gpus-per-trial", gpus_per_trial),
                                          ("--trial-timeout", trial_timeout),
                                          ("--ray-data", None if ray_data == "object-store" else ray_data))
                 if value is not None]
        if given:
            raise InvalidOptionError(f"{given[0]} applies to --executor ray only")
        return LocalExecutor(workers, device=device, max_retries=max_retries)
    from tapaskit.training.ray_executor import RayExecutor  # imports ray: only when asked for

    return RayExecutor(workers, address=ray_address, gpus_per_trial=gpus_per_trial, cpus_per_trial=cpus_per_trial,
                       trial_timeout=trial_timeout, max_retries=max_retries, data=ray_data)
