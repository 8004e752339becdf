"""User data given by a path, with its format detected from what the path is.

* a folder of class sub-folders of images (:mod:`~tapaskit.datasets.image_folder`), or one with
  ``train/`` and ``test/`` folders of them (``test/`` is then the official test set);
* a folder holding IDX files, or an IDX file (``*-idx3-ubyte[.gz]``, ``*-idx1-ubyte[.gz]``)
  (:mod:`~tapaskit.datasets.idx_files`);
* a ``.npz`` archive with ``x`` and ``y``, and optionally ``x_test`` and ``y_test``
  (:mod:`~tapaskit.datasets.npz_file`);
* a ``.csv`` / ``.csv.gz`` table with a label column (:mod:`~tapaskit.datasets.csv_file`).
"""

from __future__ import annotations

from pathlib import Path

from tapaskit.datasets.csv_file import load_csv
from tapaskit.datasets.dataset import Dataset
from tapaskit.datasets.idx_files import image_files_in, is_idx_file, load_idx
from tapaskit.datasets.image_folder import load_image_folder
from tapaskit.datasets.npz_file import load_npz
from tapaskit.errors import DataError

SUPPORTED = (
    "a folder of class sub-folders of images, a folder of IDX files, "
    "a .npz with arrays x and y, a .csv with a label column, or an IDX file (*-idx3-ubyte.gz)"
)


def detect_format(path: Path) -> str:
    """The format of user data: ``"image-folder"``, ``"idx"``, ``"npz"`` or ``"csv"``.

    Raises:
        DataError: If the path is a file of none of these kinds.
    """
    if path.is_dir():
        return "idx" if image_files_in(path) else "image-folder"
    name = path.name.lower()
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if is_idx_file(path):
        return "idx"
    raise DataError(f"unsupported file type: {path}; expected {SUPPORTED}")


def load_path(path: Path, *, name: str, size: int | None = None) -> Dataset:
    """Load user data from a path of any supported format.

    Args:
        path: The file or folder (it must exist).
        name: The dataset's name (the spec as the user gave it).
        size: For image folders, resize every image to ``size × size`` while reading.

    Returns:
        The validated dataset; its ``source`` is the path.

    Raises:
        DataError: If the format is unsupported or the data are unusable.
    """
    kind = detect_format(path)
    source = str(path)
    if kind == "image-folder":
        if {p.name for p in path.iterdir() if p.is_dir()} == {"train", "test"}:
            return _train_test_folders(path, name=name, size=size)
        x, y, names = load_image_folder(path, size=size)
        return Dataset(name=name, x=x, y=y, class_names=names, source=source)
    test = None
    if kind == "idx":
        x, y = load_idx(path)
    elif kind == "npz":
        x, y, test = load_npz(path)
    else:
        x, y = load_csv(path)
    return Dataset(name=name, x=x, y=y, source=source, test_mask=test)


def _train_test_folders(path: Path, *, name: str, size: int | None) -> Dataset:
    """``train/`` and ``test/``, each a folder of the same class sub-folders."""
    import numpy as np

    x, y, names = load_image_folder(path / "train", size=size)
    x_test, y_test, test_names = load_image_folder(path / "test", size=size or x.shape[-1])
    if test_names != names:
        raise DataError(f"{path / 'test'} must hold the class folders of {path / 'train'} ({', '.join(names)}), "
                        f"but holds {', '.join(test_names)}")
    if x_test.shape[1:] != x.shape[1:]:
        raise DataError(f"images in {path / 'test'} are {x_test.shape[1:]}, in {path / 'train'} {x.shape[1:]}; "
                        "give --size or make them match")
    mask = np.concatenate([np.zeros(len(y), dtype=bool), np.ones(len(y_test), dtype=bool)])
    return Dataset(name=name, x=np.concatenate([x, x_test]), y=np.concatenate([y, y_test]), class_names=names,
                   source=str(path), test_mask=mask)
