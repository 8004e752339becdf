"""User data by path: each format loads, and each kind of bad data fails with a clear message."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tapaskit.datasets import Dataset, load_dataset
from tapaskit.datasets.idx import write_idx
from tapaskit.errors import DataError, UnknownDatasetError


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _gray(value: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


def _rgb(color: tuple[int, int, int], h: int = 8, w: int = 8) -> np.ndarray:
    return np.tile(np.array(color, dtype=np.uint8), (h, w, 1))


# ---------------------------------------------------------------- formats that load


def test_folder_of_gray_pngs(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / "cat" / f"{i}.png", _gray(0))
        _save(tmp_path / "dog" / f"{i}.png", _gray(255))
    (tmp_path / ".DS_Store").write_text("ignored")
    (tmp_path / "dog" / ".hidden").write_text("ignored")
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (6, 1, 8, 8)
    assert ds.class_names == ("cat", "dog")
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.x[ds.y == 0].max() == 0.0 and ds.x[ds.y == 1].min() == 1.0
    assert ds.name == str(tmp_path) and ds.source == str(tmp_path)


def test_folder_mixed_gray_rgb_and_sizes_becomes_rgb_at_most_common_size(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "0.png", _gray(100))
    _save(tmp_path / "a" / "1.bmp", _gray(100))
    _save(tmp_path / "b" / "0.png", _rgb((255, 0, 0)))
    _save(tmp_path / "b" / "1.jpg", _rgb((255, 0, 0)))
    _save(tmp_path / "b" / "2.png", _rgb((255, 0, 0), h=12, w=10))
    ds = load_dataset(str(tmp_path))
    assert ds.input_shape == (3, 8, 8)
    assert ds.num_samples == 5
    np.testing.assert_allclose(ds.x[0], 100 / 255, atol=1e-6)  # gray replicated on 3 channels
    np.testing.assert_allclose(ds.x[4, 0], 1.0, atol=1e-6)  # the resized 12x10 image stays red
    np.testing.assert_allclose(ds.x[4, 1:], 0.0, atol=1e-6)


def test_folder_size_option_resizes_every_image(tmp_path: Path) -> None:
    for i in range(2):
        _save(tmp_path / "a" / f"{i}.png", _gray(10, 8, 8))
        _save(tmp_path / "b" / f"{i}.png", _gray(200, 20, 16))
    ds = load_dataset(f"{tmp_path}[size=12]")
    assert ds.input_shape == (1, 12, 12)
    assert ds.name == f"{tmp_path}[size=12]"


@pytest.mark.parametrize(
    ("layout", "expected_shape"),
    [("nhw", (10, 1, 6, 6)), ("nhwc", (10, 3, 6, 6)), ("nchw", (10, 3, 6, 6))],
)
def test_npz_layouts(tmp_path: Path, layout: str, expected_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([3, 7], 5)
    if layout == "nhw":
        x = rng.integers(0, 256, (10, 6, 6), dtype=np.uint8)
        expected = x[:, None] / 255
    elif layout == "nhwc":
        x = rng.integers(0, 256, (10, 6, 6, 3), dtype=np.uint8)
        expected = x.transpose(0, 3, 1, 2) / 255
    else:
        x = rng.random((10, 3, 6, 6)).astype(np.float64)
        expected = x
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.x.shape == expected_shape and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x, expected, atol=1e-6)
    assert ds.class_names == ("3", "7")  # arbitrary integer labels relabelled, names kept
    assert ds.y.tolist() == [0] * 5 + [1] * 5


def test_npz_one_hot_and_string_labels(tmp_path: Path) -> None:
    x = np.zeros((4, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "onehot.npz", x=x, y=np.eye(2)[[0, 1, 0, 1]])
    assert load_dataset(str(tmp_path / "onehot.npz")).y.tolist() == [0, 1, 0, 1]
    np.savez(tmp_path / "names.npz", x=x, y=np.array(["dog", "cat", "dog", "cat"]))
    ds = load_dataset(str(tmp_path / "names.npz"))
    assert ds.class_names == ("cat", "dog") and ds.y.tolist() == [1, 0, 1, 0]


def _write_idx_pair(folder: Path, prefix: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 7, 7), dtype=np.uint8)
    y = (np.arange(n) % 3).astype(np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return x, y


def test_idx_gz_pair_by_images_file_labels_file_and_folder(tmp_path: Path) -> None:
    x, y = _write_idx_pair(tmp_path, "train", 12, seed=0)
    by_images = load_dataset(str(tmp_path / "train-images-idx3-ubyte.gz"))
    assert by_images.x.shape == (12, 1, 7, 7)
    np.testing.assert_allclose(by_images.x[:, 0], x / 255, atol=1e-6)
    assert by_images.y.tolist() == y.tolist()
    by_labels = load_dataset(str(tmp_path / "train-labels-idx1-ubyte.gz"))
    by_folder = load_dataset(str(tmp_path))
    assert by_labels.fingerprint == by_images.fingerprint == by_folder.fingerprint


def test_idx_folder_concatenates_train_then_test(tmp_path: Path) -> None:
    x_test, _ = _write_idx_pair(tmp_path, "t10k", 6, seed=1)
    x_train, _ = _write_idx_pair(tmp_path, "train", 9, seed=2)
    ds = load_dataset(str(tmp_path))
    assert ds.num_samples == 15
    np.testing.assert_allclose(ds.x[:9, 0], x_train / 255, atol=1e-6)
    np.testing.assert_allclose(ds.x[9:, 0], x_test / 255, atol=1e-6)


def test_idx_uncompressed_file_loads(tmp_path: Path) -> None:
    write_idx(tmp_path / "a-images-idx3-ubyte", np.zeros((4, 3, 3), dtype=np.uint8))
    write_idx(tmp_path / "a-labels-idx1-ubyte", np.array([0, 1, 0, 1], dtype=np.uint8))
    assert load_dataset(str(tmp_path / "a-images-idx3-ubyte")).num_samples == 4


def test_csv_gray_rgb_and_string_labels(tmp_path: Path) -> None:
    header = "label," + ",".join(f"p{i}" for i in range(4))
    rows = ["cat,0,255,0,255", "dog,255,0,255,0", "cat,0,0,0,0", "dog,1,2,3,4"]
    (tmp_path / "gray.csv").write_text("\n".join([header, *rows]) + "\n")
    ds = load_dataset(str(tmp_path / "gray.csv"))
    assert ds.x.shape == (4, 1, 2, 2) and ds.class_names == ("cat", "dog")
    np.testing.assert_allclose(ds.x[0, 0], [[0, 1], [0, 1]])

    header = ",".join(f"p{i}" for i in range(12)) + ",Target"
    rows = [",".join(["0.5"] * 12) + f",{k}" for k in (1, 2, 1, 2)]
    (tmp_path / "rgb.csv").write_text("\n".join([header, *rows]) + "\n")
    ds = load_dataset(str(tmp_path / "rgb.csv"))
    assert ds.x.shape == (4, 3, 2, 2) and ds.class_names == ("1", "2")


def test_dataset_arrays_are_read_only(tmp_path: Path) -> None:
    ds = Dataset(name="t", x=np.zeros((4, 1, 2, 2)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="read-only"):
        ds.x[0] = 1.0
    assert ds.num_classes == 2 and ds.input_shape == (1, 2, 2) and ds.num_samples == 4


# ---------------------------------------------------------------- bad data


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no class sub-folders with images in"):
        load_dataset(str(tmp_path))


def test_folder_with_one_class_only(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / "cat" / f"{i}.png", _gray(i))
    with pytest.raises(DataError, match=r"only one class \(cat\) found in .*needs at least 2"):
        load_dataset(str(tmp_path))


def test_folder_with_non_image_file(tmp_path: Path) -> None:
    for i in range(2):
        _save(tmp_path / "a" / f"{i}.png", _gray(0))
        _save(tmp_path / "b" / f"{i}.png", _gray(9))
    (tmp_path / "b" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"not an image: .*notes\.txt"):
        load_dataset(str(tmp_path))


def test_class_with_one_sample(tmp_path: Path) -> None:
    for i in range(2):
        _save(tmp_path / "a" / f"{i}.png", _gray(0))
    _save(tmp_path / "b" / "0.png", _gray(9))
    with pytest.raises(DataError, match="class 'b' has 1 sample in .*each class needs at least 2"):
        load_dataset(str(tmp_path))


def test_npz_length_mismatch(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((100, 4, 4)), y=np.arange(99) % 2)
    with pytest.raises(DataError, match=r"x has 100 samples but y has 99 labels in .*d\.npz"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_nan_values(tmp_path: Path) -> None:
    x = np.zeros((4, 4, 4))
    x[1, 2, 3] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=[0, 1, 0, 1])
    with pytest.raises(DataError, match=r"x contains NaN values .*d\.npz"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_non_integer_labels(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4, 4)), y=[0.0, 1.5, 0.0, 1.0])
    with pytest.raises(DataError, match="labels must be integers, got 1.5"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_missing_keys_lists_keys_found(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 4, 4)), labels=[0, 1, 0, 1])
    with pytest.raises(DataError, match=r"no array 'x', 'y'.*found: images, labels"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_bad_layout(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 5, 6, 7)), y=[0, 1, 0, 1])
    with pytest.raises(DataError, match=r"x has shape \(4, 5, 6, 7\).*fits no layout"):
        load_dataset(str(tmp_path / "d.npz"))


def test_csv_without_label_column(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,c,d\n1,2,3,4\n")
    with pytest.raises(DataError, match="no label column; name it one of label, y, class, target"):
        load_dataset(str(tmp_path / "d.csv"))


def test_csv_non_numeric_pixel_names_the_row(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("y,p0,p1,p2,p3\n0,1,2,3,4\n1,1,abc,3,4\n")
    with pytest.raises(
        DataError, match=r"non-numeric pixel value 'abc' .*row 2 \(line 3\), column 'p1'"
    ):
        load_dataset(str(tmp_path / "d.csv"))


def test_csv_pixel_count_not_square(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("label,p0,p1,p2,p3,p4\n0,1,2,3,4,5\n1,1,2,3,4,5\n")
    with pytest.raises(DataError, match="has 5 pixel columns; expected H\\*W"):
        load_dataset(str(tmp_path / "d.csv"))


def test_idx_bad_magic_and_missing_labels(tmp_path: Path) -> None:
    (tmp_path / "x-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04rest"))
    (tmp_path / "x-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00"))
    with pytest.raises(DataError, match="is not an IDX file: magic bytes 01020304"):
        load_dataset(str(tmp_path / "x-images-idx3-ubyte.gz"))
    write_idx(tmp_path / "lonely-images-idx3-ubyte.gz", np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match="no labels file for .*lonely-images.*looked for"):
        load_dataset(str(tmp_path / "lonely-images-idx3-ubyte.gz"))


def test_unsupported_file_type(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type: .*notes\.txt"):
        load_dataset(str(tmp_path / "notes.txt"))


def test_unknown_dataset_names_builtins_and_the_command() -> None:
    with pytest.raises(
        UnknownDatasetError, match=r"unknown dataset 'nope': not a built-in \(.*digits.*\)"
    ) as info:
        load_dataset("nope")
    assert isinstance(info.value, KeyError)
    assert "tapas datasets" in str(info.value)
