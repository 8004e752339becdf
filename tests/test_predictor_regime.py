"""The training regime as a predictor input (train_samples) and scenario R of the benchmark."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tapaskit.errors import DataError
from tapaskit.evaluation.predictor_benchmark import REGIME_PARTS, run_predictor_benchmark
from tapaskit.predictor import (
    CONTEXT_FEATURES,
    LightGBMPredictor,
    TAPRegressor,
    architecture_frame,
    encode_frame,
)
from tapaskit.predictor.holdout import dataset_regimes
from tapaskit.predictor.inputs import train_samples
from tapaskit.predictor.synthetic import synthetic_lde
from tapaskit.space.architecture import Architecture, Conv

SMALL = json.dumps({"max_train": 1000, "message": "", "momentum": 0.9, "val_fraction": 0.5})
LARGE = json.dumps({"max_train": 3000, "message": "", "momentum": 0.9, "val_fraction": 0.2})


def test_train_samples_from_the_rows_of_both_regimes() -> None:
    frame = pd.DataFrame({
        "num_samples": [1797, 2000, 600, 4500, 5000, 5000, 1000, 1000, 1000],
        "extra_hparams": [SMALL, SMALL, SMALL, LARGE, LARGE,
                          json.dumps({"max_train": None, "val_fraction": 0.2}),  # no cap
                          json.dumps({"metaqnn_num_params": 5}),  # no split recorded: unknown
                          None, "not json"],
    })
    # min(max_train, round(num_samples * (1 - val_fraction)))
    expected = [round(1797 * 0.5), 1000, 300, 3000, 3000, 4000, np.nan, np.nan, np.nan]
    np.testing.assert_array_equal(train_samples(frame), expected)
    # an explicit, finite column wins row by row; NaN there falls back to the record
    frame["train_samples"] = [np.nan, 1234, np.nan, np.nan, np.nan, np.nan, 77, np.nan, np.nan]
    expected[1], expected[6] = 1234, 77
    np.testing.assert_array_equal(train_samples(frame), expected)
    # neither column: unknown
    assert np.isnan(train_samples(pd.DataFrame({"a": [1, 2]}))).all()


def test_shipped_regimes_and_the_regime_rule() -> None:
    rows = pd.DataFrame({
        "in_height": [16, 28, 32, 28, 8], "in_width": [16, 28, 32, 28, 8],
        "num_samples": [2000, 4500, 5000, 2000, 1797],
        "extra_hparams": [SMALL, LARGE, LARGE, LARGE, SMALL],
    })
    # the 28x28 row trained on 1,600 samples is small: both resolution and samples decide
    assert dataset_regimes(rows).tolist() == ["small", "large", "large", "small", "small"]


def test_architecture_frame_passes_train_samples_to_the_encoding() -> None:
    archs = [Architecture((Conv(4),))] * 3
    frame = architecture_frame(archs, input_shape=(1, 28, 28), num_classes=10, epochs=8,
                               train_samples=3000)
    assert frame["train_samples"].tolist() == [3000.0] * 3
    context = encode_frame(frame).context
    column = CONTEXT_FEATURES.index("log2_train_samples")
    np.testing.assert_allclose(context[:, column], np.log2(3000))
    assert np.isnan(encode_frame(architecture_frame(archs, input_shape=(1, 8, 8), num_classes=10))
                    .context[:, column]).all()
    with pytest.raises(DataError, match="train_samples must be a positive integer or None, but got 0"):
        architecture_frame(archs, input_shape=(1, 8, 8), num_classes=10, train_samples=0)


def two_regime_lde(n_archs: int = 24, seed: int = 0) -> pd.DataFrame:
    """Four small-regime datasets (16x16, 1,000 samples, 6 epochs) and three large-regime ones
    (28x28, 3,000 samples, 8 epochs), of the families alpha and beta in both regimes; the large
    regime is 0.1 more accurate."""
    parts = []
    for regime, n, shape, size, epochs, extra in (("small", 4, (1, 16, 16), 2000, 6, SMALL),
                                                  ("large", 3, (1, 28, 28), 4500, 8, LARGE)):
        part = synthetic_lde(n_datasets=n, n_archs=n_archs, seed=seed, input_shape=shape).query()
        index = part["dataset_name"].str.rsplit("-", n=1).str[-1].astype(int)
        part["dataset_name"] = [f"{'alpha' if i % 2 == 0 else 'beta'}[{regime}={i}]" for i in index]
        part["dataset_fingerprint"] = part["dataset_fingerprint"] + regime
        part["extra_hparams"], part["num_samples"], part["epochs"] = extra, size, epochs
        if regime == "large":
            part["peak_accuracy"] = np.clip(part["peak_accuracy"] + 0.1, 0, 1)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["experiment_id"] = np.arange(1, len(frame) + 1)
    return frame


def test_epochs_and_train_samples_reach_tap_and_the_trees() -> None:
    frame = two_regime_lde()
    columns = [CONTEXT_FEATURES.index(n) for n in ("log2_epochs", "log2_train_samples")]
    tap = TAPRegressor(train_steps=30, seed=0).fit(frame, frame["peak_accuracy"])
    # both vary in the training set, so neither is normalised away as a constant
    assert (tap.context_std_[columns] != 1.0).all() and (tap.context_std_[columns] > 0.1).all()
    lgbm = LightGBMPredictor(n_estimators=60, min_child_samples=5, seed=0).fit(frame, frame["peak_accuracy"])
    used = dict(zip(lgbm.booster_.feature_name(), lgbm.booster_.feature_importance()))
    assert used["log2_epochs"] + used["log2_train_samples"] + used["log2_batch_size"] > 0
    # the same networks scored as if trained in the other regime get other predictions
    small = frame[frame["in_height"] == 16].head(10).reset_index(drop=True)
    as_large = small.assign(train_samples=3000.0, epochs=8)
    for model in (tap, lgbm):
        assert not np.allclose(model.predict(small), model.predict(as_large))


def test_scenario_r_on_a_tiny_two_regime_lde() -> None:
    frame = two_regime_lde()
    report = run_predictor_benchmark(frame, scenarios="R", predictors=["lightgbm", "dataset_mean"],
                                     min_experiments=40, min_datasets=2, track=False)
    assert list(report["scenarios"]) == list(REGIME_PARTS)
    assert sorted(report["regimes"]) == ["large", "small"] and len(report["regimes"]["large"]) == 3
    to_large = report["scenarios"]["R_small_to_large"]
    assert sorted(to_large["datasets"]) == report["regimes"]["large"]
    assert all(info["train_regime"] == "small" for info in to_large["datasets"].values())
    assert np.isfinite(to_large["predictors"]["lightgbm"]["kendall_tau_mean"])
    to_small = report["scenarios"]["R_large_to_small"]
    assert sorted(to_small["datasets"]) == report["regimes"]["small"]
    # the large regime has 3 datasets: a window of small targets holds at most those
    assert all(info["train_datasets"] <= 3 for info in to_small["datasets"].values())
    by_family = report["scenarios"]["R_large_by_family"]
    assert sorted(by_family["datasets"]) == report["regimes"]["large"]
    # alpha[large=0] leaves with alpha[small=0] and alpha[small=2] (and alpha[large=2])
    assert by_family["datasets"]["alpha[large=0]"]["family_left_out"] == 3
    assert by_family["datasets"]["beta[large=1]"]["family_left_out"] == 2  # beta[small=1], [small=3]
    assert "R_small_to_large" in report["summary"]["lightgbm"]


def test_scenario_r_is_skipped_with_one_regime() -> None:
    report = run_predictor_benchmark(synthetic_lde(n_datasets=3, n_archs=10, seed=1),
                                     scenarios="R", predictors=["dataset_mean"], track=False)
    for part in REGIME_PARTS:
        assert report["scenarios"][part]["skipped"]
        assert "large-regime datasets" in report["scenarios"][part]["note"] or \
            "both regimes" in report["scenarios"][part]["note"]
