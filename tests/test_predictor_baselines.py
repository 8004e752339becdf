"""The baselines, the ensemble and the registry: same interface as TAP, sensible behaviour."""

from __future__ import annotations

import json

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
from tapaskit.predictor.ensemble import default_members
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
    members = [("lightgbm", LightGBMPredictor()), ("params", ParamCountPredictor())]
    ensemble = EnsemblePredictor(members=members, weights=(3, 1), target="accuracy", seed=5)
    predicted = ensemble.fit(train, y).predict(test)
    lgbm = LightGBMPredictor(seed=5).fit(train, y).predict(test)
    params = ParamCountPredictor().fit(train, y).predict(test)
    np.testing.assert_allclose(predicted, 0.75 * lgbm + 0.25 * params)
    pairs = r"members must be a non-empty list of \(name, predictor\) pairs with distinct names"
    for bad in (("lightgbm", "params"), [], [("a", LightGBMPredictor()), ("a", ParamCountPredictor())],
                [("svm", object())]):
        with pytest.raises(InvalidOptionError, match=pairs):
            EnsemblePredictor(members=bad).fit(train, y)
    with pytest.raises(InvalidOptionError, match="weights must be 2 non-negative numbers"):
        EnsemblePredictor(members=members, weights=(1,)).fit(train, y)
    with pytest.raises(InvalidOptionError, match="level must be a predictor or None, but got 'lightgbm'"):
        EnsemblePredictor(members=members, level="lightgbm").fit(train, y)


def test_ensemble_fits_clones_of_its_members_with_its_seed_and_use_dcn(lde_split) -> None:
    train, _ = lde_split
    y = train["peak_accuracy"]
    default = EnsemblePredictor()
    assert default.members is None and default.weights == (2.0, 1.0) and default.level is None
    # members=None is default_members(): TAP over three seeds and a LightGBM of 250 trees
    explicit = EnsemblePredictor(members=default_members())
    assert [(n, type(m), m.get_params()) for n, m in default_members()] == [
        ("tap", TAPRegressor, TAPRegressor(n_members=3, length_batches=True).get_params()),
        ("lightgbm", LightGBMPredictor,
         LightGBMPredictor(n_estimators=250, learning_rate=0.06).get_params())]
    assert json.dumps(explicit.signature(), default=str) == json.dumps(default.signature(), default=str)
    tap = TAPRegressor(n_members=2, train_steps=20, hidden_size=8)
    lgbm = LightGBMPredictor(n_estimators=10, use_dcn=True)
    ensemble = EnsemblePredictor(members=[("tap", tap), ("lightgbm", lgbm)],
                                 level=LightGBMPredictor(n_estimators=30), use_dcn=False, seed=3).fit(train, y)
    fitted_tap, fitted_lgbm = ensemble.estimators_
    assert len(fitted_tap.networks_) == 2 and fitted_tap.train_steps == 20
    assert fitted_lgbm.n_estimators == 10 and ensemble.level_.n_estimators == 30
    for fitted in (fitted_tap, fitted_lgbm, ensemble.level_):  # handed to every clone
        assert fitted.seed == 3 and fitted.use_dcn is False
        assert fitted.std_scale == 1.0  # the ensemble calibrates its mixture with its own
    # the objects handed in are templates: never fitted, never reconfigured
    assert not hasattr(tap, "networks_") and not hasattr(lgbm, "booster_")
    assert tap.seed == 0 and lgbm.use_dcn is True
    np.testing.assert_allclose(ensemble.weights_, [2 / 3, 1 / 3])
    copy = clone(ensemble)
    assert [name for name, _ in copy.members] == ["tap", "lightgbm"]
    assert [m.get_params() for _, m in copy.members] == [tap.get_params(), lgbm.get_params()]
    assert copy.signature() == ensemble.signature() and not hasattr(copy, "estimators_")
    # nested parameters of the level model are reachable as scikit-learn's are
    assert copy.set_params(level__n_estimators=40).level.n_estimators == 40


def test_the_ensemble_module_never_imports_the_registry() -> None:
    import ast
    import inspect

    from tapaskit.predictor import ensemble as ensemble_module

    tree = ast.parse(inspect.getsource(ensemble_module))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert "tapaskit.predictor.tap" in imported  # the walk sees the imports at all
    assert not any("registry" in name for name in imported), sorted(imported)


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
    members = [("tap", TAPRegressor(**FAST_TAP)), ("lightgbm", LightGBMPredictor(n_estimators=20)),
               ("params", ParamCountPredictor())]
    ensemble = EnsemblePredictor(members=members, weights=None, target="accuracy")
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


def test_registry_names_and_errors() -> None:
    assert DEFAULT_PREDICTOR in PREDICTORS
    default = make_predictor("ensemble")
    assert isinstance(default, EnsemblePredictor) and default.get_params() == EnsemblePredictor().get_params()
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
    small = [("tap", TAPRegressor(n_members=2, **FAST_TAP)), ("lightgbm", LightGBMPredictor(n_estimators=40))]
    fitted = EnsemblePredictor(members=small, target="accuracy", seed=2).fit(train, train["peak_accuracy"])
    assert fitted.can_save
    loaded = EnsemblePredictor.load(fitted.save(tmp_path / "ensemble.pt"))
    np.testing.assert_array_equal(loaded.predict(test), fitted.predict(test))
    assert loaded.signature() == fitted.signature() and loaded.target == "accuracy"
    assert [type(m) for m in loaded.estimators_] == [TAPRegressor, LightGBMPredictor]
    assert [name for name, _ in loaded.members] == ["tap", "lightgbm"]
    assert len(loaded.estimators_[0].networks_) == 2
    with pytest.raises(DataError, match="format must be 'tapaskit.ensemble/1'"):
        EnsemblePredictor.load(fitted.estimators_[1].save(tmp_path / "member.pt"))
    # members are found by the format of their nested state, an ensemble among them
    inner = EnsemblePredictor(members=[("lightgbm", LightGBMPredictor(n_estimators=20))], weights=None,
                              target="accuracy")
    nested = EnsemblePredictor(members=[("inner", inner), ("lgbm", LightGBMPredictor(n_estimators=10))],
                               weights=None, target="accuracy").fit(train, train["peak_accuracy"])
    again = EnsemblePredictor.load(nested.save(tmp_path / "nested.pt"))
    assert [type(m) for m in again.estimators_] == [EnsemblePredictor, LightGBMPredictor]
    np.testing.assert_array_equal(again.predict(test), nested.predict(test))
    # a member without a file format: the ensemble says so instead of pickling it
    forest = EnsemblePredictor(members=[("lightgbm", LightGBMPredictor()),
                                        ("random_forest", RandomForestPredictor())])
    assert not forest.can_save
    forest.fit(train, train["peak_accuracy"])
    with pytest.raises(DataError, match="an ensemble of lightgbm, random_forest cannot be saved: "
                                        "random_forest has no file format"):
        forest.save(tmp_path / "forest.pt")
    # with target="rank" the level model is saved too; with "accuracy" it is not used
    lgbm_only = [("lightgbm", LightGBMPredictor())]
    assert not EnsemblePredictor(members=lgbm_only, weights=None, level=RandomForestPredictor()).can_save
    assert EnsemblePredictor(members=lgbm_only, weights=None, level=RandomForestPredictor(),
                             target="accuracy").can_save


def test_rank_target_ensemble_learns_ranks_and_maps_them_to_accuracies(lde_split, tmp_path) -> None:
    train, test = lde_split
    small = [("tap", TAPRegressor(n_members=1, **FAST_TAP)), ("lightgbm", LightGBMPredictor(n_estimators=60))]
    ranked = EnsemblePredictor(members=small, target="rank", seed=1).fit(train, train["peak_accuracy"])
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
    assert loaded.signature() == ranked.signature() and clone(ranked).target == "rank"
    assert type(loaded.level_) is LightGBMPredictor and loaded.level_.seed == 1
    with pytest.raises(InvalidOptionError, match="target must be one of accuracy, rank, but got 'order'"):
        EnsemblePredictor(target="order").fit(train, train["peak_accuracy"])


def test_an_ensemble_file_from_before_rank_targets_loads_as_an_accuracy_ensemble(lde_split, tmp_path) -> None:
    from tapaskit.predictor.persistence import write_state

    train, test = lde_split
    y = train["peak_accuracy"]
    old = EnsemblePredictor(members=[("lightgbm", LightGBMPredictor(n_estimators=50))], weights=None,
                            target="accuracy").fit(train, y)
    meta, tensors = old.state()
    # as ensembles were saved before rank targets and member objects: registry names of the
    # members and their hyperparameters by name, no target
    del meta["params"]["target"]
    meta["params"]["member_params"] = {"lightgbm": {"n_estimators": 50}}
    assert meta["params"]["members"] == ["lightgbm"]
    write_state(tmp_path / "old.pt", meta, tensors)
    loaded = EnsemblePredictor.load(tmp_path / "old.pt")
    assert loaded.target == "accuracy"
    np.testing.assert_array_equal(loaded.predict(test), old.predict(test))
    # its members are the saved ones, unfitted: refitting it fits the same ensemble again
    (name, member), = loaded.members
    assert name == "lightgbm" and type(member) is LightGBMPredictor and member.n_estimators == 50
    np.testing.assert_array_equal(clone(loaded).fit(train, y).predict(test), old.predict(test))
