"""Which device a training runs on, and how to tell that a device ran out of memory.

:func:`resolve_device` is the one check of a ``--device`` value (probenets' rule, raised as a
tapaskit error); :func:`gpu_count` is what executors size their workers by; :func:`is_oom` turns
an allocation failure on CUDA *or* on the CPU into the ``oom`` status of a training.
"""

from __future__ import annotations

import os

import torch

from probenets import ProbeOptionError
from probenets import resolve_device as probe_resolve_device

from tapaskit.errors import InvalidOptionError

__all__ = ["free_memory", "gpu_count", "is_oom", "resolve_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` checked as a torch device: None is CUDA when present, else the CPU.

    Raises:
        InvalidOptionError: not a CPU or CUDA device, or CUDA asked for where there is none.
    """
    try:
        return probe_resolve_device(device)
    except ProbeOptionError as exc:
        raise InvalidOptionError(str(exc)) from None


def gpu_count() -> int:
    """CUDA devices visible to this process (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory failure (CUDA's error, or a failed CPU allocation)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    wording = ("out of memory", "failed to allocate", "can't allocate memory", "cannot allocate memory")
    return isinstance(exc, RuntimeError) and any(w in text for w in wording)


def free_memory(device: torch.device) -> int | None:
    """Bytes a training on ``device`` may take: free GPU memory, or the CPU's available memory
    (None where the system does not say)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:  # MemAvailable counts the page cache the kernel would give back; MemFree does not
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None
