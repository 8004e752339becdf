"""Zero-cost proxies: seeded, finite or None, right by hand on a tiny network, carried by the trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lde import PROXY_FIELDS

from tapaskit.datasets import Dataset
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError
from tapaskit.space.architecture import Architecture, FullyConnected
from tapaskit.space.builder import build_module
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.training import zero_cost
from tapaskit.training.trainer import Hyperparameters, train_architecture
from tapaskit.training.zero_cost import PROXY_NAMES, ProxyScores, compute_proxies, proxy_batch

SMALL = Architecture.from_dict({"layers": [
    {"type": "conv", "filters": 8, "kernel": 3}, {"type": "bn"}, {"type": "act"},
    {"type": "dropout", "rate": 0.5}, {"type": "pool", "kernel": 2},
    {"type": "fc", "units": 16}, {"type": "act", "fn": "gelu"},
]})


def tiny_dataset(n: int = 40, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(name="tiny", x=rng.random((n, 1, 2, 2), dtype=np.float32), y=np.arange(n) % 2)


def test_names_match_the_lde_columns() -> None:
    assert PROXY_NAMES == PROXY_FIELDS


def test_same_seed_same_values_other_seed_other_values(digits: Dataset) -> None:
    state = torch.get_rng_state()
    first = compute_proxies(SMALL, digits)
    assert torch.equal(state, torch.get_rng_state())  # the caller's global RNG is left as it was
    again = compute_proxies(SMALL, digits, batch=proxy_batch(digits))
    assert first.values() == again.values() and all(v is not None for v in first.values().values())
    other = compute_proxies(SMALL, digits, seed=1)
    assert other.values() != first.values() and other.seed == 1
    assert (first.seed, first.batch_size) == (0, 64) and first.seconds > 0


def test_minibatch_comes_from_the_training_part_and_never_the_test_part(digits: Dataset) -> None:
    batch = proxy_batch(digits, batch_size=32)
    assert batch.x.shape == (32, 1, 8, 8) and batch.y.dtype == torch.int64
    train_idx, _ = digits.split(val_fraction=zero_cost.PROXY_VAL_FRACTION, seed=0)
    assert not set(digits.test_indices()) & set(train_idx)
    # every sample is a training sample, standardised with the training part's statistics
    x_train = torch.from_numpy(digits.x[train_idx])
    raw = (batch.x * x_train.std() + x_train.mean()).reshape(32, -1).numpy()
    rows = x_train.reshape(len(train_idx), -1).numpy()
    assert all(np.abs(rows - r).max(axis=1).min() < 1e-5 for r in raw)
    with pytest.raises(InvalidOptionError, match="batch_size must be an integer >= 2"):
        proxy_batch(digits, batch_size=1)
    with pytest.raises(InvalidOptionError, match="drawn with seed 0, but seed=3"):
        compute_proxies(SMALL, batch=batch, seed=3)


def test_finite_or_none_on_50_sampled_architectures(digits: Dataset) -> None:
    sampler = ArchitectureSampler(seed=7, max_depth=6, filters=(4, 8, 16), fc_units=(16, 32))  # small: seconds
    archs = sampler.sample_many(50, digits.input_shape, digits.num_classes)
    batch = proxy_batch(digits)
    nones = dict.fromkeys(PROXY_NAMES, 0)
    for arch in archs:
        scores = compute_proxies(arch, batch=batch)
        for name, value in scores.values().items():
            assert value is None or (isinstance(value, float) and math.isfinite(value)), (name, arch.to_json())
            nones[name] += value is None
    assert all(n <= 10 for n in nones.values()), nones  # the exception, not the rule


def test_an_invalid_network_is_refused() -> None:
    with pytest.raises(InvalidArchitectureError):
        compute_proxies(Architecture.from_dict({"layers": [{"type": "pool", "kernel": 4}]}), tiny_dataset())


class _Infinite(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("inf")


def test_a_network_that_yields_inf_gives_none_not_nan(digits: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    real = zero_cost.build_module
    monkeypatch.setattr(zero_cost, "build_module",
                        lambda *args: nn.Sequential(*real(*args), _Infinite()))
    scores = compute_proxies(SMALL, digits)
    values = scores.values()
    assert values["synflow"] is None and values["snip"] is None and values["grad_norm"] is None
    assert values["jacob_cov"] is None
    assert all(v is None or math.isfinite(v) for v in values.values())


def test_degenerate_matrices_give_none() -> None:
    assert zero_cost._jacob_cov(np.ones((4, 6))) is None  # constant rows: no correlation
    assert zero_cost._naswot(np.ones((3, 3))) is None  # singular kernel: log det = -inf
    assert zero_cost._naswot(np.diag([2.0, 4.0])) == pytest.approx(math.log(8.0))


def test_hand_checked_values_on_a_two_layer_linear_network() -> None:
    """synflow, snip and grad_norm of Linear(4, 3) -> Linear(3, 2), computed with numpy by hand."""
    ds = tiny_dataset()
    arch = Architecture((FullyConnected(units=3),))
    scores = compute_proxies(arch, ds, batch_size=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_module(arch, (1, 2, 2), 2)
    w1, b1 = (t.detach().double().numpy() for t in (net[0][1].weight, net[0][1].bias))  # (3, 4), (3,)
    w2 = net[1].weight.detach().double().numpy()  # (2, 3)
    # synflow: |θ|, input ones, R = sum of outputs; dR/dW2[k, j] = h_j, dR/dW1[j, i] = sum_k |W2|[k, j]
    h = np.abs(w1) @ np.ones(4) + np.abs(b1)
    synflow = (np.abs(w2) * h[None, :]).sum() + (np.abs(w1) * np.abs(w2).sum(0)[:, None]).sum()
    assert scores.synflow == pytest.approx(math.log10(1 + synflow), rel=1e-9)
    # snip and grad_norm: mean cross-entropy of the standardised minibatch
    batch = proxy_batch(ds, batch_size=16)
    x, y = batch.x.reshape(16, 4).double().numpy(), batch.y.numpy()
    hidden = x @ w1.T + b1
    logits = hidden @ w2.T + net[1].bias.detach().double().numpy()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d_logits = (p - np.eye(2)[y]) / len(y)
    g2, g1 = d_logits.T @ hidden, (d_logits @ w2).T @ x
    assert scores.snip == pytest.approx(math.log10(np.abs(w1 * g1).sum() + np.abs(w2 * g2).sum()), rel=1e-5)
    assert scores.grad_norm == pytest.approx(math.log10(math.sqrt((g1 ** 2).sum() + (g2 ** 2).sum())), rel=1e-5)
    # a linear network has one Jacobian for every sample: the correlation matrix is all ones
    eig = np.array([16.0] + [0.0] * 15)
    raw = -np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5))
    assert scores.jacob_cov == pytest.approx(-math.log10(-raw), rel=1e-6)
    assert scores.naswot is None  # no activation layer: no codes, K = 0


def test_scores_round_trip_through_a_dict() -> None:
    scores = compute_proxies(Architecture((FullyConnected(units=3),)), tiny_dataset())
    assert ProxyScores.from_dict(scores.to_dict()) == scores
    assert ProxyScores.from_dict(None) is None and ProxyScores.from_dict({"synflow": 1.0}) is None


def test_the_trainer_carries_the_proxies_a_backfill_computes(digits: Dataset) -> None:
    hp = Hyperparameters(epochs=1, batch_size=64, max_train=200)
    with_proxies = train_architecture(SMALL, digits, hp, seed=3)
    without = train_architecture(SMALL, digits, hp, seed=3, proxies=False)
    assert with_proxies.ok and without.proxies is None
    assert with_proxies.curve == without.curve  # the training itself is untouched
    assert with_proxies.proxies.values() == compute_proxies(SMALL, digits).values()  # any training seed
    assert with_proxies.to_dict()["proxies"]["naswot"] == with_proxies.proxies.naswot


def test_a_failing_proxy_computation_never_fails_the_training(digits: Dataset,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import tapaskit.training.trainer as trainer

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no proxies today")

    monkeypatch.setattr(trainer, "compute_proxies", broken)
    result = train_architecture(SMALL, digits, Hyperparameters(epochs=1, max_train=100))
    assert result.ok and result.proxies is None
