"""probenets: probe nets that sum up how hard a dataset is in one number, the DCN.

Train a small, fixed probe network for a few epochs on a bounded stratified subsample and turn
its validation accuracy into the dataset characterization number (DCN) in [0, 1], corrected for
chance so that datasets with different class counts compare; higher means easier. The package
takes numpy arrays and returns numbers; it knows nothing of tapaskit or the LDE.

Example:
    >>> from probenets import characterize
    >>> result = characterize(x, y, seed=0)  # x: (N, C, H, W) float32, y: (N,) ints 0..K-1
    >>> result.dcn
"""

from __future__ import annotations

from typing import Any

from probenets.dcn import chance_accuracy, dcn_from_accuracy
from probenets.errors import (
    ProbeError,
    ProbeInputError,
    ProbeOptionError,
    ProbeTrainingError,
    UnknownProbeError,
)

# The names that need torch load on first use, so that importing the errors (as every `tapas`
# command does) costs no torch import (about 1 s).
_LAZY = {
    **dict.fromkeys(("AVERAGE_LAST", "DEFAULT_BATCH_SIZE", "DEFAULT_EPOCHS", "DEFAULT_MAX_TRAIN",
                     "DEFAULT_MAX_VAL", "ProbeResult", "characterize", "resolve_device", "stratified_split"),
                    "probenets.probe"),
    **dict.fromkeys(("DEFAULT_PROBE", "PROBES", "ProbeSpec", "get_probe"), "probenets.nets"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'probenets' has no attribute {name!r}")


__all__ = [
    "AVERAGE_LAST",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_MAX_TRAIN",
    "DEFAULT_MAX_VAL",
    "DEFAULT_PROBE",
    "PROBES",
    "ProbeError",
    "ProbeInputError",
    "ProbeOptionError",
    "ProbeResult",
    "ProbeSpec",
    "ProbeTrainingError",
    "UnknownProbeError",
    "chance_accuracy",
    "characterize",
    "dcn_from_accuracy",
    "get_probe",
    "resolve_device",
    "stratified_split",
]
