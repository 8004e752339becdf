"""Folds of architectures, so that a predictor is scored only on networks it never saw.

A search proposes networks the LDE has never trained. A benchmark that scores a predictor on
networks whose results on *other* datasets were in its training set (the default LDE trains one
pool of networks on every dataset) measures in part how well it remembers them.
:func:`unseen_architecture_folds` splits the test networks into groups of architectures and
pairs each group with the training experiments of every other architecture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ARCHITECTURE_FOLDS", "architecture_keys", "unseen_architecture_folds"]

#: Groups the test architectures are split into (each predicted by a model fitted without it).
ARCHITECTURE_FOLDS = 2


def architecture_keys(frame: pd.DataFrame) -> pd.Series:
    """The architecture of each row: ``arch_hash``, else the canonical ``arch_json``."""
    column = "arch_hash" if "arch_hash" in frame.columns else "arch_json"
    return frame[column].astype(str)


def unseen_architecture_folds(train: pd.DataFrame, test: pd.DataFrame, *,
                              folds: int = ARCHITECTURE_FOLDS, seed: int = 0
                              ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``(train, test)`` pairs in which no test architecture appears on the training side.

    The test architectures are shuffled (seeded) into ``folds`` groups of about equal size; each
    pair holds one group's test rows and the training rows of every architecture outside it.
    Every test row lands in exactly one pair. Pairs with fewer than two rows on a side are left
    out.
    """
    train_keys, test_keys = architecture_keys(train), architecture_keys(test)
    unique = np.array(sorted(test_keys.unique()))
    order = np.random.default_rng([seed, len(unique), len(train)]).permutation(len(unique))
    pairs = []
    for group in np.array_split(unique[order], folds):
        held = set(group)
        fold_test = test[test_keys.isin(held).to_numpy()]
        fold_train = train[~train_keys.isin(held).to_numpy()]
        if len(fold_test) >= 2 and len(fold_train) >= 2:
            pairs.append((fold_train, fold_test))
    return pairs
