"""The acquisition and diversity rules of a search round, and the compact form they read."""

from __future__ import annotations

import numpy as np
import pytest

from tapaskit.errors import InvalidOptionError
from tapaskit.search.acquisition import acquisition_scores, select_diverse
from tapaskit.space.architecture import Architecture, BatchNorm, Conv, FullyConnected, Pool
from tapaskit.space.compact import compact_form, layer_tokens, token_distance
from tapaskit.space.formats import parse_architecture


def _net(*filters: int, fc: int = 32) -> Architecture:
    return Architecture([*(Conv(f, 3) for f in filters), Pool(2), FullyConnected(fc)])


def test_compact_form_names_every_layer_kind():
    arch = parse_architecture('{"layers": [{"type": "conv", "filters": 32, "kernel": 5, "stride": 2}, {"type": "bn"},'
                              '{"type": "act", "fn": "gelu"}, {"type": "pool", "kernel": 3, "stride": 2, "mode": "avg"},'
                              '{"type": "residual", "layers": [{"type": "conv", "filters": 32}, {"type": "dropout",'
                              '"rate": 0.25}]}, {"type": "gap"}, {"type": "fc", "units": 64}]}')
    assert compact_form(arch) == "C(32,5)/2-BN-GELU-AP3/2-R[C(32,3)-D0.25]-GAP-FC(64)"
    assert len(layer_tokens(arch)) == len(arch.layers)


def test_token_distance_counts_layer_edits():
    a = _net(16, 32)
    assert token_distance(a, a) == 0
    assert token_distance(a, _net(16, 64)) == 1  # one substitution
    assert token_distance(a, _net(16)) == 1  # one deletion
    assert token_distance(a, Architecture([BatchNorm()])) == 4
    assert token_distance(_net(8), _net(16, 32, fc=64)) == 3


def test_ucb_adds_the_spread_and_ei_prefers_uncertain_networks_below_the_best():
    mu, sigma = np.array([0.90, 0.88, 0.88]), np.array([0.01, 0.01, 0.05])
    assert np.allclose(acquisition_scores(mu, sigma, rule="ucb", beta=2.0), mu + 2 * sigma)
    ei = acquisition_scores(mu, sigma, rule="ei", best=0.90)
    assert ei[2] > ei[0] > ei[1] > 0  # more spread: more to gain; same spread: higher mean
    assert np.array_equal(acquisition_scores(mu, sigma, rule="greedy"), mu)
    assert np.array_equal(acquisition_scores(mu, None, rule="ucb"), mu)  # no spread known: the mean
    with pytest.raises(InvalidOptionError, match="acquisition must be one of"):
        acquisition_scores(mu, sigma, rule="thompson")


def test_a_round_never_takes_near_copies_while_others_are_left():
    archs = [_net(16, 32), _net(16, 64), _net(16, 32, fc=64), _net(8, 8, 8, fc=16), _net(64)]
    scores = np.array([0.9, 0.89, 0.88, 0.7, 0.6])
    picked = select_diverse(archs, scores, 3)
    assert picked == [0, 3, 4]  # 1 and 2 are one edit from 0
    for i in picked:
        for j in picked:
            assert i == j or token_distance(archs[i], archs[j]) >= 2
    assert select_diverse(archs, scores, 3, min_distance=0) == [0, 1, 2]  # the rule off: by score
    assert select_diverse(archs, scores, 5) == [0, 3, 4, 1, 2]  # too few distinct: the best of the rest
    assert select_diverse(archs[:2], scores[:2], 5) == [0, 1]
