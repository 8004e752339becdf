"""Zero-cost proxies as optional predictor inputs: with, without and with partly missing columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tapaskit.errors import InvalidOptionError
from tapaskit.evaluation.predictor_benchmark import ABLATION_VARIANTS, run_proxy_ablation
from tapaskit.predictor import (
    PREDICTORS,
    EnsemblePredictor,
    LightGBMPredictor,
    RandomForestPredictor,
    TAPRegressor,
    make_predictor,
)
from tapaskit.predictor.inputs import PROXY_COLUMNS
from tapaskit.predictor.metrics import kendall_tau
from tapaskit.predictor.proxies import proxy_matrix
from tapaskit.predictor.synthetic import synthetic_lde

FAST = {
    "tap": {"train_steps": 40, "hidden_size": 8, "head_size": 8},
    "lightgbm": {"n_estimators": 30, "n_bags": 2, "bag_estimators": 10},
    "random_forest": {"n_estimators": 20},
    "ensemble": {"members": [("tap", TAPRegressor(train_steps=40, hidden_size=8, head_size=8)),
                             ("lightgbm", LightGBMPredictor(n_estimators=30, n_bags=2,
                                                            bag_estimators=10))],
                 "level": LightGBMPredictor(n_estimators=30, n_bags=2, bag_estimators=10)},
}


def with_proxies(frame: pd.DataFrame, share: float = 1.0, seed: int = 0,
                 noise: float = 0.5) -> pd.DataFrame:
    """Stand-in proxies: noisy signals of each network's accuracy rank within its dataset, on
    a level of their own per dataset; NaN on a ``1 - share`` of the rows."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    rank = out.groupby("dataset_name")["peak_accuracy"].rank(pct=True).to_numpy()
    level = pd.factorize(out["dataset_name"])[0]
    for j, column in enumerate(PROXY_COLUMNS):
        out[column] = 3 * rank + rng.normal(0, noise * (1 + 0.4 * j), len(out)) + level
        out.loc[rng.random(len(out)) >= share, column] = np.nan
    return out


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    bare = synthetic_lde(n_datasets=3, n_archs=30, seed=5).query()
    bare = bare.drop(columns=[c for c in bare.columns if c.startswith("prox")])
    return {"none": bare, "nan": bare.assign(**{c: np.nan for c in PROXY_COLUMNS}),
            "all": with_proxies(bare), "part": with_proxies(bare, share=0.5)}


@pytest.mark.parametrize("name", list(PREDICTORS))
def test_every_predictor_fits_and_predicts_with_and_without_proxies(frames, name) -> None:
    for fit_on in ("none", "all", "part"):
        train = frames[fit_on]
        model = make_predictor(name, **FAST.get(name, {})).fit(train, train["peak_accuracy"])
        for kind, test in frames.items():
            mean, std = model.predict(test, return_std=True)
            assert np.isfinite(mean).all() and np.isfinite(std).all(), (fit_on, kind)
            assert (std > 0).all()
        if fit_on == "none" and hasattr(model, "proxies_"):
            # fitted without proxies, it reads none: proxies at prediction change nothing
            assert model.proxies_ == []
            np.testing.assert_array_equal(model.predict(frames["all"]), model.predict(frames["none"]))


@pytest.mark.parametrize("cls", [TAPRegressor, LightGBMPredictor, RandomForestPredictor])
def test_proxies_are_read_and_can_be_switched_off(frames, cls) -> None:
    train = frames["all"]
    params = FAST[{TAPRegressor: "tap", LightGBMPredictor: "lightgbm",
                   RandomForestPredictor: "random_forest"}[cls]]
    model = cls(**params).fit(train, train["peak_accuracy"])
    assert model.proxies_ == list(PROXY_COLUMNS)
    assert not np.allclose(model.predict(frames["all"]), model.predict(frames["none"]))
    alone = cls(**params, proxies=("proxy_snip",)).fit(train, train["peak_accuracy"])
    assert alone.proxies_ == ["proxy_snip"]
    off = cls(**params, proxies=()).fit(train, train["peak_accuracy"])
    assert off.proxies_ == []
    with pytest.raises(InvalidOptionError, match="proxies must be among .* but got 'proxy_foo'"):
        cls(**params, proxies=("proxy_foo",)).fit(train, train["peak_accuracy"])


def test_proxies_help_ranking_when_they_carry_signal() -> None:
    # stand-ins that rank each dataset's networks almost perfectly (tau ~0.98), on 300 rows
    train = with_proxies(synthetic_lde(n_datasets=3, n_archs=100, seed=5, noise=0.05).query(),
                         noise=0.05)
    test = with_proxies(synthetic_lde(n_datasets=3, n_archs=40, seed=9, noise=0.05).query(),
                        seed=4, noise=0.05)
    taus = {}
    for proxies in ((), PROXY_COLUMNS):
        model = LightGBMPredictor(proxies=proxies).fit(train, train["peak_accuracy"])
        taus[len(proxies)] = np.mean([kendall_tau(part["peak_accuracy"], model.predict(part))
                                      for _, part in test.groupby("dataset_name")])
    assert taus[5] > taus[0] + 0.1  # measured 0.80 against 0.57


def test_tap_and_lightgbm_round_trip_with_proxies(frames, tmp_path) -> None:
    train = frames["part"]
    for model in (TAPRegressor(**FAST["tap"]), LightGBMPredictor(**FAST["lightgbm"]),
                  EnsemblePredictor(**FAST["ensemble"], proxies=("proxy_snip", "proxy_naswot"))):
        model.fit(train, train["peak_accuracy"])
        loaded = type(model).load(model.save(tmp_path / f"{type(model).__name__}.pt"))
        for test in (frames["all"], frames["none"]):
            np.testing.assert_allclose(loaded.predict(test), model.predict(test), rtol=0, atol=1e-12)
        assert loaded.get_params(deep=False).keys() == model.get_params(deep=False).keys()


def test_signature_changes_with_the_proxy_hyperparameters() -> None:
    base = EnsemblePredictor().signature()
    assert EnsemblePredictor(proxies=()).signature() != base
    assert TAPRegressor(proxy_dropout=0.5).signature() != TAPRegressor().signature()
    assert LightGBMPredictor(proxy_scaling="dataset").signature() != LightGBMPredictor().signature()


def test_proxy_matrix_standardises_within_each_dataset() -> None:
    frame = pd.DataFrame({"dataset_name": ["a"] * 4 + ["b"] * 3,
                          "proxy_snip": [1.0, 2.0, 3.0, np.nan, 10.0, 30.0, 20.0]})
    matrix = proxy_matrix(frame)
    j, p = PROXY_COLUMNS.index("proxy_snip"), len(PROXY_COLUMNS)
    np.testing.assert_allclose(matrix[:, j], frame["proxy_snip"])
    z = matrix[:, p + j]
    np.testing.assert_allclose(z[:3], [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert np.isnan(z[3]) and np.allclose(z[4:], [-np.sqrt(1.5), np.sqrt(1.5), 0])
    assert np.isnan(matrix[:, [i for i in range(2 * p) if i not in (j, p + j)]]).all()


def test_proxy_ablation_table(frames) -> None:
    result = run_proxy_ablation(frames["part"], predictor="lightgbm", scenarios="C",
                                variants=["none", "snip", "all"], min_experiments=20,
                                min_datasets=1)
    assert list(result["table"]) == ["none", "snip", "all"]
    assert set(ABLATION_VARIANTS) >= {"none", "all", "synflow", "naswot"}
    assert np.isfinite(result["table"]["all"]["C"]["kendall_tau_mean"])
    counts = result["rows_with_proxies"]
    assert 0 < counts["proxy_snip"] < result["experiments"] and counts["any"] <= result["experiments"]
    with pytest.raises(InvalidOptionError, match="needs a predictor that reads proxies"):
        run_proxy_ablation(frames["part"], predictor="dataset_mean", scenarios="C")
