"""A search rescores its shortlist with the networks' zero-cost proxies when its predictor reads them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from tapaskit.datasets import load_dataset
from tapaskit.predictor import LightGBMPredictor, architecture_frame
from tapaskit.predictor.proxies import reads_proxies
from tapaskit.search.history import Candidate
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.training.zero_cost import PROXY_NAMES, compute_proxies, proxy_batch
from tapaskit.workflows.search import Search, SearchConfig

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits_frame():
    dataset = load_dataset("digits")
    archs = ArchitectureSampler(seed=0, max_depth=5, filters=(8, 16), fc_units=(32,)).sample_many(60, SHAPE, 10)
    batch = proxy_batch(dataset)
    scores = [compute_proxies(a, batch=batch).values() for a in archs]
    frame = architecture_frame(archs, input_shape=SHAPE, num_classes=10, dcn=0.9, dataset_name="digits", epochs=5)
    for name in PROXY_NAMES:
        frame[f"proxy_{name}"] = [np.nan if s[name] is None else s[name] for s in scores]
    # an accuracy the proxies explain: the fit must learn to read them
    frame["peak_accuracy"] = np.clip(0.5 + 0.1 * np.nan_to_num(frame["proxy_grad_norm"]), 0.1, 1.0)
    return frame


def _search(tmp_path, predictor) -> Search:
    search = Search(SearchConfig("digits", preset="quick"), out_dir=tmp_path / "out", lde=tmp_path / "lde.duckdb")
    search.characterization = SimpleNamespace(dcn=0.9)
    search.predictor = predictor
    return search


def _candidates(archs, predicted: float = 0.5) -> list[Candidate]:
    return [Candidate(step=i, arch=a, reward=predicted - 0.01, predicted=predicted, params=1, flops=1)
            for i, a in enumerate(archs)]


def test_the_shortlist_is_scored_with_its_proxies(tmp_path, digits_frame) -> None:
    model = LightGBMPredictor(n_estimators=60).fit(digits_frame, digits_frame["peak_accuracy"])
    assert reads_proxies(model)
    search = _search(tmp_path, model)
    archs = list(digits_frame["architecture"].iloc[:12])
    columns = search.shortlist_proxies(archs)
    assert set(columns) == {f"proxy_{n}" for n in PROXY_NAMES}
    np.testing.assert_allclose(columns["proxy_grad_norm"], digits_frame["proxy_grad_norm"].iloc[:12])  # same values
    ranked, sigma = search.rescore_shortlist(_candidates(archs))
    expected = np.clip(model.predict(search._frame(archs).assign(**columns)), 0, 1)
    np.testing.assert_allclose([c.predicted for c in ranked], expected)
    np.testing.assert_allclose([c.reward for c in ranked], expected - 0.01)  # the penalty stays
    assert sigma is not None and sigma.shape == (12,)
    without = np.clip(model.predict(search._frame(archs)), 0, 1)
    assert not np.allclose(expected, without)  # the proxies change what the predictor says
    assert search.timings["proxies"] > 0


def test_without_proxies_in_the_predictor_the_shortlist_keeps_its_scores(tmp_path, digits_frame) -> None:
    plain = digits_frame.drop(columns=[f"proxy_{n}" for n in PROXY_NAMES])
    model = LightGBMPredictor(n_estimators=60).fit(plain, plain["peak_accuracy"])
    assert not reads_proxies(model)
    search = _search(tmp_path, model)
    archs = list(digits_frame["architecture"].iloc[:5])
    assert search.shortlist_proxies(archs) is None
    ranked, sigma = search.rescore_shortlist(_candidates(archs))
    assert [c.predicted for c in ranked] == [0.5] * 5 and all(math.isfinite(s) for s in sigma)
