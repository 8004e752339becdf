"""Hold-outs that keep the test honest: unseen architectures, and unseen dataset families.

A dataset's *family* (:func:`family_of`) is the source it was derived from: the base name before
a variant spec (every ``fashion-mnist[...]`` variant is of the family ``fashion-mnist``), or the
lineage an LDE records for user data. Holding out one dataset while its siblings stay in the
training set (scenario C of ``tapas benchmark predictor``) tests a predictor on images it has
largely seen; scenario F holds out the whole family.

A dataset's *regime* (:func:`dataset_regimes`) is how large its trainings were: ``"large"``
when a row's input is at least :data:`LARGE_MIN_RESOLUTION` pixels on both sides and it was
trained on at least :data:`LARGE_MIN_TRAIN_SAMPLES` samples
(:func:`~tapaskit.predictor.inputs.train_samples`), else ``"small"``. The rule reads only what
every LDE row records (input shape, dataset size and split), so it sorts a user's LDE as it sorts
the shipped one (the default suite: <= 16x16 px, 1,000 training samples; the large suite: 28x28
and 3x32x32 px, 3,000). Scenario R of ``tapas benchmark predictor`` transfers between regimes.

Folds of architectures, so that a predictor is scored only on networks it never saw.

A search proposes networks the LDE has never trained. A benchmark that scores a predictor on
networks whose results on *other* datasets were in its training set (the default LDE trains one
pool of networks on every dataset) measures in part how well it remembers them.
:func:`unseen_architecture_folds` splits the test networks into groups of architectures and
pairs each group with the training experiments of every other architecture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tapaskit.predictor.inputs import train_samples

__all__ = ["ARCHITECTURE_FOLDS", "LARGE_MIN_RESOLUTION", "LARGE_MIN_TRAIN_SAMPLES", "LINEAGE_COLUMNS",
           "REGIMES", "architecture_keys", "dataset_families", "dataset_regimes", "family_of", "regime_of",
           "unseen_architecture_folds"]

#: Columns of an experiment frame that may record a dataset's lineage (the source it was derived
#: from), in the order they are read; the first non-empty one wins.
LINEAGE_COLUMNS: tuple[str, ...] = ("dataset_lineage", "lineage")

#: The training regimes of :func:`dataset_regimes`.
REGIMES: tuple[str, ...] = ("small", "large")
#: A large-regime row's input is at least this many pixels high and wide ...
LARGE_MIN_RESOLUTION = 28
#: ... and was trained on at least this many samples.
LARGE_MIN_TRAIN_SAMPLES = 2000

#: Groups the test architectures are split into (each predicted by a model fitted without it).
ARCHITECTURE_FOLDS = 2


def family_of(dataset_name: str, lineage: str | None = None) -> str:
    """The family of a dataset: its recorded ``lineage`` when there is one, else its name up to
    its variant spec (``"fashion-mnist[n=2000;size=16]"`` -> ``"fashion-mnist"``), else its name.

    Example:
        >>> family_of("fashion-mnist[classes=1,8;n=2000;size=16]")
        'fashion-mnist'
        >>> family_of("digits"), family_of("cells[n=500]", lineage="lab-cells-2024")
        ('digits', 'lab-cells-2024')
    """
    if lineage is not None and str(lineage).strip() and str(lineage) != "nan":
        return str(lineage).strip()
    name = str(dataset_name).strip()
    start = name.rfind("[")
    if start > 0 and name.endswith("]"):
        return name[:start].strip()
    return name


def dataset_families(frame: pd.DataFrame) -> pd.Series:
    """The family of each row of an experiment frame (its ``dataset_name`` and, where the frame
    has one, its lineage column, see :data:`LINEAGE_COLUMNS`)."""
    names = frame["dataset_name"].astype(object)
    lineage = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for column in LINEAGE_COLUMNS:
        if column in frame.columns:
            values = frame[column].astype(object)
            lineage = lineage.where(lineage.notna(), values.where(values.notna(), None))
    pairs = pd.DataFrame({"name": names, "lineage": lineage})
    unique = pairs.drop_duplicates()
    families = {(n, l): family_of(n, l) for n, l in zip(unique["name"], unique["lineage"])}
    return pd.Series([families[(n, l)] for n, l in zip(pairs["name"], pairs["lineage"])],
                     index=frame.index, dtype=object)


def regime_of(in_height: float, in_width: float, train_samples: float) -> str:
    """The regime of one training (or one search's full trainings): ``"large"`` at
    :data:`LARGE_MIN_RESOLUTION` pixels or more with :data:`LARGE_MIN_TRAIN_SAMPLES` samples or
    more, else ``"small"``; the rule of :func:`dataset_regimes` for a single row."""
    large = (min(in_height, in_width) >= LARGE_MIN_RESOLUTION and train_samples >= LARGE_MIN_TRAIN_SAMPLES)
    return "large" if large else "small"


def dataset_regimes(frame: pd.DataFrame) -> pd.Series:
    """The regime of each row of an experiment frame: ``"large"`` when its input is at least
    28x28 px and it was trained on at least 2,000 samples (unknown counts as fewer), else
    ``"small"`` (see the module docstring)."""
    height = pd.to_numeric(frame["in_height"], errors="coerce").to_numpy(dtype=float)
    width = pd.to_numeric(frame["in_width"], errors="coerce").to_numpy(dtype=float)
    samples = train_samples(frame)
    with np.errstate(invalid="ignore"):
        large = ((height >= LARGE_MIN_RESOLUTION) & (width >= LARGE_MIN_RESOLUTION)
                 & (samples >= LARGE_MIN_TRAIN_SAMPLES))
    return pd.Series(np.where(large, "large", "small"), index=frame.index, dtype=object)


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
