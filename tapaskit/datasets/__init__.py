"""Datasets of tapaskit: built-in offline datasets, user data by path, and derived variants.

Everything is loaded through one spec string, ``BASE[key=value;...]``::

    from tapaskit.datasets import load_dataset

    ds = load_dataset("fashion-mnist[classes=0,6;n=2000;noise=0.1;seed=1]")
    train_idx, val_idx = ds.split(val_fraction=0.2, seed=0)

See ``docs/datasets.md`` for the formats, the variant keys and the built-ins.
"""

from __future__ import annotations

from tapaskit.datasets.builtin import BuiltinInfo, list_builtin
from tapaskit.datasets.dataset import Dataset
from tapaskit.datasets.loading import load_dataset
from tapaskit.datasets.spec import parse_spec
from tapaskit.datasets.variants import VARIANT_KEYS, Variant

__all__ = [
    "VARIANT_KEYS",
    "BuiltinInfo",
    "Dataset",
    "Variant",
    "list_builtin",
    "load_dataset",
    "parse_spec",
]
