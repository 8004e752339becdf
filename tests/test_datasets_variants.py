"""Variants and specs: each key's effect, canonical names, determinism, fingerprints, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tapaskit.datasets import Dataset, load_dataset, parse_spec
from tapaskit.errors import DataError, InvalidOptionError

# ---------------------------------------------------------------- spec syntax


def test_parse_spec() -> None:
    assert parse_spec("digits") == ("digits", {})
    assert parse_spec(" fashion-mnist[classes=0,6; N=2000 ;seed=1;] ") == (
        "fashion-mnist",
        {"classes": "0,6", "n": "2000", "seed": "1"},
    )
    assert parse_spec("data/x.npz[size=8]") == ("data/x.npz", {"size": "8"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("digits[n=5", "malformed dataset spec 'digits\\[n=5'"),
        ("[n=5]", "malformed dataset spec"),
        ("digits[n]", "option 'n' in dataset spec 'digits\\[n\\]' must be written key=value"),
        ("digits[n=]", "option 'n' .* has no value"),
        ("digits[n=1;n=2]", "option 'n' is given twice"),
        ("", "the dataset spec is empty"),
    ],
)
def test_parse_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        parse_spec(spec)


def test_path_with_brackets_is_taken_whole(tmp_path: Path) -> None:
    path = tmp_path / "run[1].npz"
    np.savez(path, x=np.zeros((4, 2, 2)), y=[0, 1, 0, 1])
    assert parse_spec(str(path)) == (str(path), {})
    assert load_dataset(f"{path}[n=4]").num_samples == 4


# ---------------------------------------------------------------- each key


def test_classes_subset_is_relabelled_and_keeps_names() -> None:
    base = load_dataset("digits")
    ds = load_dataset("digits[classes=7,2]")
    assert ds.name == "digits[classes=2,7]"
    assert ds.class_names == ("2", "7") and ds.num_classes == 2
    keep = np.isin(base.y, [2, 7])
    np.testing.assert_array_equal(ds.x, base.x[keep])
    np.testing.assert_array_equal(ds.y, (base.y[keep] == 7).astype(np.int64))


def test_classes_by_name() -> None:
    ds = load_dataset("shapes[classes=star,circle]")
    assert ds.class_names == ("circle", "star") and ds.name == "shapes[classes=0,5]"


def test_n_is_exact_and_stratified() -> None:
    base = load_dataset("digits")
    ds = load_dataset("digits[n=500]")
    assert ds.num_samples == 500
    quota = base.class_counts() * 500 / base.num_samples
    assert np.all(np.abs(ds.class_counts() - quota) < 1)
    small = load_dataset("digits[n=20]")
    assert small.class_counts().tolist() == [2] * 10


def test_size_down_samples_by_area_averaging() -> None:
    base = load_dataset("mnist-5k")
    half = load_dataset("mnist-5k[size=14]")
    assert half.input_shape == (1, 14, 14)
    expected = base.x.reshape(-1, 1, 14, 2, 14, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(half.x, expected, atol=1e-5)
    odd = load_dataset("mnist-5k[size=10]")  # 2.8 input pixels per output pixel
    assert odd.input_shape == (1, 10, 10)
    np.testing.assert_allclose(odd.x.mean(axis=(1, 2, 3)), base.x.mean(axis=(1, 2, 3)), atol=1e-5)


def test_gray_makes_one_channel() -> None:
    base = load_dataset("textures[samples=64]")
    ds = load_dataset("textures[samples=64;gray=1]")
    assert ds.input_shape == (1, 32, 32)
    luma = 0.299 * base.x[:, 0] + 0.587 * base.x[:, 1] + 0.114 * base.x[:, 2]
    np.testing.assert_allclose(ds.x[:, 0], luma, atol=1e-5)
    assert load_dataset("digits[gray=1]").name == "digits[gray=1]"


def test_noise_changes_x_with_the_given_std() -> None:
    base = load_dataset("digits")
    ds = load_dataset("digits[noise=0.1]")
    assert ds.x.shape == base.x.shape and ds.x.min() >= 0 and ds.x.max() <= 1
    np.testing.assert_array_equal(ds.y, base.y)
    inner = (base.x > 0.3) & (base.x < 0.7)  # away from the clipping bounds
    assert abs(float((ds.x - base.x)[inner].std()) - 0.1) < 0.01


def test_label_noise_flips_the_expected_fraction_to_other_classes() -> None:
    base = load_dataset("mnist-5k")
    ds = load_dataset("mnist-5k[label_noise=0.3]")
    np.testing.assert_array_equal(ds.x, base.x)
    assert abs(float((ds.y != base.y).mean()) - 0.3) <= 0.03


def test_order_of_steps_is_fixed_whatever_the_spec_order() -> None:
    a = load_dataset("mnist-5k[classes=0,6;n=400;size=14;noise=0.3;label_noise=0.2;seed=1]")
    b = load_dataset("mnist-5k[seed=1;label_noise=0.2;noise=0.3;size=14;n=400;classes=6,0]")
    assert (
        a.name == b.name == "mnist-5k[classes=0,6;n=400;size=14;noise=0.3;label_noise=0.2;seed=1]"
    )
    assert a.fingerprint == b.fingerprint
    assert (a.num_samples, a.input_shape, a.class_names) == (400, (1, 14, 14), ("0", "6"))


# ---------------------------------------------------------------- determinism and fingerprints


def test_same_spec_same_fingerprint_other_seed_differs() -> None:
    spec = "digits[n=300;noise=0.2;label_noise=0.1;seed={}]"
    first, again = load_dataset(spec.format(1)), load_dataset(spec.format(1))
    assert first is not again and first.fingerprint == again.fingerprint
    np.testing.assert_array_equal(first.x, again.x)
    assert load_dataset(spec.format(2)).fingerprint != first.fingerprint


def test_adding_an_option_keeps_the_draws_of_another() -> None:
    noisy = load_dataset("digits[noise=0.2;seed=5]")
    both = load_dataset("digits[noise=0.2;label_noise=0.1;seed=5]")
    np.testing.assert_array_equal(noisy.x, both.x)


def test_canonical_name_drops_defaults() -> None:
    assert load_dataset("digits[seed=0]").name == "digits"
    assert load_dataset("digits[seed=4]").name == "digits"  # seed without a random step
    assert load_dataset("digits[classes=0,1,2,3,4,5,6,7,8,9]").name == "digits"
    assert load_dataset("DIGITS[noise=0.50]").name == "digits[noise=0.5]"
    assert load_dataset("shapes[n=60;clutter=0.3]").name == "shapes[clutter=0.3;n=60]"


def test_fingerprint_equal_for_equal_content_and_differs_after_any_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 3, 4, 4)), np.repeat([0, 1], 10)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    np.savez(tmp_path / "b.npz", x=x, y=y)
    a, b = load_dataset(str(tmp_path / "a.npz")), load_dataset(str(tmp_path / "b.npz"))
    assert a.name != b.name and a.fingerprint == b.fingerprint
    x2 = x.copy()
    x2[3, 1, 2, 2] += 0.01
    y2 = y.copy()
    y2[[0, 19]] = y2[[19, 0]]
    changed = [
        Dataset(name="x", x=x2, y=y),
        Dataset(name="y", x=x, y=y2),
        Dataset(name="shape", x=x.reshape(20, 1, 12, 4), y=y),
        load_dataset(f"{tmp_path / 'a.npz'}[n=18]"),
        load_dataset(f"{tmp_path / 'a.npz'}[size=2]"),
        load_dataset(f"{tmp_path / 'a.npz'}[noise=0.01]"),
    ]
    prints = {d.fingerprint for d in changed}
    assert a.fingerprint not in prints and len(prints) == len(changed)


# ---------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("digits[foo=1]", "unknown option 'foo' for dataset 'digits'; allowed: classes, n, gray"),
        ("digits[n=abc]", "option 'n' must be an integer >= 4, got 'abc'"),
        ("digits[n=5000]", "option 'n' must be at most the 1797 samples of 'digits', got 5000"),
        ("digits[n=12]", "option 'n' must be at least 20 for 10 classes"),
        ("digits[noise=-1]", "option 'noise' must be a number with 0 <= noise <= 1, got -1"),
        ("digits[label_noise=2]", "option 'label_noise' must be a number"),
        ("digits[classes=3,12]", "must hold indices in 0..9 for 'digits' \\(10 classes\\), got 12"),
        ("digits[classes=3]", "must select at least 2 classes, got 1"),
        ("digits[classes=3,3]", "lists class 3 twice"),
        ("digits[classes=3,cat]", "names class 'cat', which 'digits' does not have"),
        ("digits[size=9]", "option 'size' must be at most the image size 8x8 of 'digits'"),
        (
            "digits[gray=maybe]",
            "option 'gray' must be one of 1, true, yes, on, 0, false, no, off, got 'maybe'",
        ),
        ("digits[seed=-1]", "option 'seed' must be an integer >= 0, got -1"),
    ],
)
def test_bad_options(spec: str, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        load_dataset(spec)


# ---------------------------------------------------------------- split


def test_split_is_stratified_disjoint_covering_and_deterministic() -> None:
    ds = load_dataset("digits")
    train, val = ds.split(val_fraction=0.25, seed=3)
    test = ds.test_indices()
    assert len(np.intersect1d(train, val)) == 0
    # train and validation cover everything but the test part, which neither touches
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(ds.num_samples))
    rest = np.bincount(ds.y, minlength=10) - np.bincount(ds.y[test], minlength=10)
    val_counts = np.bincount(ds.y[val], minlength=10)
    np.testing.assert_array_equal(val_counts, np.round(rest * 0.25).astype(int))
    again_train, again_val = ds.split(val_fraction=0.25, seed=3)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert not np.array_equal(ds.split(val_fraction=0.25, seed=4)[1], val)


def test_split_keeps_every_class_on_both_sides() -> None:
    ds = Dataset(name="tiny", x=np.zeros((5, 1, 2, 2)), y=np.array([0, 0, 1, 1, 1]))
    for fraction in (0.01, 0.5, 0.99):
        train, val = ds.split(fraction)
        assert set(ds.y[train]) == set(ds.y[val]) == {0, 1}


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fraction_outside_open_unit_interval(fraction: float) -> None:
    with pytest.raises(InvalidOptionError, match=f"0 < val_fraction < 1, got {fraction}"):
        load_dataset("digits").split(val_fraction=fraction)


def test_label_noise_that_empties_a_class_is_a_data_error() -> None:
    with pytest.raises(DataError, match="each class needs at least 2"):
        load_dataset("digits[n=20;label_noise=1;seed=0]")
