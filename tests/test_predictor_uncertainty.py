"""``predict(X, return_std=True)``: shapes, the mean unchanged, wider far from the training set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tapaskit.predictor import (
    DatasetMeanPredictor,
    EnsemblePredictor,
    LightGBMPredictor,
    ParamCountPredictor,
    RandomForestPredictor,
    TAPRegressor,
    architecture_frame,
)
from tapaskit.predictor.synthetic import synthetic_accuracy
from tapaskit.space.sampler import ArchitectureSampler

FAST_TAP = {"train_steps": 150, "hidden_size": 16, "head_size": 16}
SHAPE = (1, 16, 16)


def _near_archs(n: int, seed: int) -> list:
    """Small, shallow networks: what the predictors are trained on."""
    return ArchitectureSampler(seed=seed, max_depth=6, filters=(8, 16, 32),
                               fc_units=(32, 64)).sample_many(n, SHAPE, 10)


def _far_archs(n: int, seed: int) -> list:
    """Deep, very wide networks: nothing like the training set."""
    return ArchitectureSampler(seed=seed, min_depth=16, max_depth=24, filters=(512, 1024),
                               fc_units=(2048, 4096), p_pool=0.0).sample_many(n, SHAPE, 10)


@pytest.fixture(scope="module")
def training_frame() -> pd.DataFrame:
    archs = _near_archs(80, seed=0)
    rng = np.random.default_rng(0)
    frames = []
    for dcn in (0.2, 0.4, 0.6, 0.8):
        frame = architecture_frame(archs, input_shape=SHAPE, num_classes=10, dcn=dcn,
                                   dataset_name=f"toy-{dcn}")
        frame["peak_accuracy"] = np.clip(
            [synthetic_accuracy(a, SHAPE, 10, dcn) + rng.normal(0, 0.01) for a in archs], 0, 1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _predictors() -> dict[str, object]:
    return {
        "tap_one_network": TAPRegressor(**FAST_TAP),  # MC dropout
        "tap_three_networks": TAPRegressor(n_members=3, **FAST_TAP),
        "lightgbm": LightGBMPredictor(n_estimators=100),
        "random_forest": RandomForestPredictor(n_estimators=50),
        "params": ParamCountPredictor(),
        "ensemble": EnsemblePredictor(
            members=[("tap", TAPRegressor(n_members=2, **FAST_TAP)),
                     ("lightgbm", LightGBMPredictor(n_estimators=100))],
            level=LightGBMPredictor(n_estimators=100)),
    }


@pytest.fixture(scope="module")
def fitted(training_frame) -> dict[str, object]:
    y = training_frame["peak_accuracy"]
    return {name: model.fit(training_frame, y) for name, model in _predictors().items()}


@pytest.mark.parametrize("name", list(_predictors()))
def test_return_std_gives_the_plain_mean_and_a_positive_std(fitted, training_frame, name) -> None:
    model = fitted[name]
    test = training_frame.iloc[:50]
    plain = model.predict(test)
    mean, std = model.predict(test, return_std=True)
    np.testing.assert_array_equal(mean, plain)
    assert mean.dtype == np.float64 and std.dtype == np.float64
    assert std.shape == mean.shape == (50,)
    assert np.all(np.isfinite(std)) and np.all(std > 0)
    again = model.predict(test, return_std=True)[1]
    np.testing.assert_array_equal(std, again)  # deterministic, MC dropout included


@pytest.mark.parametrize("name", list(_predictors()))
def test_std_is_wider_far_from_the_training_set(fitted, name) -> None:
    model = fitted[name]
    near = architecture_frame(_near_archs(80, seed=0), input_shape=SHAPE, num_classes=10,
                              dcn=0.4, dataset_name="toy-0.4")  # the training networks
    far = architecture_frame(_far_archs(60, seed=3), input_shape=SHAPE, num_classes=10,
                             dcn=0.4, dataset_name="toy-0.4")
    _, near_std = model.predict(near, return_std=True)
    _, far_std = model.predict(far, return_std=True)
    # the least-squares line's interval widens little (its leverage grows slowly); the models
    # with members, bags, trees or dropout passes disagree clearly more far away
    margin = 1.0 if name == "params" else 1.1
    assert np.median(far_std) > margin * np.median(near_std), (np.median(near_std),
                                                               np.median(far_std))


def test_dataset_mean_std_ignores_the_network_but_not_the_dataset(training_frame) -> None:
    model = DatasetMeanPredictor().fit(training_frame, training_frame["peak_accuracy"])
    near = architecture_frame(_near_archs(10, seed=0), input_shape=SHAPE, num_classes=10, dcn=0.4)
    far = architecture_frame(_far_archs(10, seed=3), input_shape=SHAPE, num_classes=10, dcn=0.4)
    assert np.ptp(np.concatenate([model.predict(near, return_std=True)[1],
                                  model.predict(far, return_std=True)[1]])) == 0
    unknown = near.assign(dcn=np.nan)  # no DCN: the whole training spread
    assert model.predict(unknown, return_std=True)[1][0] >= model.predict(near, return_std=True)[1][0]


def test_std_survives_save_and_load(fitted, training_frame, tmp_path) -> None:
    for name in ("tap_three_networks", "lightgbm", "ensemble"):
        model = fitted[name]
        path = model.save(tmp_path / f"{name}.pt")
        loaded = type(model).load(path)
        test = training_frame.iloc[:30]
        np.testing.assert_allclose(loaded.predict(test, return_std=True)[1],
                                   model.predict(test, return_std=True)[1], rtol=1e-6)


def test_std_scale_multiplies_the_std(fitted, training_frame) -> None:
    model = fitted["lightgbm"]
    test = training_frame.iloc[:20]
    base = model.predict(test, return_std=True)[1]
    model.set_params(std_scale=2 * model.std_scale)
    try:
        np.testing.assert_allclose(model.predict(test, return_std=True)[1], 2 * base)
    finally:
        model.set_params(std_scale=model.std_scale / 2)
