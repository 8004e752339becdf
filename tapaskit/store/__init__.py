"""The bridge between tapaskit and the LDE: opening a store, records, external imports.

- :func:`open_lde`: nothing (the user's default LDE), a path, or an open store;
- :mod:`~tapaskit.store.records`: datasets, architectures, training results and zero-cost proxies
  as LDE records, and :func:`record_training`;
- :mod:`~tapaskit.store.metaqnn_import`: MetaQNN's CSV of trained networks as LDE experiments.
"""

from __future__ import annotations

from tapaskit.store.default_lde import open_lde
from tapaskit.store.records import (
    architecture_record,
    check_architecture_record,
    dataset_record,
    experiment_record,
    proxy_record,
    record_training,
    training_proxies,
)

__all__ = [
    "architecture_record",
    "check_architecture_record",
    "dataset_record",
    "experiment_record",
    "open_lde",
    "proxy_record",
    "record_training",
    "training_proxies",
]
