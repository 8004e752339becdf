"""`tapas search` fits its predictor on the DCN window once and caches it in the data home."""

from __future__ import annotations

import json

import numpy as np

from tapaskit import paths
from tapaskit.predictor.synthetic import synthetic_lde
from tapaskit.predictor.cache import fit_predictor


def test_a_savable_predictor_is_cached_and_reloaded(home) -> None:
    store = synthetic_lde(n_datasets=4, n_archs=30, seed=3)
    frame = store.query()
    first, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    assert info.cached is False and info.experiments == 120
    files = list((paths.data_home() / "predictors").glob("lightgbm-*-0.pt"))
    assert len(files) == 1
    again, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    assert info.cached is True
    np.testing.assert_array_equal(again.predict(frame), first.predict(frame))
    # another seed is another predictor
    _, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=1)
    assert info.cached is False


def test_a_damaged_cache_entry_is_a_miss_that_is_refitted_and_overwritten(home) -> None:
    import pytest

    store = synthetic_lde(n_datasets=4, n_archs=30, seed=3)
    fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    (entry,) = (paths.data_home() / "predictors").glob("lightgbm-*-0.pt")
    entry.write_bytes(b"")  # what a kill during a non-atomic write left behind
    with pytest.warns(UserWarning, match="unreadable cached predictor"):
        _, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    assert info.cached is False and entry.stat().st_size > 0
    _, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    assert info.cached is True
    assert not list(entry.parent.glob(".*partial"))  # the atomic write left no temporary file


def test_a_predictor_without_a_file_format_is_refitted(home) -> None:
    store = synthetic_lde(n_datasets=4, n_archs=30, seed=3)
    for _ in range(2):
        _, info = fit_predictor(store, 0.5, name="random_forest", tau=0.05, seed=0)
        assert info.cached is False
    assert not list((paths.data_home() / "predictors").glob("random_forest-*"))


def test_the_cache_key_follows_the_hyperparameters_members_included(monkeypatch) -> None:
    from tapaskit.predictor import EnsemblePredictor, LightGBMPredictor, TAPRegressor
    from tapaskit.predictor import ensemble as ensemble_module
    from tapaskit.predictor.cache import cache_key

    frame = synthetic_lde(n_datasets=2, n_archs=10, seed=0).query()
    key = cache_key(frame, "lightgbm", 0.1, {"n_estimators": 500})
    assert key == cache_key(frame, "lightgbm", 0.1, {"n_estimators": 500})
    assert key != cache_key(frame, "lightgbm", 0.1, {"n_estimators": 400})
    assert key != cache_key(frame.iloc[1:], "lightgbm", 0.1, {"n_estimators": 500})

    def ensemble_key(ensemble: EnsemblePredictor) -> str:
        return cache_key(frame, "ensemble", 0.1, ensemble.signature())

    original_members = ensemble_module.default_members

    def members(n_members: int) -> list:  # the default members, with n_members TAP networks
        (tap_name, tap), other = original_members()
        return [(tap_name, tap.set_params(n_members=n_members)), other]

    # the signature is plain data, the same for equal ensembles, other for other members
    default = EnsemblePredictor()
    assert json.loads(json.dumps(default.signature())) == default.signature()
    before = ensemble_key(default)
    assert before == ensemble_key(EnsemblePredictor()) == ensemble_key(EnsemblePredictor(members=members(3)))
    assert ensemble_key(EnsemblePredictor(members=members(5))) != before
    assert ensemble_key(EnsemblePredictor(level=LightGBMPredictor(num_leaves=31))) != before
    assert ensemble_key(EnsemblePredictor(seed=1)) != before
    # a changed default member shows too, although the ensemble's own parameters stay None
    monkeypatch.setattr(ensemble_module, "default_members", lambda: members(5))
    assert EnsemblePredictor().get_params() == default.get_params()
    assert ensemble_key(EnsemblePredictor()) == ensemble_key(EnsemblePredictor(members=members(5))) != before
    assert EnsemblePredictor().signature()["members"][0][1]["params"]["n_members"] == 5


def test_a_repeated_search_reuses_the_fit_its_predecessor_made(home) -> None:
    # the rows an earlier search recorded for its own dataset do not change the next search's window
    import dataclasses

    store = synthetic_lde(n_datasets=4, n_archs=30, seed=3)
    target = store.datasets()[0].fingerprint
    _, first = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0, target=target)
    row = store.get_experiment(1)
    store.add_experiment(dataclasses.replace(row, dataset_fingerprint=target, source="search", key="search/x/1"))
    _, again = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0, target=target)
    assert first.cached is False and again.cached is True and again.experiments == first.experiments
    _, other = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)  # without a target they count
    assert other.experiments == first.experiments + 1 and other.cached is False
