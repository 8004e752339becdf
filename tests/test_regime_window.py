"""A large-regime target draws its DCN window from the large regime first."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tapaskit.errors import InvalidOptionError
from tapaskit.predictor.holdout import dataset_regimes, regime_of
from tapaskit.predictor.training_set import select_training_set


def large_regime(frame: pd.DataFrame) -> np.ndarray:
    return (dataset_regimes(frame) == "large").to_numpy()


def _rows(name: str, dcn: float, n: int, *, size: int, samples: int) -> pd.DataFrame:
    return pd.DataFrame({
        "dataset_name": name, "dataset_fingerprint": f"fp-{name}", "dcn": dcn, "num_classes": 10,
        "in_channels": 1, "in_height": size, "in_width": size, "num_samples": samples,
        "extra_hparams": json.dumps({"max_train": samples, "val_fraction": 0.2}),
        "peak_accuracy": 0.5, "experiment_id": np.arange(n),
    }, index=range(n))


@pytest.fixture()
def frame() -> pd.DataFrame:
    small = [_rows(f"small-{i}", 0.40 + 0.02 * i, 50, size=16, samples=1250) for i in range(8)]
    large = [_rows(f"large-{i}", 0.10 + 0.15 * i, 10, size=28, samples=4000) for i in range(5)]
    return pd.concat(small + large, ignore_index=True)


def test_the_regime_of_a_row_is_its_resolution_and_training_samples(frame: pd.DataFrame) -> None:
    assert regime_of(28, 28, 3000) == "large" and regime_of(16, 16, 50_000) == "small"
    assert regime_of(32, 32, 1000) == "small" and regime_of(28, 28, float("nan")) == "small"
    mask = large_regime(frame)
    assert mask.sum() == 50 and set(frame[mask]["dataset_name"].str[:5]) == {"large"}


def test_a_large_target_gets_large_datasets_first_and_the_small_window_on_top(frame: pd.DataFrame) -> None:
    plain = select_training_set(frame, 0.5, 0.05, min_experiments=100, min_datasets=4)
    assert large_regime(plain.frame).sum() <= 10  # by DCN alone at most one large dataset is near
    first = select_training_set(frame, 0.5, 0.05, min_experiments=100, min_datasets=4, regime="large")
    large = first.frame[large_regime(first.frame)]
    assert large["dataset_name"].nunique() == 4  # widened over the large regime until min_datasets
    small = first.frame[~large_regime(first.frame)]
    assert set(small["dataset_name"]) == set(plain.frame[~large_regime(plain.frame)]["dataset_name"])
    assert first.tau >= plain.tau and first.widened
    assert select_training_set(frame, 0.5, 0.05, min_experiments=100, min_datasets=4, regime="small").tau == plain.tau


def test_without_large_experiments_the_plain_window_is_used(frame: pd.DataFrame) -> None:
    small = frame[~large_regime(frame)]
    a = select_training_set(small, 0.5, 0.05, min_experiments=100, min_datasets=4)
    b = select_training_set(small, 0.5, 0.05, min_experiments=100, min_datasets=4, regime="large")
    assert a.tau == b.tau and a.frame.equals(b.frame)
    with pytest.raises(InvalidOptionError, match="regime"):
        select_training_set(frame, 0.5, regime="huge")
