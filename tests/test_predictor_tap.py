"""TAPRegressor: learns a known rule, is a proper scikit-learn estimator, saves and loads safely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import r2_score

from tapaskit.space.architecture import Conv, FullyConnected, Residual
from tapaskit.errors import DataError, InvalidOptionError, NotFittedError
from tapaskit.predictor import DatasetMeanPredictor, TAPRegressor, architecture_frame
from tapaskit.predictor.metrics import kendall_tau
from tapaskit.predictor.synthetic import synthetic_lde
from tapaskit.space.sampler import ArchitectureSampler

FAST = {"train_steps": 60, "hidden_size": 16, "head_size": 8}


def _mean_log2_width(arch) -> float:
    widths = [x.filters if isinstance(x, Conv) else x.units
              for layer in arch.layers
              for x in (layer.layers if isinstance(layer, Residual) else (layer,))
              if isinstance(x, (Conv, FullyConnected))]
    return float(np.mean(np.log2(widths))) if widths else 0.0


def _rule_frame(n_archs: int, seed: int = 0) -> pd.DataFrame:
    """Accuracy = a known function of depth, width and DCN (+ 0.3% noise) on 3 datasets."""
    archs = ArchitectureSampler(seed=seed, max_depth=12).sample_many(n_archs, (1, 16, 16), 10)
    rng = np.random.default_rng(seed)
    z = np.array([0.35 * (a.depth - 6) + 0.5 * (_mean_log2_width(a) - 5) for a in archs])
    frames = []
    for dcn in (0.2, 0.5, 0.8):
        frame = architecture_frame(archs, input_shape=(1, 16, 16), num_classes=10, dcn=dcn,
                                   dataset_name=f"rule-{dcn}")
        frame["peak_accuracy"] = (0.1 + (0.9 - 0.6 * dcn) / (1 + np.exp(-z))
                                  + rng.normal(0, 0.003, n_archs))
        frame["arch_id"] = np.arange(n_archs)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def small_lde() -> pd.DataFrame:
    return synthetic_lde(n_datasets=2, n_archs=30, seed=1).query()


@pytest.fixture(scope="module")
def fitted(small_lde) -> TAPRegressor:
    return TAPRegressor(**FAST).fit(small_lde, small_lde["peak_accuracy"])


@pytest.mark.slow
def test_learns_a_known_rule_on_held_out_architectures() -> None:
    frame = _rule_frame(240)
    held_out = frame["arch_id"] % 2 == 1  # half of the networks never seen in training
    train, test = frame[~held_out], frame[held_out]
    tap = TAPRegressor(train_steps=400, dropout=0.1, seed=0).fit(train, train["peak_accuracy"])
    predicted = tap.predict(test)
    taus = [kendall_tau(test.loc[test.dataset_name == d, "peak_accuracy"],
                        predicted[(test.dataset_name == d).to_numpy()])
            for d in test["dataset_name"].unique()]
    assert np.mean(taus) >= 0.9, taus
    # the DCN is used: pooled over the three datasets the ranking holds too
    assert kendall_tau(test["peak_accuracy"], predicted) >= 0.85


def test_predict_before_fit_raises_not_fitted(small_lde) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        TAPRegressor().predict(small_lde)
    with pytest.raises(NotFittedError):
        TAPRegressor().save("unused.pt")


def test_sklearn_conventions_clone_and_params(fitted) -> None:
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "networks_")
    copy.set_params(hidden_size=24, use_dcn=False)
    assert copy.hidden_size == 24 and fitted.hidden_size == 16
    with pytest.raises(TypeError):
        TAPRegressor(32)  # type: ignore[misc]  # keyword-only hyperparameters


def test_same_seed_same_predictions_other_seed_different(small_lde) -> None:
    y = small_lde["peak_accuracy"]
    first = TAPRegressor(**FAST, seed=3).fit(small_lde, y).predict(small_lde)
    again = TAPRegressor(**FAST, seed=3).fit(small_lde, y).predict(small_lde)
    other = TAPRegressor(**FAST, seed=4).fit(small_lde, y).predict(small_lde)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_does_not_touch_global_random_state_or_thread_count(small_lde) -> None:
    torch.manual_seed(0)
    expected = torch.rand(1)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    TAPRegressor(**FAST).fit(small_lde, small_lde["peak_accuracy"]).predict(small_lde)
    assert torch.rand(1) == expected
    assert torch.get_num_threads() == threads


def test_save_then_load_gives_identical_predictions(fitted, small_lde, tmp_path) -> None:
    path = fitted.save(tmp_path / "tap.pt")
    loaded = TAPRegressor.load(path)
    np.testing.assert_array_equal(loaded.predict(small_lde), fitted.predict(small_lde))
    assert loaded.get_params() == fitted.get_params()
    # the file is plain tensors + JSON text: the safe loader reads it
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"meta", "tensors"} and isinstance(blob["meta"], str)


def test_load_rejects_missing_and_foreign_files(tmp_path) -> None:
    with pytest.raises(DataError, match="no TAP predictor file"):
        TAPRegressor.load(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"meta": '{"format": "other/1"}', "tensors": {}}, foreign)
    with pytest.raises(DataError, match="format must be 'tapaskit.tap/1'"):
        TAPRegressor.load(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="not a TAP predictor file"):
        TAPRegressor.load(garbage)


def test_scores_candidates_built_from_architecture_objects(fitted) -> None:
    archs = ArchitectureSampler(seed=9).sample_many(50, (1, 16, 16), 10)
    frame = architecture_frame(archs, input_shape=(1, 16, 16), num_classes=10, dcn=0.3)
    predicted = fitted.predict(frame)
    assert predicted.shape == (50,) and np.all((predicted >= 0) & (predicted <= 1))
    # batched inference in small chunks gives the same answer as one big batch
    chunked = clone(fitted).set_params(inference_batch_size=7)
    for name in ("networks_", "step_mean_", "step_std_", "context_fill_", "context_mean_",
                 "context_std_", "is_fitted_"):
        setattr(chunked, name, getattr(fitted, name))
    np.testing.assert_allclose(chunked.predict(frame), predicted, rtol=1e-5, atol=1e-6)
    # the chunks scored side by side in threads give what one thread gives (to float rounding:
    # the matrix library's results depend slightly on memory alignment)
    in_threads = chunked.set_params(predict_threads=2).predict(frame)
    np.testing.assert_allclose(chunked.set_params(predict_threads=1).predict(frame), in_threads,
                               rtol=0, atol=1e-6)


def test_score_is_the_r2_of_held_out_predictions_and_beats_the_dataset_mean(small_lde) -> None:
    held_out = small_lde["arch_hash"].isin(small_lde["arch_hash"].unique()[::3])
    train, test = small_lde[~held_out], small_lde[held_out]
    truth = test["peak_accuracy"].to_numpy()
    tap = TAPRegressor(**{**FAST, "train_steps": 200}).fit(train, train["peak_accuracy"])
    score = tap.score(test, truth)
    assert score == pytest.approx(r2_score(truth, tap.predict(test)), abs=1e-12)
    # the architecture tells it something the dataset's mean accuracy does not; the noise
    # (and architectures it never saw) keep it below a perfect fit
    mean = DatasetMeanPredictor().fit(train, train["peak_accuracy"]).score(test, truth)
    assert mean + 0.3 < score < 1.0, (mean, score)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"hidden_size": 0}, "hidden_size must be an integer >= 1, but got 0"),
     ({"lr": -1.0}, "lr must be a positive number, but got -1.0"),
     ({"weight_decay": -0.1}, "weight_decay must be a number >= 0, but got -0.1"),
     ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\), but got 1.0"),
     ({"epochs": 2.5}, "epochs must be an integer >= 1, but got 2.5"),
     ({"n_threads": True}, "n_threads must be an integer >= 1, but got True"),
     ({"seed": -1}, "seed must be an integer >= 0, but got -1"),
     ({"device": "tpu-9"}, "device must be"),
     ({"predict_threads": 0}, "predict_threads must be an integer >= 1, but got 0")],
)
def test_bad_hyperparameters_are_rejected_at_fit(params, message, small_lde) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        TAPRegressor(**{**FAST, **params}).fit(small_lde, small_lde["peak_accuracy"])


def test_bad_targets_are_data_errors(small_lde) -> None:
    with pytest.raises(DataError, match=r"accuracies in \[0, 1\]"):
        TAPRegressor(**FAST).fit(small_lde, small_lde["peak_accuracy"] * 100)
    with pytest.raises(DataError, match="one accuracy per row"):
        TAPRegressor(**FAST).fit(small_lde, [0.5])


def test_the_cells_tanh_matches_torch_tanh_when_scoring_and_is_it_when_training() -> None:
    from tapaskit.predictor.network import _tanh

    x = torch.linspace(-30, 30, 4001, dtype=torch.float32)
    torch.testing.assert_close(_tanh(x), torch.tanh(x), atol=1e-6, rtol=0)
    assert not torch.equal(_tanh(x), torch.tanh(x))  # the scoring form is really in use
    trained = x.clone().requires_grad_(True)
    assert torch.equal(_tanh(trained), torch.tanh(trained))


def test_members_trained_side_by_side_equal_members_trained_alone(small_lde) -> None:
    y = small_lde["peak_accuracy"]
    for rank_weight, length_batches in ((0.0, False), (0.5, False), (0.0, True)):
        # the ranking loss is computed per member too; minibatches of one length keep it so
        params = {**FAST, "dropout": 0.3, "rank_weight": rank_weight,
                  "length_batches": length_batches}
        together = TAPRegressor(n_members=3, seed=5, **params).fit(small_lde, y)
        alone = [TAPRegressor(n_members=1, seed=5 + k, **params).fit(small_lde, y) for k in range(3)]
        for k, single in enumerate(alone):
            for name, value in single.networks_[0].state_dict().items():
                torch.testing.assert_close(together.networks_[k].state_dict()[name], value,
                                           atol=1e-5, rtol=1e-4, msg=f"member {k}, {name}")
        # each member saw its own minibatches and masks: they are different networks
        assert not torch.allclose(together.networks_[0].w_static, together.networks_[1].w_static)
        assert together.loss_curve_ == pytest.approx(alone[0].loss_curve_, rel=1e-4)


def test_stacked_gradient_clipping_is_each_members_own() -> None:
    from tapaskit.predictor.network import TAPNetwork
    from tapaskit.predictor.stacked import StackedTAPNetworks

    members = [TAPNetwork(6, 2, 4, 3, torch.Generator().manual_seed(k)) for k in range(3)]
    stacked = StackedTAPNetworks(members)
    for k, scale in enumerate((0.01, 5.0, 100.0)):  # below, above and far above the limit
        for stacked_p, p in zip(stacked.parameters(), members[k].parameters()):
            grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(k)) * scale
            p.grad = grad.clone()
            if stacked_p.grad is None:
                stacked_p.grad = torch.zeros_like(stacked_p)
            stacked_p.grad[k] = grad
    stacked.clip_grad_norms_(1.0)
    for k, member in enumerate(members):
        torch.nn.utils.clip_grad_norm_(member.parameters(), 1.0)
        for stacked_p, p in zip(stacked.parameters(), member.parameters()):
            torch.testing.assert_close(stacked_p.grad[k], p.grad)


def test_minibatches_of_one_length_unroll_less_and_learn_the_same_rule(small_lde, monkeypatch) -> None:
    from tapaskit.predictor.stacked import StackedTAPNetworks

    y = small_lde["peak_accuracy"]
    unrolled: list[int] = []
    forward = StackedTAPNetworks.forward

    def recording(self, steps, *args, **kwargs):
        unrolled.append(steps.shape[2])  # (M, B, T, features): the chain runs T - 1 pairs
        return forward(self, steps, *args, **kwargs)

    monkeypatch.setattr(StackedTAPNetworks, "forward", recording)
    params = {**FAST, "batch_size": 8}
    plain = TAPRegressor(**params).fit(small_lde, y)
    plain_unrolled, unrolled[:] = list(unrolled), []
    sorted_ = TAPRegressor(length_batches=True, **params).fit(small_lde, y)
    assert len(unrolled) == len(plain_unrolled)  # the same number of updates
    assert np.mean(unrolled) < 0.8 * np.mean(plain_unrolled)
    again = TAPRegressor(length_batches=True, **params).fit(small_lde, y)
    np.testing.assert_array_equal(sorted_.predict(small_lde), again.predict(small_lde))  # seeded
    assert not np.array_equal(sorted_.predict(small_lde), plain.predict(small_lde))
