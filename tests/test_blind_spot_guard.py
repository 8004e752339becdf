"""The blind-spot guard: the reward loses κ · max(0, σ − σ_ref) where the predictor is unsure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tapaskit.errors import DataError, InvalidArchitectureError, InvalidOptionError
from tapaskit.predictor import EnsemblePredictor, LightGBMPredictor, TAPRegressor, architecture_frame
from tapaskit.predictor.synthetic import synthetic_accuracy
from tapaskit.search import Reward
from tapaskit.space.architecture import Architecture
from tapaskit.space.sampler import ArchitectureSampler

SHAPE = (1, 16, 16)


def _near(n: int, seed: int) -> list:
    return ArchitectureSampler(seed=seed, max_depth=6, filters=(8, 16, 32), fc_units=(32, 64)).sample_many(n, SHAPE, 10)


def _far(n: int, seed: int) -> list:
    return ArchitectureSampler(seed=seed, min_depth=16, max_depth=24, filters=(512, 1024), fc_units=(2048, 4096),
                               p_pool=0.0).sample_many(n, SHAPE, 10)


def test_the_guard_subtracts_the_spread_beyond_the_reference() -> None:
    archs = _near(6, seed=1)
    std = np.array([0.01, 0.05, 0.10, 0.20, 0.02, 0.30])
    calls = []

    def scorer(batch):
        calls.append(len(batch))
        rows = [archs.index(a) for a in batch]
        return np.full(len(batch), 0.8), std[rows]

    reward = Reward(scorer, input_shape=SHAPE, num_classes=10, blind_spot=2.0, reference_std=0.05)
    batch = reward(archs)
    np.testing.assert_allclose(batch.predicted, 0.8)  # the prediction itself is untouched
    np.testing.assert_allclose(batch.guard, 2.0 * np.maximum(0.0, std - 0.05))
    np.testing.assert_allclose(batch.reward, 0.8 - batch.guard)
    assert reward.guarded_share == pytest.approx(3 / 6)
    again = reward(archs)  # cached: no second query, the same guard
    assert calls == [6] and np.array_equal(again.reward, batch.reward)
    restored = Reward(scorer, input_shape=SHAPE, num_classes=10, blind_spot=2.0, reference_std=0.05)
    restored.load_state_dict(reward.state_dict())  # a resumed search keeps the guard of its cache
    assert np.array_equal(restored(archs).reward, batch.reward) and calls == [6]


def test_without_a_guard_the_reward_is_the_prediction() -> None:
    archs = _near(4, seed=2)
    reward = Reward(lambda b: (np.full(len(b), 0.7), np.full(len(b), 0.9)), input_shape=SHAPE, num_classes=10)
    batch = reward(archs)
    np.testing.assert_allclose(batch.reward, 0.7)
    assert batch.guard is None and reward.guarded_share is None


def test_a_guard_needs_a_scorer_with_a_spread_and_a_valid_weight() -> None:
    reward = Reward(lambda b: np.full(len(b), 0.7), input_shape=SHAPE, num_classes=10, blind_spot=1.0)
    with pytest.raises(DataError, match=r"returns \(predicted, std\)"):
        reward(_near(2, seed=3))
    with pytest.raises(InvalidOptionError, match="blind_spot must be a number >= 0"):
        Reward(lambda b: b, input_shape=SHAPE, num_classes=10, blind_spot=-1)


@pytest.fixture(scope="module")
def predictor() -> EnsemblePredictor:
    archs = _near(80, seed=0)
    rng = np.random.default_rng(0)
    frames = []
    for dcn in (0.2, 0.4, 0.6, 0.8):
        frame = architecture_frame(archs, input_shape=SHAPE, num_classes=10, dcn=dcn, dataset_name=f"toy-{dcn}")
        frame["peak_accuracy"] = np.clip([synthetic_accuracy(a, SHAPE, 10, dcn) + rng.normal(0, 0.01)
                                          for a in archs], 0, 1)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    model = EnsemblePredictor(members=[("tap", TAPRegressor(n_members=2, train_steps=150, hidden_size=16, head_size=16)),
                                       ("lightgbm", LightGBMPredictor(n_estimators=100))],
                              level=LightGBMPredictor(n_estimators=100))
    return model.fit(frame, frame["peak_accuracy"])


def test_networks_unlike_the_training_set_lose_more_reward(predictor: EnsemblePredictor) -> None:
    def scorer(batch):
        mean, std = predictor.predict(architecture_frame(batch, input_shape=SHAPE, num_classes=10, dcn=0.5),
                                      return_std=True)
        return np.clip(mean, 0, 1), std

    seen = _near(80, seed=0)[:40]
    _, seen_std = scorer(seen)
    reward = Reward(scorer, input_shape=SHAPE, num_classes=10, blind_spot=1.0, reference_std=float(np.median(seen_std)))
    near, far = reward(_near(40, seed=7)), reward(_far(40, seed=7))
    assert np.mean(far.guard) > 2 * np.mean(near.guard)
    assert np.mean(far.predicted - far.reward) > np.mean(near.predicted - near.reward)


def test_a_warm_refit_keeps_tap_and_refits_the_rest(predictor: EnsemblePredictor) -> None:
    archs = _near(30, seed=11)
    target = architecture_frame(archs, input_shape=SHAPE, num_classes=10, dcn=0.5, dataset_name="target")
    target["peak_accuracy"] = 0.3  # the target disagrees with the window: the trees must learn it
    refit = predictor.refit(pd.concat([target] * 10, ignore_index=True), np.full(300, 0.3))
    assert refit is not predictor and refit.estimators_[0] is predictor.estimators_[0]  # TAP as fitted
    assert refit.estimators_[1] is not predictor.estimators_[1]
    before, after = predictor.predict(target), refit.predict(target)
    assert np.mean(np.abs(after - 0.3)) < np.mean(np.abs(before - 0.3))
    with pytest.raises(InvalidOptionError, match="keep must name members among tap, lightgbm"):
        predictor.refit(target, target["peak_accuracy"], keep=("nope",))


def test_the_reference_spread_skips_window_networks_that_do_not_fit_the_input(tmp_path) -> None:
    from types import SimpleNamespace

    from tapaskit.predictor.synthetic import synthetic_lde
    from tapaskit.space.shapes import infer_shapes
    from tapaskit.workflows.search import Search, SearchConfig

    store = synthetic_lde(n_datasets=6, n_archs=40, input_shape=(1, 28, 28), max_depth=12, seed=3)
    archs = [Architecture.from_json(t) for t in store.query()["arch_json"].unique()]
    fits = []
    for arch in archs:
        try:
            infer_shapes(arch, (1, 8, 8), 10)
            fits.append(arch)
        except InvalidArchitectureError:
            pass
    assert 0 < len(fits) < len(archs)  # the window holds networks that collapse at 8x8 (digits)
    search = Search(SearchConfig("digits", preset="quick", predictor="lightgbm"), out_dir=tmp_path / "out", lde=store)
    search.characterization = SimpleNamespace(dcn=0.5)
    search.fit_predictor()
    reference = search.reference_std()
    assert np.isfinite(reference) and reference > 0
    assert reference == pytest.approx(float(np.median(search.score_with_std(fits)[1])))
