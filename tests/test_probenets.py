"""Tests of probenets: the DCN formula, the probe registry and shapes, and characterize()."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from probenets import (
    AVERAGE_LAST,
    DEFAULT_PROBE,
    PROBES,
    ProbeError,
    ProbeInputError,
    ProbeOptionError,
    ProbeResult,
    ProbeTrainingError,
    UnknownProbeError,
    chance_accuracy,
    characterize,
    dcn_from_accuracy,
    get_probe,
    stratified_split,
)

# Small and quick: the probe trains on a few hundred 8x8 images for a few epochs; one thread
# because torch's threads wait for each other on a CPU that other jobs keep busy.
FAST = {"epochs": 3, "batch_size": 32, "device": "cpu", "num_threads": 1}


def blobs(n: int = 240, num_classes: int = 2, shape: tuple[int, int, int] = (1, 8, 8),
          noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each class is a fixed random image plus Gaussian noise: easy for any probe."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(num_classes, *shape)).astype(np.float32)
    y = np.arange(n) % num_classes
    x = prototypes[y] + noise * rng.normal(size=(n, *shape)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def flip_labels(y: np.ndarray, fraction: float, num_classes: int, seed: int = 0) -> np.ndarray:
    """Replace ``fraction`` of the labels by a different, random class."""
    rng = np.random.default_rng(seed)
    y = y.copy()
    idx = rng.choice(len(y), int(fraction * len(y)), replace=False)
    y[idx] = (y[idx] + rng.integers(1, num_classes, len(idx))) % num_classes
    return y


# --- the DCN -----------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_dcn_is_zero_at_chance_and_one_at_perfection(k: int) -> None:
    assert dcn_from_accuracy(1.0 / k, k) == pytest.approx(0.0, abs=1e-12)
    assert dcn_from_accuracy(1.0, k) == 1.0
    assert chance_accuracy(k) == pytest.approx(1.0 / k)


def test_dcn_is_clipped_below_chance() -> None:
    assert dcn_from_accuracy(0.0, 2) == 0.0
    assert dcn_from_accuracy(0.3, 2) == 0.0
    assert dcn_from_accuracy(0.05, 10) == 0.0


@pytest.mark.parametrize("k", [2, 10])
def test_dcn_is_monotone_in_accuracy(k: int) -> None:
    values = [dcn_from_accuracy(a, k) for a in np.linspace(0.0, 1.0, 101)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    above_chance = [dcn_from_accuracy(a, k) for a in np.linspace(1.0 / k + 0.01, 1.0, 50)]
    assert all(b > a for a, b in zip(above_chance, above_chance[1:]))
    assert all(0.0 <= v <= 1.0 for v in values)


def test_dcn_is_class_count_aware() -> None:
    # 60 % is barely above chance on 2 classes but far above it on 10.
    assert dcn_from_accuracy(0.6, 2) == pytest.approx(0.2)
    assert dcn_from_accuracy(0.6, 10) == pytest.approx((0.6 - 0.1) / 0.9)
    assert dcn_from_accuracy(0.6, 10) > dcn_from_accuracy(0.6, 2)


@pytest.mark.parametrize("acc", [-0.1, 1.2, math.nan, math.inf, "0.5", None, True])
def test_dcn_rejects_bad_accuracy(acc: object) -> None:
    with pytest.raises(ProbeInputError, match="accuracy must be"):
        dcn_from_accuracy(acc, 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, True])
def test_dcn_rejects_bad_class_count(k: object) -> None:
    with pytest.raises(ProbeInputError, match="num_classes must be"):
        dcn_from_accuracy(0.9, k)  # type: ignore[arg-type]


def test_dcn_accepts_numpy_scalars() -> None:
    assert dcn_from_accuracy(np.float32(0.55), np.int64(10)) == pytest.approx(0.5, abs=1e-6)


# --- probes ------------------------------------------------------------------------------------

def test_registry_lists_versions_and_unknown_names_are_explained() -> None:
    assert "convnet-bn" in PROBES and len(PROBES) >= 2
    for name, spec in PROBES.items():
        assert spec.name == name and spec.version and spec.lr > 0
    assert get_probe("convnet-bn") is PROBES["convnet-bn"]
    with pytest.raises(UnknownProbeError, match=r"probe must be one of .*convnet-bn.*'resnet'"):
        get_probe("resnet")
    assert issubclass(UnknownProbeError, KeyError)


@pytest.mark.parametrize("name", sorted(PROBES))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (1, 1, 40), (1, 28, 28), (2, 5, 3)])
@pytest.mark.parametrize("k", [2, 7])
def test_probe_adapts_to_shape_and_class_count(
    name: str, shape: tuple[int, int, int], k: int,
) -> None:
    model = PROBES[name].build(shape, k, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, *shape)  # (B, C, H, W)
    logits = model(x)
    assert logits.shape == (4, k)
    assert torch.isfinite(logits).all()
    logits.sum().backward()  # trainable end to end


def test_probe_build_is_seeded_and_leaves_global_rng_alone() -> None:
    spec = PROBES["convnet-bn"]
    before = torch.random.get_rng_state()
    a = spec.build((1, 8, 8), 3, generator=torch.Generator().manual_seed(5)).state_dict()
    b = spec.build((1, 8, 8), 3, generator=torch.Generator().manual_seed(5)).state_dict()
    c = spec.build((1, 8, 8), 3, generator=torch.Generator().manual_seed(6)).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a[key], c[key]) for key in a)


@pytest.mark.parametrize("shape, k, match", [
    ((8, 8), 2, "input_shape must be three positive integers"),
    ((1, 0, 8), 2, "input_shape must be three positive integers"),
    ((1, 8, 8), 1, "num_classes >= 2"),
])
def test_probe_build_rejects_bad_shapes(shape: tuple[int, ...], k: int, match: str) -> None:
    with pytest.raises(ProbeInputError, match=match):
        PROBES["convnet-bn"].build(shape, k, generator=torch.Generator())  # type: ignore[arg-type]


# --- stratified subsample ----------------------------------------------------------------------

def test_split_is_stratified_bounded_disjoint_and_seeded() -> None:
    y = np.repeat(np.arange(4), [500, 300, 150, 50])
    counts = np.bincount(y)
    train, val = stratified_split(y, counts, max_train=400, max_val=100, seed=0)
    assert len(train) == 400 and len(val) == 100
    assert not set(train) & set(val)
    # Every class in proportion to its share, in both parts.
    np.testing.assert_allclose(np.bincount(y[train]) / 400, counts / len(y), atol=0.01)
    np.testing.assert_allclose(np.bincount(y[val]) / 100, counts / len(y), atol=0.02)
    again = stratified_split(y, counts, max_train=400, max_val=100, seed=0)
    other = stratified_split(y, counts, max_train=400, max_val=100, seed=1)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(train, other[0])


def test_split_keeps_every_class_in_both_parts_even_when_tiny() -> None:
    y = np.array([0] * 40 + [1] * 2 + [2] * 3)
    train, val = stratified_split(y, np.bincount(y), max_train=100, max_val=100, seed=0)
    assert set(y[train]) == {0, 1, 2} and set(y[val]) == {0, 1, 2}
    assert len(train) + len(val) <= len(y)


# --- characterize ------------------------------------------------------------------------------

def test_characterize_returns_a_complete_result() -> None:
    x, y = blobs(num_classes=3)
    calls: list[tuple[int, int, float]] = []
    result = characterize(x, y, seed=0, progress=lambda *a: calls.append(a), **FAST)
    assert isinstance(result, ProbeResult)
    assert 0.0 <= result.dcn <= 1.0
    assert result.dcn == pytest.approx(dcn_from_accuracy(result.probe_accuracy, 3))
    assert result.num_classes == 3 and result.chance_accuracy == pytest.approx(1 / 3)
    assert result.probe == DEFAULT_PROBE and result.probe_version == PROBES[DEFAULT_PROBE].version
    assert result.n_train + result.n_val == len(y)
    assert result.n_val == 60  # 25 % of 240
    assert len(result.val_accuracies) == AVERAGE_LAST
    assert result.probe_accuracy == pytest.approx(np.mean(result.val_accuracies))
    assert result.device == "cpu" and result.seconds > 0 and result.epochs == 3
    assert [c[:2] for c in calls] == [(1, 3), (2, 3), (3, 3)]
    assert all(math.isfinite(c[2]) for c in calls)
    assert result.to_dict()["val_accuracies"] == list(result.val_accuracies)


def test_characterize_caps_the_subsample() -> None:
    x, y = blobs(n=600)
    result = characterize(x, y, max_train=100, max_val=50, **FAST)
    assert (result.n_train, result.n_val) == (100, 50)


def test_same_seed_same_dcn_other_seed_other_training() -> None:
    x, y = blobs(num_classes=4, noise=3.0)
    first = characterize(x, y, seed=1, **FAST)
    again = characterize(x, y, seed=1, **FAST)
    other = characterize(x, y, seed=2, **FAST)
    assert first.dcn == again.dcn
    assert first.val_accuracies == again.val_accuracies
    # The initialisation and batch order change with the seed, and so does the trained probe.
    first_loss: list[float] = []
    other_loss: list[float] = []
    characterize(x, y, seed=1, progress=lambda e, n, loss: first_loss.append(loss), **FAST)
    characterize(x, y, seed=2, progress=lambda e, n, loss: other_loss.append(loss), **FAST)
    assert first_loss != other_loss
    assert other.seed == 2 and other.split_seed == 0


def test_characterize_leaves_global_rng_alone() -> None:
    x, y = blobs()
    before = torch.random.get_rng_state()
    np_before = np.random.get_state()[1].copy()
    characterize(x, y, **FAST)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert np.array_equal(np.random.get_state()[1], np_before)


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_easy_data_beats_the_same_data_with_heavy_label_noise(probe: str) -> None:
    x, y = blobs(n=400, num_classes=4, noise=1.0)
    noisy = flip_labels(y, 0.6, 4)
    clean = characterize(x, y, probe=probe, **FAST)
    hard = characterize(x, noisy, probe=probe, **FAST)
    assert clean.dcn > 0.8
    assert clean.dcn > hard.dcn + 0.3


def test_characterize_handles_odd_shapes_and_integer_pixels() -> None:
    x, y = blobs(n=120, num_classes=3, shape=(1, 1, 40))
    assert characterize(x, y, **FAST).num_classes == 3
    pixels = (np.clip(x, -2, 2) * 60 + 128).astype(np.uint8)
    assert 0.0 <= characterize(pixels, y, **FAST).dcn <= 1.0


# --- input errors ------------------------------------------------------------------------------

def _bad_inputs() -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    x, y = blobs(n=40)
    nan_x = x.copy()
    nan_x[7, 0, 3, 3] = np.nan
    inf_x = x.copy()
    inf_x[3, 0, 0, 0] = np.inf
    one_rare = y.copy()
    one_rare[:] = 0
    one_rare[5] = 1
    gap = np.where(y == 1, 2, 0)
    return [
        ("3-D x", x[:, 0], y, r"x must be 4-D \(N, C, H, W\), but got shape \(40, 8, 8\)"),
        ("length mismatch", x, y[:30], "same length, but got 40 images and 30 labels"),
        ("NaN", nan_x, y, "x must be finite, but sample 7 holds NaN or inf"),
        ("inf", inf_x, y, "x must be finite, but sample 3 holds NaN or inf"),
        ("float labels", x, y.astype(np.float32),
         "labels must be integers 0..K-1, but got dtype float32"),
        ("negative labels", x, y - 1, "labels must be integers 0..K-1, but got the label -1"),
        ("single class", x, np.zeros_like(y), "at least 2 classes, but every label is 0"),
        ("class with one sample", x, one_rare, r"at least 2 samples of every class .* class 1: 1"),
        ("missing class", x, gap, r"at least 2 samples of every class .* class 1: 0"),
        ("too few samples", x[:6], y[:6], "at least 10 samples, but got 6"),
        ("2-D labels", x, y[:, None], r"y must be 1-D \(N,\), but got shape \(40, 1\)"),
        ("string pixels", x.astype(str), y, "x must hold real numbers"),
    ]


@pytest.mark.parametrize("case", _bad_inputs(), ids=lambda c: c[0])
def test_bad_input_raises_a_clear_error(case: tuple[str, np.ndarray, np.ndarray, str]) -> None:
    _, x, y, match = case
    with pytest.raises(ProbeInputError, match=match):
        characterize(x, y, **FAST)


@pytest.mark.parametrize("option, match", [
    ({"epochs": 1}, f"epochs must be an integer >= {AVERAGE_LAST}, but got 1"),
    ({"batch_size": 1}, "batch_size must be an integer >= 2, but got 1"),
    ({"max_train": 1}, r"max_train must be an integer >= the number of classes \(2\).* but got 1"),
    ({"max_val": 0}, r"max_val must be an integer >= the number of classes \(2\).* but got 0"),
    ({"seed": -1}, "seed must be an integer >= 0, but got -1"),
    ({"split_seed": 1.5}, "split_seed must be an integer >= 0, but got 1.5"),
    ({"lr": 0.0}, "lr must be a positive finite number, but got 0.0"),
    ({"device": "tpu:x"}, "device must be"),
    ({"num_threads": 0}, "num_threads must be an integer >= 1 or None, but got 0"),
])
def test_bad_option_raises_a_clear_error(option: dict[str, object], match: str) -> None:
    x, y = blobs(n=40)
    kwargs = {**FAST, **option}
    with pytest.raises(ProbeOptionError, match=match):
        characterize(x, y, **kwargs)  # type: ignore[arg-type]


def test_unknown_probe_in_characterize() -> None:
    x, y = blobs(n=40)
    with pytest.raises(UnknownProbeError, match="probe must be one of"):
        characterize(x, y, probe="nope", **FAST)


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_asking_for_cuda_without_it_is_an_option_error() -> None:
    x, y = blobs(n=40)
    with pytest.raises(ProbeOptionError, match="CUDA is not available"):
        characterize(x, y, **{**FAST, "device": "cuda"})


def test_every_error_is_a_probe_error_and_a_builtin() -> None:
    assert issubclass(ProbeInputError, (ProbeError, ValueError))
    assert issubclass(ProbeOptionError, (ProbeError, ValueError))
    assert issubclass(UnknownProbeError, (ProbeError, KeyError))
    assert issubclass(ProbeTrainingError, (ProbeError, RuntimeError))


def test_a_diverging_probe_raises_instead_of_reporting_chance() -> None:
    x, y = blobs(n=80)
    with pytest.raises(ProbeTrainingError, match="training loss must stay finite"):
        characterize(x, y, **{**FAST, "lr": 1e30})


def test_num_threads_applies_during_the_call_and_is_restored() -> None:
    x, y = blobs(n=80)
    before = torch.get_num_threads()
    seen: list[int] = []
    characterize(x, y, progress=lambda *a: seen.append(torch.get_num_threads()), **FAST)
    assert seen == [1, 1, 1]
    assert torch.get_num_threads() == before


def test_errors_and_lde_access_load_without_torch() -> None:
    # every `tapas` command imports the errors, `tapas lde ...` the LDE access; torch must wait for
    # a command that trains
    code = ("import sys, probenets, tapaskit.errors, tapaskit.store.records, cli; "
            "print(probenets.ProbeError); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_heavy_names_still_load_on_first_use() -> None:
    import probenets

    assert callable(probenets.characterize) and probenets.DEFAULT_PROBE in probenets.PROBES
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        probenets.nope  # noqa: B018
