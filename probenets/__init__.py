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

from probenets.characterize import (
    AVERAGE_LAST,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_MAX_TRAIN,
    DEFAULT_MAX_VAL,
    ProbeResult,
    characterize,
    stratified_split,
)
from probenets.dcn import chance_accuracy, dcn_from_accuracy
from probenets.errors import (
    ProbeError,
    ProbeInputError,
    ProbeOptionError,
    ProbeTrainingError,
    UnknownProbeError,
)
from probenets.nets import DEFAULT_PROBE, PROBES, ProbeSpec, get_probe

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
    "stratified_split",
]
