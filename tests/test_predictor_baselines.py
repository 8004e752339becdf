"""The baselines, the ensemble and the registry: same interface as TAP, sensible behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from tapaskit.errors import DataError, InvalidOptionError, NotFittedError
from tapaskit.predictor import (
    DEFAULT_PREDICTOR,
    PREDICTORS,
    DatasetMeanPredictor,
    EnsemblePredictor,
    LightGBMPredictor,
    ParamCountPredictor,
    RandomForestPredictor,
    TAPRegressor,
    encode_frame,
    make_predictor,
)
from tapaskit.predictor.metrics import kendall_tau
from tapaskit.predictor.synthetic import synthetic_lde

FAST_TAP = {"train_steps": 40, "hidden_size": 16, "head_size": 8}


@pytest.fixture(scope="module")
def lde_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = synthetic_lde(n_datasets=3, n_archs=120, seed=2, noise=0.003).query()
    held_out = frame["arch_hash"].isin(frame["arch_hash"].unique()[::2])
    return frame[~held_out], frame[held_out]


def _mean_tau(test: pd.DataFrame, predicted: np.ndarray) -> float:
    return float(np.mean([
        kendall_tau(test.loc[mask, "peak_accuracy"], predicted[mask.to_numpy()])
        for mask in (test["dataset_name"] == d for d in test["dataset_name"].unique())
    ]))


@pytest.mark.parametrize("cls", [LightGBMPredictor, RandomForestPredictor])
def test_tree_baselines_learn_the_synthetic_rule(cls, lde_split) -> None:
    train, test = lde_split
    model = cls().fit(train, train["peak_accuracy"])
    assert model.fit(train, train["peak_accuracy"]) is model
    assert _mean_tau(test, model.predict(test)) >= 0.8


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_every_predictor_is_a_clonable_estimator_that_checks_fitting(name, lde_split) -> None:
    train, test = lde_split
    params = FAST_TAP if name == "tap" else {}
    model = make_predictor(name, **params)
    with pytest.raises(NotFittedError, match=f"this {type(model).__name__} is not fitted yet"):
        model.predict(test)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert "use_dcn" in model.get_params()
    if name == "ensemble":
        return  # its members are fitted by the next test
    predicted = model.fit(train, train["peak_accuracy"]).predict(test)
    assert predicted.shape == (len(test),) and np.isfinite(predicted).all()


def test_dataset_mean_averages_the_nearest_datasets_in_dcn() -> None:
    frame = synthetic_lde(n_datasets=3, n_archs=5, seed=0, dcn_range=(0.1, 0.9)).query()
    y = frame["peak_accuracy"].to_numpy()
    means = frame.groupby("dcn")["peak_accuracy"].mean()  # DCNs 0.1, 0.5, 0.9
    model = DatasetMeanPredictor(k_nearest=1).fit(frame, y)
    probe = frame.iloc[:3].copy()
    probe["dcn"] = [0.12, 0.6, np.nan]
    np.testing.assert_allclose(model.predict(probe), [means[0.1], means[0.5], y.mean()])
    two = DatasetMeanPredictor(k_nearest=2).fit(frame, y).predict(probe.iloc[:1])
    assert two[0] == pytest.approx((means[0.1] + means[0.5]) / 2)
    blind = DatasetMeanPredictor(use_dcn=False).fit(frame, y).predict(probe)
    np.testing.assert_allclose(blind, y.mean())
    with pytest.raises(InvalidOptionError, match="k_nearest must be an integer >= 1"):
        DatasetMeanPredictor(k_nearest=0).fit(frame, y)


def test_param_count_ranker_is_monotone_in_parameters(lde_split) -> None:
    train, test = lde_split
    model = ParamCountPredictor(use_dcn=False).fit(train, train["peak_accuracy"])
    one = test[test["dataset_name"] == test["dataset_name"].iloc[0]]
    predicted = model.predict(one)
    assert model.coef_[0] > 0  # bigger is better under the synthetic rule
    order = np.argsort(one["params"].to_numpy())
    assert np.all(np.diff(predicted[order]) >= -1e-12)


def test_ensemble_is_the_weighted_mean_of_its_members(lde_split) -> None:
    train, test = lde_split
    y = train["peak_accuracy"]
    ensemble = EnsemblePredictor(members=("lightgbm", "params"), weights=(3, 1), target="accuracy", seed=5)
    predicted = ensemble.fit(train, y).predict(test)
    lgbm = LightGBMPredictor(seed=5).fit(train, y).predict(test)
    params = ParamCountPredictor().fit(train, y).predict(test)
    np.testing.assert_allclose(predicted, 0.75 * lgbm + 0.25 * params)
    with pytest.raises(InvalidOptionError, match="other than 'ensemble'"):
        EnsemblePredictor(members=("ensemble",)).fit(train, y)
    with pytest.raises(InvalidOptionError, match="weights must be 2 non-negative numbers"):
        EnsemblePredictor(members=("lightgbm", "params"), weights=(1,)).fit(train, y)


@pytest.mark.parametrize("name", sorted(set(PREDICTORS) - {"ensemble"}))
def test_a_given_encoding_gives_the_same_predictions(name, lde_split) -> None:
    train, test = lde_split
    model = make_predictor(name, **(FAST_TAP if name == "tap" else {}))
    model.fit(train, train["peak_accuracy"])
    np.testing.assert_array_equal(model.predict(test, encoded=encode_frame(test)),
                                  model.predict(test))
    with pytest.raises(DataError, match="the encoding has 1 rows but the frame has"):
        model.predict(test, encoded=encode_frame(test.iloc[:1]))


def test_ensemble_encodes_a_frame_once_for_all_members(lde_split, monkeypatch) -> None:
    train, test = lde_split
    members = {"tap": FAST_TAP, "lightgbm": {"n_estimators": 20}}
    ensemble = EnsemblePredictor(members=("tap", "lightgbm", "params"), weights=None,
                                 member_params=members)
    ensemble.fit(train, train["peak_accuracy"])
    expected = ensemble.predict(test)
    calls = []

    def counting(frame: pd.DataFrame):
        calls.append(len(frame))
        return encode_frame(frame)

    for module in ("base", "baselines", "ensemble"):
        monkeypatch.setattr(f"tapaskit.predictor.{module}.encode_frame", counting)
    np.testing.assert_array_equal(ensemble.predict(test), expected)
    assert calls == [len(test)]


def test_ensemble_member_params_reach_the_members(lde_split) -> None:
    train, test = lde_split
    y = train["peak_accuracy"]
    default = EnsemblePredictor()
    assert default.members == ("tap", "lightgbm") and default.weights == (2.0, 1.0)
    small = {"tap": {"n_members": 2, "train_steps": 20, "hidden_size": 8},
             "lightgbm": {"n_estimators": 10}}
    ensemble = EnsemblePredictor(member_params=small, seed=3).fit(train, y)
    tap, lgbm = ensemble.estimators_
    assert len(tap.networks_) == 2 and tap.seed == 3 and tap.train_steps == 20
    assert lgbm.n_estimators == 10 and lgbm.seed == 3
    np.testing.assert_allclose(ensemble.weights_, [2 / 3, 1 / 3])
    assert clone(ensemble).get_params()["member_params"] == small
    with pytest.raises(InvalidOptionError, match="member_params names 'rf', which is not a member"):
        EnsemblePredictor(member_params={"rf": {}}).fit(train, y)
    with pytest.raises(InvalidOptionError, match="tap has no hyperparameter 'depth'"):
        EnsemblePredictor(member_params={"tap": {"depth": 3}}).fit(train, y)


def test_registry_names_and_errors() -> None:
    assert DEFAULT_PREDICTOR in PREDICTORS
    assert set(PREDICTORS) >= {"tap", "lightgbm", "random_forest", "dataset_mean", "params"}
    assert isinstance(make_predictor("tap", hidden_size=8), TAPRegressor)
    with pytest.raises(InvalidOptionError, match="predictor must be one of tap, .*but got 'svm'"):
        make_predictor("svm")
    with pytest.raises(InvalidOptionError, match="lightgbm has no hyperparameter 'depth'"):
        make_predictor("lightgbm", depth=3)


def test_use_dcn_false_ignores_the_dcn(lde_split) -> None:
    train, test = lde_split
    shifted = test.assign(dcn=0.99)
    for cls in (LightGBMPredictor, RandomForestPredictor):
        model = cls(use_dcn=False).fit(train, train["peak_accuracy"])
        np.testing.assert_array_equal(model.predict(test), model.predict(shifted))
    tap = TAPRegressor(**FAST_TAP, use_dcn=False).fit(train, train["peak_accuracy"])
    np.testing.assert_allclose(tap.predict(test), tap.predict(shifted), rtol=1e-6)


# -- persistence -----------------------------------------------------------------------------


def test_lightgbm_save_then_load_gives_identical_predictions(lde_split, tmp_path) -> None:
    train, test = lde_split
    fitted = LightGBMPredictor(n_estimators=60, seed=4).fit(train, train["peak_accuracy"])
    loaded = LightGBMPredictor.load(fitted.save(tmp_path / "lgbm.pt"))
    np.testing.assert_array_equal(loaded.predict(test), fitted.predict(test))
    assert loaded.get_params() == fitted.get_params()
    # scoring threads change nothing in the predictions
    np.testing.assert_array_equal(fitted.set_params(predict_threads=1).predict(test),
                                  loaded.set_params(predict_threads=2).predict(test))
    blob = torch.load(tmp_path / "lgbm.pt", weights_only=True)  # the safe loader reads it
    assert set(blob) == {"meta", "tensors"} and isinstance(blob["meta"], str)
    tap_file = TAPRegressor(**FAST_TAP).fit(train, train["peak_accuracy"]).save(tmp_path / "t.pt")
    with pytest.raises(DataError, match="format must be 'tapaskit.lightgbm/1'"):
        LightGBMPredictor.load(tap_file)
    with pytest.raises(NotFittedError):
        LightGBMPredictor().save(tmp_path / "unfitted.pt")


def test_ensemble_save_then_load_gives_identical_predictions(lde_split, tmp_path) -> None:
    train, test = lde_split
    small = {"tap": {"n_members": 2, **FAST_TAP}, "lightgbm": {"n_estimators": 40}}
    fitted = EnsemblePredictor(member_params=small, seed=2).fit(train, train["peak_accuracy"])
    assert fitted.can_save
    loaded = EnsemblePredictor.load(fitted.save(tmp_path / "ensemble.pt"))
    np.testing.assert_array_equal(loaded.predict(test), fitted.predict(test))
    assert loaded.get_params() == fitted.get_params()
    assert [type(m) for m in loaded.estimators_] == [TAPRegressor, LightGBMPredictor]
    assert len(loaded.estimators_[0].networks_) == 2
    with pytest.raises(DataError, match="format must be 'tapaskit.ensemble/1'"):
        EnsemblePredictor.load(fitted.estimators_[1].save(tmp_path / "member.pt"))
    # a member without a file format: the ensemble says so instead of pickling it
    forest = EnsemblePredictor(members=("lightgbm", "random_forest"), member_params={})
    assert not forest.can_save
    forest.fit(train, train["peak_accuracy"])
    with pytest.raises(DataError, match="an ensemble of lightgbm, random_forest cannot be saved"):
        forest.save(tmp_path / "forest.pt")


def test_rank_target_ensemble_learns_ranks_and_maps_them_to_accuracies(lde_split, tmp_path) -> None:
    train, test = lde_split
    small = {"tap": {"n_members": 1, **FAST_TAP}, "lightgbm": {"n_estimators": 60}}
    ranked = EnsemblePredictor(member_params=small, target="rank", seed=1).fit(train, train["peak_accuracy"])
    # the members learnt each network's percentile rank within its dataset, not its accuracy
    ranks = train["peak_accuracy"].groupby(train["dataset_name"]).rank(pct=True)
    member = ranked.estimators_[1]
    assert kendall_tau(ranks, member.predict(train)) > 0.8
    assert abs(member.predict(train).mean() - ranks.mean()) < 0.05 < abs(ranks.mean() - train["peak_accuracy"].mean())
    predicted = ranked.predict(test)
    assert _mean_tau(test, predicted) >= 0.75  # tiny members; the mapping onto 60 reference networks ties some
    # mapped back to accuracies: the level of each dataset is the accuracy model's, not 0.5
    level = ranked.level_.predict(test)
    for name in test["dataset_name"].unique():
        mask = (test["dataset_name"] == name).to_numpy()
        assert abs(predicted[mask].mean() - level[mask].mean()) < 0.05
    # within one dataset a higher rank score never gives a lower accuracy
    mask = (test["dataset_name"] == test["dataset_name"].iloc[0]).to_numpy()
    order = np.argsort(ranked._mix(test[mask], encode_frame(test[mask])), kind="stable")
    assert np.all(np.diff(predicted[mask][order]) >= -1e-12)
    # one network at a time gives what the batch gives, up to float32 rounding: TAP's matrix
    # products round differently for a batch of 1 than for a batch of 180 (CI saw 1.4e-7)
    one_by_one = np.array([ranked.predict(test.iloc[[i]])[0] for i in range(0, len(test), 37)])
    np.testing.assert_allclose(one_by_one, predicted[::37], rtol=0, atol=1e-5)
    loaded = EnsemblePredictor.load(ranked.save(tmp_path / "ranked.pt"))
    np.testing.assert_array_equal(loaded.predict(test), predicted)
    assert loaded.get_params() == ranked.get_params() and clone(ranked).target == "rank"
    with pytest.raises(InvalidOptionError, match="target must be one of accuracy, rank, but got 'order'"):
        EnsemblePredictor(target="order").fit(train, train["peak_accuracy"])


def test_an_ensemble_file_from_before_rank_targets_loads_as_an_accuracy_ensemble(lde_split, tmp_path) -> None:
    from tapaskit.predictor.persistence import write_state

    train, test = lde_split
    old = EnsemblePredictor(members=("lightgbm",), weights=None, target="accuracy").fit(train, train["peak_accuracy"])
    meta, tensors = old.state()
    del meta["params"]["target"]  # as ensembles were saved until now
    write_state(tmp_path / "old.pt", meta, tensors)
    loaded = EnsemblePredictor.load(tmp_path / "old.pt")
    assert loaded.target == "accuracy"
    np.testing.assert_array_equal(loaded.predict(test), old.predict(test))
