"""MNIST-style datasets stored as pairs of IDX files (``*images-idx3-ubyte.gz`` with
``*labels-idx1-ubyte.gz``), given by one file of a pair or by a folder of pairs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tapaskit.datasets.idx import read_idx
from tapaskit.datasets.layout import to_nchw
from tapaskit.errors import DataError


def is_idx_file(path: Path) -> bool:
    """Whether a file name looks like an IDX file (``...idx3-ubyte``, ``...idx1-ubyte.gz``...)."""
    name = path.name.lower()
    return "idx" in name and ("ubyte" in name or name.endswith(".gz") or ".idx" in name)


def image_files_in(folder: Path) -> list[Path]:
    """The IDX image files (``*images*idx3*``) directly in ``folder``, training files first."""
    found = [p for p in folder.iterdir() if p.is_file() and _is_images(p)]
    return sorted(found, key=lambda p: (not p.name.lower().startswith("train"), p.name))


def labels_file_for(images: Path) -> Path:
    """The labels file of an images file: ``images`` becomes ``labels``, ``idx3`` becomes ``idx1``.

    Raises:
        DataError: If the name has no ``images`` or no such labels file exists.
    """
    return _counterpart(images, ("images", "labels"), ("idx3", "idx1"))


def images_file_for(labels: Path) -> Path:
    """The images file of a labels file (the reverse of :func:`labels_file_for`).

    Raises:
        DataError: If the name has no ``labels`` or no such images file exists.
    """
    return _counterpart(labels, ("labels", "images"), ("idx1", "idx3"))


def _counterpart(path: Path, word: tuple[str, str], kind: tuple[str, str]) -> Path:
    if not re.search(word[0], path.name, flags=re.IGNORECASE):
        raise DataError(
            f"cannot find the {word[1]} file for {path}: IDX pairs are named "
            f"*images-idx3-ubyte[.gz] and *labels-idx1-ubyte[.gz]"
        )
    name = _replace_keeping_case(path.name, *word)
    candidate = path.with_name(_replace_keeping_case(name, *kind))
    if not candidate.is_file():
        raise DataError(f"no {word[1]} file for {path}: looked for {candidate}")
    return candidate


def _replace_keeping_case(text: str, old: str, new: str) -> str:
    def swap(match: re.Match[str]) -> str:
        found = match.group()
        if found.isupper():
            return new.upper()
        return new.capitalize() if found[0].isupper() else new

    return re.sub(old, swap, text, flags=re.IGNORECASE)


def read_idx_pairs(images_files: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Read and concatenate IDX image/label pairs.

    Args:
        images_files: Image files; each one's labels file is found by :func:`labels_file_for`.

    Returns:
        ``(x, y)``: raw images ``(N, C, H, W)`` in their stored dtype and labels ``(N,)``.

    Raises:
        DataError: On a missing labels file, a non-IDX file, a count mismatch within a pair, or
            pairs of different image shapes.
    """
    xs, ys = [], []
    for images in images_files:
        labels = labels_file_for(images)
        x = to_nchw(read_idx(images), source=str(images))
        y = read_idx(labels)
        if y.ndim != 1:
            raise DataError(f"labels file {labels} must be 1-D, got shape {y.shape}")
        if len(x) != len(y):
            raise DataError(
                f"x has {len(x)} samples in {images} but y has {len(y)} labels in {labels}; "
                "they must match"
            )
        if xs and x.shape[1:] != xs[0].shape[1:]:
            raise DataError(
                f"{images} holds images of shape {x.shape[1:]} but {images_files[0]} holds "
                f"{xs[0].shape[1:]}; all IDX pairs must have one image shape"
            )
        xs.append(x)
        ys.append(y)
    if len(xs) == 1:
        return xs[0], ys[0]
    return np.concatenate(xs), np.concatenate(ys)


def load_idx(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a user's IDX data: an images file, a labels file, or a folder of pairs.

    Raises:
        DataError: As :func:`read_idx_pairs`, or when a folder holds no IDX images file.
    """
    if path.is_dir():
        files = image_files_in(path)
        if not files:
            raise DataError(f"no IDX images file (*images-idx3-ubyte[.gz]) in {path}")
        return read_idx_pairs(files)
    if "labels" in path.name.lower() or "idx1" in path.name.lower():
        return read_idx_pairs([images_file_for(path)])
    return read_idx_pairs([path])


def _is_images(path: Path) -> bool:
    name = path.name.lower()
    return "images" in name and "idx3" in name
