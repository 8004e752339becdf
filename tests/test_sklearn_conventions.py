"""Predictors follow scikit-learn's estimator conventions where they apply to frame input.

``sklearn.utils.estimator_checks.check_estimator`` runs its API checks on every registered
predictor. Its data checks fit on generated numpy arrays, which a predictor refuses on purpose (its
input is a frame of named columns: an architecture, the dataset's shape and DCN, the schedule), so
they are listed in :data:`NUMPY_ONLY` with the reason and run here again on a real LDE frame.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from tapaskit.predictor import PREDICTORS
from tapaskit.predictor.registry import seeded_predictor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")

_NUMPY = "fits on a generated numpy array; the input is a frame of named experiment columns (checked below on one)"
#: check_estimator's checks that cannot apply to frame input, with why.
NUMPY_ONLY: dict[str, str] = {
    **{name: _NUMPY for name in (
        "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
        "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_regressors_train", "check_regressor_data_not_an_array",
        "check_regressors_no_decision_function", "check_supervised_y_2d", "check_regressors_int",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_dict_unchanged",
        "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
    )},
    "check_positive_only_tag_during_fit": "negative numpy X; a frame's shape columns must be positive and say so",
    "check_complex_data": "expects numpy's complex-data message; a frame is refused first, with its own message",
    "check_estimators_empty_data_messages": "expects numpy's '0 feature(s)' message; an empty frame is refused with ours",
    "check_estimators_nan_inf": "NaN in a numpy X; NaN is allowed in optional frame columns (DCN unknown, no proxies)",
    "check_estimator_sparse_tag": "sparse matrices carry no architecture column",
    "check_estimator_sparse_array": "sparse arrays carry no architecture column",
    "check_estimator_sparse_matrix": "sparse matrices carry no architecture column",
    "check_fit2d_1sample": "expects numpy's one-sample message; a one-row frame is valid input",
    "check_fit2d_1feature": "expects numpy's one-feature message; a frame has no feature count",
    "check_requires_y_none": "expects numpy's message for y=None; ours names the frame",
}

#: Predictors cheap enough to fit several times here (TAP's and the ensemble's fits are covered
#: by their own tests; the API checks above run on every predictor).
FAST = ("dataset_mean", "params", "random_forest", "lightgbm")


@pytest.mark.parametrize("name", list(PREDICTORS))
def test_check_estimator_api_checks_pass(name: str) -> None:
    results = check_estimator(seeded_predictor(name, 0), expected_failed_checks=NUMPY_ONLY, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    ran = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {"check_no_attributes_set_in_init", "check_get_params_invariance", "check_set_params",
            "check_estimators_unfitted", "check_estimator_cloneable", "check_mixin_order"} <= ran


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    shipped = Path(__file__).resolve().parents[1] / "lde" / "default" / "default_lde.parquet"
    rows = pd.read_parquet(shipped)
    rows = rows[rows["status"] == "ok"]
    names = sorted(rows["dataset_name"].unique())[:4]
    return (rows[rows["dataset_name"].isin(names)].groupby("dataset_name").head(40)
            .reset_index(drop=True))


@pytest.mark.parametrize("name", FAST)
def test_the_numpy_checks_hold_on_a_frame(name: str, frame: pd.DataFrame) -> None:
    y = frame["peak_accuracy"].to_numpy()
    est = seeded_predictor(name, 0)
    params = {k: (v if not hasattr(v, "get_params") else repr(v)) for k, v in est.get_params().items()}
    assert est.fit(frame, y) is est  # check_estimators_fit_returns_self
    assert {k: (v if not hasattr(v, "get_params") else repr(v)) for k, v in est.get_params().items()} == params
    # check_n_features_in: the input columns the fit read, scikit-learn's attributes for frames
    assert est.n_features_in_ == len(est.feature_names_in_) >= 5
    assert {"arch_json", "num_classes", "in_channels", "dcn", "epochs"} <= set(est.feature_names_in_)
    assert "peak_accuracy" not in set(est.feature_names_in_)  # the target is no input
    first = est.predict(frame)
    before = {k: v for k, v in est.__dict__.items() if not k.startswith("_")}
    again = est.predict(frame)
    assert set(est.__dict__) >= set(before) and np.array_equal(first, again)  # check_dict_unchanged
    order = np.random.default_rng(0).permutation(len(frame))  # check_methods_sample_order_invariance
    np.testing.assert_allclose(est.predict(frame.iloc[order]), first[order], rtol=0, atol=1e-9)
    np.testing.assert_allclose(est.predict(frame.iloc[:7]), first[:7], rtol=0, atol=1e-9)  # subset invariance
    restored = pickle.loads(pickle.dumps(est))  # check_estimators_pickle
    np.testing.assert_array_equal(restored.predict(frame), first)
    refit = clone(est).fit(frame, y)  # check_fit_idempotent (same seed, same data)
    np.testing.assert_allclose(refit.predict(frame), first, rtol=0, atol=1e-9)
    assert np.all(np.isfinite(first)) and first.shape == (len(frame),)  # check_regressors_train


def test_an_unfitted_clone_has_no_learned_attributes(frame: pd.DataFrame) -> None:
    est = seeded_predictor("dataset_mean", 0).fit(frame, frame["peak_accuracy"].to_numpy())
    fresh = clone(est)
    assert not hasattr(fresh, "n_features_in_") and not hasattr(fresh, "feature_names_in_")


@pytest.mark.parametrize("name", ("lightgbm", "ensemble"))
def test_a_saved_predictor_keeps_its_input_columns(name: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    est = seeded_predictor(name, 0)
    if name == "ensemble":  # a small one: the file round trip is what is tested
        from tapaskit.predictor import LightGBMPredictor, TAPRegressor

        est.set_params(members=[("tap", TAPRegressor(train_steps=30, hidden_size=8, head_size=8)),
                                ("lightgbm", LightGBMPredictor(n_estimators=20))],
                       level=LightGBMPredictor(n_estimators=20))
    est.fit(frame, frame["peak_accuracy"].to_numpy())
    loaded = type(est).load(est.save(tmp_path / "model.pt"))
    assert list(loaded.feature_names_in_) == list(est.feature_names_in_) and loaded.n_features_in_ == est.n_features_in_
    np.testing.assert_allclose(loaded.predict(frame), est.predict(frame), atol=1e-6)
