"""`tapas search` fits its predictor on the DCN window once and caches it in the data home."""

from __future__ import annotations

import numpy as np

from tapaskit import paths
from tapaskit.predictor.synthetic import synthetic_lde
from tapaskit.search_pipeline import fit_predictor


def test_a_savable_predictor_is_cached_and_reloaded(home) -> None:
    store = synthetic_lde(n_datasets=4, n_archs=30, seed=3)
    frame = store.query()
    first, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    assert info["cached"] is False and info["experiments"] == 120
    files = list((paths.data_home() / "predictors").glob("lightgbm-*-0.pt"))
    assert len(files) == 1
    again, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=0)
    assert info["cached"] is True
    np.testing.assert_array_equal(again.predict(frame), first.predict(frame))
    # another seed is another predictor
    _, info = fit_predictor(store, 0.5, name="lightgbm", tau=0.05, seed=1)
    assert info["cached"] is False


def test_a_predictor_without_a_file_format_is_refitted(home) -> None:
    store = synthetic_lde(n_datasets=4, n_archs=30, seed=3)
    for _ in range(2):
        _, info = fit_predictor(store, 0.5, name="random_forest", tau=0.05, seed=0)
        assert info["cached"] is False
    assert not list((paths.data_home() / "predictors").glob("random_forest-*"))


def test_the_cache_key_follows_the_hyperparameters_members_included(monkeypatch) -> None:
    from tapaskit.predictor import EnsemblePredictor
    from tapaskit.predictor import ensemble as ensemble_module
    from tapaskit.search_pipeline import _frame_key

    frame = synthetic_lde(n_datasets=2, n_archs=10, seed=0).query()
    key = _frame_key(frame, "lightgbm", 0.1, {"n_estimators": 500})
    assert key == _frame_key(frame, "lightgbm", 0.1, {"n_estimators": 500})
    assert key != _frame_key(frame, "lightgbm", 0.1, {"n_estimators": 400})
    assert key != _frame_key(frame.iloc[1:], "lightgbm", 0.1, {"n_estimators": 500})
    # a changed default of a member shows in the members the ensemble builds
    before = [m.get_params() for m in EnsemblePredictor().build_members()]
    monkeypatch.setattr(ensemble_module, "DEFAULT_MEMBER_PARAMS", {"tap": {"n_members": 5}})
    after = [m.get_params() for m in EnsemblePredictor().build_members()]
    assert before[0]["n_members"] == 3 and after[0]["n_members"] == 5
