"""User data as a folder of class sub-folders of image files (``DIR/cat/001.png``...).

Each sub-folder is a class, named after the folder; classes are sorted by name. Files whose name
starts with a dot are skipped (``.DS_Store``); any other file must be an image Pillow can read
(PNG, JPEG, BMP, GIF, TIFF...). Files directly in ``DIR`` are ignored. When every image is
grayscale the dataset has 1 channel, otherwise all images are converted to RGB (alpha dropped).
Images are resized to a common size: ``size × size`` when given, else the most common size.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tapaskit.errors import DataError

_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})


def load_image_folder(
    folder: Path, *, size: int | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read a folder of class sub-folders of images.

    Args:
        folder: The root folder.
        size: Resize every image to ``size × size``; ``None`` keeps the most common size (ties go
            to the larger image) and resizes the others to it.

    Returns:
        ``(x, y, class_names)``: float32 images ``(N, C, H, W)`` in ``[0, 1]``, int64 labels
        ``(N,)`` indexing ``class_names`` (the sub-folder names, sorted).

    Raises:
        DataError: If there are no class sub-folders with images, a class folder is empty, or a
            file is not a readable image.
    """
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files_per_class = [
        sorted(f for f in c.iterdir() if not f.name.startswith(".")) for c in classes
    ]
    if not any(files_per_class):
        raise DataError(f"no class sub-folders with images in {folder}")
    for class_dir, files in zip(classes, files_per_class, strict=True):
        if not files:
            raise DataError(f"class folder {class_dir} contains no images; remove it or add images")
        for f in files:
            if f.is_dir():
                raise DataError(f"not an image: {f} (class folders must hold image files only)")

    files = [f for files in files_per_class for f in files]
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(f) for f in files_per_class])
    headers = [_probe(f) for f in files]  # (mode, (width, height)), read without decoding pixels
    rgb = any(mode not in _GRAY_MODES for mode, _ in headers)
    if size is None:
        counts = Counter(s for _, s in headers)
        width, height = max(counts, key=lambda s: (counts[s], s[0] * s[1], s))
    else:
        width = height = size
    x = np.stack([_read(f, rgb=rgb, width=width, height=height) for f in files])  # (N, C, H, W)
    return x, labels, tuple(c.name for c in classes)


def _probe(path: Path) -> tuple[str, tuple[int, int]]:
    try:
        with Image.open(path) as img:
            return img.mode, img.size
    except UnidentifiedImageError:
        raise DataError(f"not an image: {path}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def _read(path: Path, *, rgb: bool, width: int, height: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            return _to_array(img, rgb=rgb, width=width, height=height)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def _to_array(img: Image.Image, *, rgb: bool, width: int, height: int) -> np.ndarray:
    """One image as float32 ``(C, H, W)`` in ``[0, 1]``."""
    if rgb:
        img = img.convert("RGB")
    elif img.mode in _SIXTEEN_BIT_MODES:
        img = Image.fromarray(np.asarray(img, dtype=np.float32) / np.float32(65535))
    elif img.mode == "F":
        pass
    else:
        img = img.convert("L")
    if img.size != (width, height):
        shrink = img.size[0] >= width and img.size[1] >= height
        img = img.resize(
            (width, height), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        )
    a = np.asarray(img, dtype=np.float32)
    if img.mode != "F":
        a = a / 255.0
    return a.transpose(2, 0, 1) if a.ndim == 3 else a[None]
