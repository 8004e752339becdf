"""`tapas benchmark search`: the percentile arithmetic and pick quality on a synthetic LDE."""

from __future__ import annotations

import numpy as np
import pytest

from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor.synthetic import synthetic_lde
from tapaskit.evaluation.search_benchmark import percentile_of, random_picks_percentile, run_search_benchmark


def test_percentiles_by_hand() -> None:
    pool = np.array([0.1, 0.2, 0.3, 0.4])
    assert percentile_of(pool, 0.4) == 100.0 and percentile_of(pool, 0.2) == 50.0
    # one pick from four: each rank 25, 50, 75, 100 equally likely -> 62.5 on average
    rng = np.random.default_rng(0)
    assert random_picks_percentile(pool, 1, rng, draws=20_000) == pytest.approx(62.5, abs=1.0)
    assert random_picks_percentile(pool, 4, rng) == 100.0  # picking all finds the best


@pytest.fixture(scope="module")
def store():
    # the synthetic rule: accuracy a known function of depth, width and DCN, on every dataset
    return synthetic_lde(n_datasets=4, n_archs=40, seed=9)


def test_picks_beat_random_picks_on_a_learnable_rule(store) -> None:
    report = run_search_benchmark(store, predictor="lightgbm", picks=3, track=False)
    assert report["datasets"] == 4 and report["unseen_architectures"] is False
    assert all(d["pool"] == 40 for d in report["per_dataset"].values())
    assert report["tap_best_percentile_mean"] > report["random_best_percentile_mean"] + 5


def test_unseen_architectures_pick_from_pools_the_predictor_never_saw(store) -> None:
    report = run_search_benchmark(store, predictor="lightgbm", picks=3, track=False,
                                  unseen_architectures=True)
    assert report["unseen_architectures"] is True
    for entry in report["per_dataset"].values():
        assert entry["pool"] == 20  # two folds of the 40 architectures
        assert entry["train_experiments"] == 3 * 20  # the fold's architectures are left out
    assert report["tap_best_percentile_mean"] > report["random_best_percentile_mean"]


def test_too_few_datasets_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="needs >= 2 datasets with a DCN"):
        run_search_benchmark(synthetic_lde(n_datasets=1, n_archs=30, seed=0), track=False)


@pytest.mark.parametrize("options, message", [
    ({"picks": 0}, "picks must be an integer >= 1, but got 0"),
    ({"min_pool": 0}, "min_pool must be an integer >= 1"),
    ({"tau": -0.1}, "tau must be a number >= 0, but got -0.1"),
])
def test_bad_options_are_refused_before_any_fit(options, message) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        run_search_benchmark(synthetic_lde(n_datasets=3, n_archs=30, seed=0), track=False, **options)
