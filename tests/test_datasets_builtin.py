"""Built-in datasets: the registry, each loader's shapes, and the procedural generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tapaskit.datasets import list_builtin, load_dataset
from tapaskit.datasets.builtin import FASHION_MNIST_ENV, fashion_mnist_dir
from tapaskit.datasets.idx import write_idx
from tapaskit.datasets.procedural_shapes import generate_shapes
from tapaskit.errors import DatasetUnavailableError, InvalidOptionError

EXPECTED = {
    "fashion-mnist": (10, (1, 28, 28), 70000),
    "digits": (10, (1, 8, 8), 1797),
    "mnist-5k": (10, (1, 28, 28), 5000),
    "shapes": (6, (1, 28, 28), 6000),
    "textures": (8, (3, 32, 32), 6000),
}


def test_list_builtin_describes_every_dataset() -> None:
    infos = {i.name: i for i in list_builtin()}
    assert set(infos) == set(EXPECTED)
    for name, (k, shape, n) in EXPECTED.items():
        info = infos[name]
        assert (info.num_classes, info.input_shape, info.num_samples) == (k, shape, n)
        assert info.description
        assert info.available == (info.reason == "")
    assert infos["shapes"].parameters == ("samples", "res", "clutter", "data_seed")


@pytest.mark.parametrize("name", ["digits", "mnist-5k", "shapes", "textures"])
def test_builtin_loads_with_the_listed_shape(name: str) -> None:
    k, shape, n = EXPECTED[name]
    ds = load_dataset(name)
    assert (ds.num_classes, ds.input_shape, ds.num_samples) == (k, shape, n)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0 and ds.x.max() > 0.5
    assert ds.name == name and len(ds.fingerprint) == 16
    assert np.bincount(ds.y).min() >= 0.9 * n / k  # roughly balanced classes


def test_builtin_is_cached_in_process() -> None:
    assert load_dataset("digits") is load_dataset("digits")


@pytest.mark.skipif(
    not (fashion_mnist_dir() / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_from_debian_files() -> None:
    ds = load_dataset("fashion-mnist")
    assert (ds.num_classes, ds.input_shape, ds.num_samples) == EXPECTED["fashion-mnist"]
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert np.bincount(ds.y).tolist() == [7000] * 10


def test_fashion_mnist_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        write_idx(
            tmp_path / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path))
    ds = load_dataset("fashion-mnist")
    assert ds.num_samples == 30 and ds.source == str(tmp_path)
    np.testing.assert_array_equal(ds.test_indices(), np.arange(20, 30))  # the t10k files are the test part


def test_fashion_mnist_missing_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path / "absent"))
    info = {i.name: i for i in list_builtin()}["fashion-mnist"]
    assert not info.available
    assert "install with: sudo apt-get install dataset-fashion-mnist" in info.reason
    with pytest.raises(DatasetUnavailableError, match="sudo apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_procedural_generation_parameters() -> None:
    small = load_dataset("shapes[samples=120;res=16;clutter=0]")
    assert small.x.shape == (120, 1, 16, 16)
    assert small.name == "shapes[samples=120;res=16;clutter=0]"
    tex = load_dataset("textures[orientations=4;samples=80;res=12]")
    assert tex.x.shape == (80, 3, 12, 12) and tex.class_names == (
        "0deg",
        "45deg",
        "90deg",
        "135deg",
    )
    assert load_dataset("shapes[clutter=0.15]").name == "shapes"  # defaults drop out of the name


def test_procedural_is_deterministic_and_data_seed_changes_it() -> None:
    a = load_dataset("shapes[samples=60;data_seed=3]")
    x, y = generate_shapes(samples=60, seed=3)
    np.testing.assert_array_equal(a.x, x)
    np.testing.assert_array_equal(a.y, y)
    assert load_dataset("shapes[samples=60;data_seed=4]").fingerprint != a.fingerprint


@pytest.mark.parametrize("name", ["shapes", "textures"])
def test_procedural_is_not_trivially_separable(name: str) -> None:
    # Pose, polarity and phase vary, so class means of raw pixels must not separate the classes.
    ds = load_dataset(name)
    train, val = ds.split(0.25, seed=0)
    flat = ds.x.reshape(ds.num_samples, -1)
    means = np.stack([flat[train][ds.y[train] == k].mean(axis=0) for k in range(ds.num_classes)])
    dist = ((flat[val, None, :] - means[None]) ** 2).sum(axis=2)
    accuracy = float((dist.argmin(axis=1) == ds.y[val]).mean())
    assert accuracy < 0.5


def test_bad_generation_parameters() -> None:
    with pytest.raises(
        InvalidOptionError, match=r"option 'res' must be an integer in 12\.\.128, got 500"
    ):
        load_dataset("shapes[res=500]")
    with pytest.raises(
        InvalidOptionError, match="unknown option 'res' for dataset 'digits'; allowed: classes"
    ):
        load_dataset("digits[res=3]")
    with pytest.raises(InvalidOptionError, match="option 'clutter' must be a number"):
        load_dataset("textures[clutter=lots]")
