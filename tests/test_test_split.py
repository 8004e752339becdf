"""The test split: official where the data has one, a fixed hold-out otherwise; no selection reads it."""

from __future__ import annotations

import numpy as np
import pytest

from tapaskit.datasets import Dataset, load_dataset
from tapaskit.datasets.dataset import TEST_FRACTION


def test_the_hold_out_is_fixed_stratified_and_apart_from_train_and_validation(digits):
    test = digits.test_indices()
    assert np.array_equal(test, digits.test_indices())  # no seed moves it
    for seed in (0, 1):
        train, val = digits.split(val_fraction=0.2, seed=seed)
        assert not set(test) & set(train) and not set(test) & set(val)
        assert len(test) + len(train) + len(val) == digits.num_samples
    share = np.bincount(digits.y[test], minlength=10) / digits.class_counts()
    assert np.allclose(share, TEST_FRACTION, atol=0.01)


def test_an_official_test_set_is_the_test_part_and_survives_variants():
    rng = np.random.default_rng(0)
    x, y = rng.random((120, 1, 8, 8), dtype=np.float32), np.arange(120) % 3
    mask = np.arange(120) >= 90
    ds = Dataset(name="toy", x=x, y=y, test_mask=mask)
    assert ds.has_official_test and np.array_equal(ds.test_indices(), np.arange(90, 120))
    assert ds.fingerprint == Dataset(name="toy", x=x, y=y).fingerprint  # same content, same fingerprint
    train, val = ds.split(0.2, seed=0)
    assert max(train.max(), val.max()) < 90


def test_npz_and_folders_bring_their_test_sets(tmp_path, digits):
    np.savez(tmp_path / "d.npz", x=digits.x[:1500], y=digits.y[:1500], x_test=digits.x[1500:], y_test=digits.y[1500:])
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.num_samples == digits.num_samples and np.array_equal(ds.test_indices(), np.arange(1500, 1797))
    np.savez(tmp_path / "half.npz", x=digits.x, y=digits.y, x_test=digits.x[:5])
    from tapaskit.errors import DataError

    with pytest.raises(DataError, match="x_test without its pair"):
        load_dataset(str(tmp_path / "half.npz"))


def test_fashion_mnist_uses_its_official_10000_test_images():
    from tapaskit.datasets import list_builtin

    if not any(i.name == "fashion-mnist" and i.available for i in list_builtin()):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    ds = load_dataset("fashion-mnist")
    assert ds.has_official_test and len(ds.test_indices()) == 10_000
    assert ds.test_indices().min() == 60_000


@pytest.mark.slow
def test_shuffled_test_labels_change_no_selection(tmp_path, home, digits):
    from tapaskit.predictor.synthetic import synthetic_lde
    from tapaskit.workflows.search import SearchConfig, run_search

    rng = np.random.default_rng(1)
    np.savez(tmp_path / "a.npz", x=digits.x[:1500], y=digits.y[:1500], x_test=digits.x[1500:], y_test=digits.y[1500:])
    np.savez(tmp_path / "b.npz", x=digits.x[:1500], y=digits.y[:1500], x_test=digits.x[1500:],
             y_test=rng.permutation(digits.y[1500:]))
    results = []
    for name in ("a", "b"):
        config = SearchConfig(dataset=str(tmp_path / f"{name}.npz"), preset="quick", budget=48, top_k=2, epochs=1,
                              predictor="lightgbm", tau=0.5)
        results.append(run_search(config, out_dir=tmp_path / f"out-{name}", lde=synthetic_lde(n_datasets=4, seed=2)))
    a, b = results
    assert a.dcn == b.dcn
    assert [c.arch.arch_hash for c in a.candidates] == [c.arch.arch_hash for c in b.candidates]
    assert [c.result.curve for c in a.candidates] == [c.result.curve for c in b.candidates]
    assert a.best.arch.arch_hash == b.best.arch.arch_hash
    assert all(c.result.test_accuracy is not None for c in a.candidates + b.candidates)
    assert [c.result.test_accuracy for c in a.candidates] != [c.result.test_accuracy for c in b.candidates]
