"""Variants: datasets derived from a base by the spec options ``classes``, ``n``, ``gray``,
``size``, ``noise``, ``label_noise`` and ``seed``.

The steps always run in this order, whatever the order in the spec:

1. ``classes=i,j,...``: keep those classes (indices into the base's classes, or class names),
   relabelled ``0..k-1`` in ascending index order, names kept.
2. ``n=N``: a stratified subsample of exactly ``N`` samples (each class keeps its share, at
   least 2), in the base's order.
3. ``gray=1``: RGB to one channel (ITU-R 601 luma; other channel counts are averaged).
4. ``size=S``: down-sample to ``S × S`` by area averaging (never up-samples).
5. ``noise=σ``: add Gaussian noise of standard deviation ``σ``, clip to ``[0, 1]``.
6. ``label_noise=p``: replace exactly ``round(p * N)`` labels, chosen at random, by a uniformly
   drawn *other* class.

``seed`` (default 0) drives every random step; each step draws from its own generator seeded with
``(seed, step)`` so adding one option never changes the draws of another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tapaskit.datasets.dataset import Dataset
from tapaskit.datasets.spec import format_float, format_spec, read_bool, read_float, read_int
from tapaskit.datasets.validation import MIN_CLASSES, MIN_SAMPLES_PER_CLASS
from tapaskit.errors import InvalidOptionError

VARIANT_KEYS: tuple[str, ...] = ("classes", "n", "gray", "size", "noise", "label_noise", "seed")
"""Variant keys in their canonical order (also the order in which they are applied)."""

_STEP_SUBSAMPLE, _STEP_NOISE, _STEP_LABEL_NOISE = 1, 2, 3
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Variant:
    """The variant options of a spec, parsed and range-checked (see the module docstring).

    Attributes:
        classes: Class tokens as given (indices or names), resolved against the base on apply.
        n: Number of samples to keep, or ``None`` for all.
        gray: Convert to one channel.
        size: Side of the down-sampled images, or ``None`` to keep the size.
        noise: Standard deviation of the added Gaussian pixel noise.
        label_noise: Fraction of labels replaced by another class.
        seed: Seed of every random step.
    """

    classes: tuple[str, ...] | None = None
    n: int | None = None
    gray: bool = False
    size: int | None = None
    noise: float = 0.0
    label_noise: float = 0.0
    seed: int = 0

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> Variant:
        """Parse raw variant options.

        Args:
            options: ``key -> value`` strings; every key must be in :data:`VARIANT_KEYS`.

        Returns:
            The variant.

        Raises:
            InvalidOptionError: On an unknown key or a bad value, naming the key and what is
                allowed.
        """
        unknown = [k for k in options if k not in VARIANT_KEYS]
        if unknown:
            raise InvalidOptionError(
                f"unknown variant option '{unknown[0]}'; allowed: {', '.join(VARIANT_KEYS)}"
            )
        classes = None
        if "classes" in options:
            classes = tuple(t.strip() for t in options["classes"].split(","))
            if any(not t for t in classes):
                raise InvalidOptionError(
                    f"option 'classes' must be a comma-separated list of class indices or names, "
                    f"got '{options['classes']}'"
                )
        value = options.get
        return cls(
            classes=classes,
            n=read_int("n", value("n"), low=2 * MIN_CLASSES) if "n" in options else None,
            gray=read_bool("gray", value("gray")) if "gray" in options else False,
            size=read_int("size", value("size"), low=1) if "size" in options else None,
            noise=_fraction(options, "noise"),
            label_noise=_fraction(options, "label_noise"),
            seed=read_int("seed", value("seed"), low=0) if "seed" in options else 0,
        )

    @property
    def is_random(self) -> bool:
        """Whether any step draws random numbers (so that ``seed`` matters)."""
        return self.n is not None or self.noise > 0 or self.label_noise > 0

    def apply(
        self,
        base: Dataset,
        *,
        root: str | None = None,
        base_items: Sequence[tuple[str, str]] = (),
    ) -> Dataset:
        """Derive the variant of a base dataset.

        Args:
            base: The base dataset (never changed).
            root: The base name or path the variant's name starts with; ``base.name`` when ``None``.
            base_items: Canonical generation-parameter items of a procedural base, placed before
                the variant items in the name.

        Returns:
            ``base`` itself when no option changes anything, else a new dataset named by the
            canonical spec (see :meth:`canonical_items`).

        Raises:
            InvalidOptionError: If an option does not fit the base (class out of range, ``n`` too
                large or too small, ``size`` larger than the images).
            DataError: If the result breaks a dataset rule (e.g. label noise emptied a class).
        """
        indices = self._class_indices(base)
        items = [*base_items, *self.canonical_items(indices)]
        name = format_spec(base.name if root is None else root, items)
        if not self._changes(base, indices):
            return base if name == base.name else _renamed(base, name)

        x, y, names, test = base.x, base.y, base.class_names, base.test_mask  # official test samples stay test
        if indices is not None:
            keep = np.isin(y, indices)
            remap = np.full(len(names), -1, dtype=np.int64)
            remap[list(indices)] = np.arange(len(indices))
            x, y, names = x[keep], remap[y[keep]], tuple(names[i] for i in indices)
            test = None if test is None else test[keep]
        if self.n is not None:
            rows = _stratified_sample(y, len(names), self.n, self._rng(_STEP_SUBSAMPLE), base.name)
            x, y = x[rows], y[rows]
            test = None if test is None else test[rows]
        if self.gray and x.shape[1] != 1:
            x = _to_gray(x)
        if self.size is not None and x.shape[2:] != (self.size, self.size):
            x = _area_downsample(x, self.size, base.name)
        if self.noise > 0:
            rng = self._rng(_STEP_NOISE)
            x = np.clip(
                x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(self.noise), 0, 1
            )
        if self.label_noise > 0:
            y = _flip_labels(y, len(names), self.label_noise, self._rng(_STEP_LABEL_NOISE))
        source = f"{base.source}, variant of {base.name}"
        if test is not None and (not test.any() or test.all()):
            test = None  # no official test sample left (or nothing else): the fixed hold-out instead
        return Dataset(name=name, x=x, y=y, class_names=names, source=source, test_mask=test)

    def canonical_items(self, class_indices: tuple[int, ...] | None) -> list[tuple[str, str]]:
        """The ``(key, value)`` items of the canonical name, in :data:`VARIANT_KEYS` order.

        Options at their default are left out, and so is ``seed`` when no step is random, so
        specs that mean the same data get the same name.
        """
        items: list[tuple[str, str]] = []
        if class_indices is not None:
            items.append(("classes", ",".join(str(i) for i in class_indices)))
        if self.n is not None:
            items.append(("n", str(self.n)))
        if self.gray:
            items.append(("gray", "1"))
        if self.size is not None:
            items.append(("size", str(self.size)))
        if self.noise > 0:
            items.append(("noise", format_float(self.noise)))
        if self.label_noise > 0:
            items.append(("label_noise", format_float(self.label_noise)))
        if self.seed != 0 and self.is_random:
            items.append(("seed", str(self.seed)))
        return items

    def _class_indices(self, base: Dataset) -> tuple[int, ...] | None:
        if self.classes is None:
            return None
        by_name = {n: i for i, n in enumerate(base.class_names)}
        indices = set()
        for token in self.classes:
            if token in by_name and not token.lstrip("-").isdigit():
                index = by_name[token]
            else:
                try:
                    index = int(token)
                except ValueError:
                    raise InvalidOptionError(
                        f"option 'classes' names class '{token}', which '{base.name}' does not "
                        f"have; allowed: indices 0..{base.num_classes - 1} or "
                        f"{', '.join(base.class_names)}"
                    ) from None
            if not 0 <= index < base.num_classes:
                raise InvalidOptionError(
                    f"option 'classes' must hold indices in 0..{base.num_classes - 1} for "
                    f"'{base.name}' ({base.num_classes} classes), got {index}"
                )
            if index in indices:
                raise InvalidOptionError(f"option 'classes' lists class {index} twice")
            indices.add(index)
        if len(indices) < MIN_CLASSES:
            raise InvalidOptionError(
                f"option 'classes' must select at least {MIN_CLASSES} classes, got {len(indices)}"
            )
        if len(indices) == base.num_classes:
            return None  # all classes: the same data as no subset
        return tuple(sorted(indices))

    def _changes(self, base: Dataset, indices: tuple[int, ...] | None) -> bool:
        return (
            indices is not None
            or self.n is not None
            or (self.gray and base.input_shape[0] != 1)
            or (self.size is not None and base.input_shape[1:] != (self.size, self.size))
            or self.noise > 0
            or self.label_noise > 0
        )

    def _rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, step])


def _fraction(options: Mapping[str, str], key: str) -> float:
    return read_float(key, options[key], low=0.0, high=1.0) if key in options else 0.0


def _renamed(base: Dataset, name: str) -> Dataset:
    return Dataset(name=name, x=base.x, y=base.y, class_names=base.class_names, source=base.source,
                   test_mask=base.test_mask)


def _stratified_sample(
    y: np.ndarray, k: int, n: int, rng: np.random.Generator, where: str
) -> np.ndarray:
    """Sorted row indices of an exact-size stratified subsample (at least 2 per class)."""
    counts = np.bincount(y, minlength=k)
    total = int(counts.sum())
    if n > total:
        raise InvalidOptionError(
            f"option 'n' must be at most the {total} samples of '{where}', got {n}"
        )
    if n < MIN_SAMPLES_PER_CLASS * k:
        raise InvalidOptionError(
            f"option 'n' must be at least {MIN_SAMPLES_PER_CLASS * k} for {k} classes "
            f"({MIN_SAMPLES_PER_CLASS} per class), got {n}"
        )
    take = _allocate(counts, n)
    order = np.argsort(y, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    rows = [
        rng.choice(order[starts[c] : starts[c + 1]], size=int(take[c]), replace=False)
        for c in range(k)
    ]
    return np.sort(np.concatenate(rows))


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Per-class sample counts summing to ``n``: proportional (largest remainder), at least 2."""
    quota = counts * (n / counts.sum())
    take = np.minimum(np.maximum(np.floor(quota).astype(np.int64), MIN_SAMPLES_PER_CLASS), counts)
    while (gap := n - int(take.sum())) != 0:
        if gap > 0:
            room = np.flatnonzero(take < counts)
            priority = (quota - take)[room]
        else:
            room = np.flatnonzero(take > MIN_SAMPLES_PER_CLASS)
            priority = (take - quota)[room]
        chosen = room[np.argsort(-priority, kind="stable")[: abs(gap)]]
        take[chosen] += 1 if gap > 0 else -1
    return take


def _to_gray(x: np.ndarray) -> np.ndarray:
    if x.shape[1] == 3:
        return np.einsum("nchw,c->nhw", x, _LUMA)[:, None].astype(np.float32)
    return x.mean(axis=1, keepdims=True, dtype=np.float32)


def _area_downsample(x: np.ndarray, size: int, where: str) -> np.ndarray:
    """Down-sample ``(N, C, H, W)`` to ``(N, C, size, size)``, each output pixel the mean of the
    input area it covers (fractional pixels weighted by their overlap)."""
    h, w = x.shape[2:]
    if size > h or size > w:
        raise InvalidOptionError(
            f"option 'size' must be at most the image size {h}x{w} of '{where}' "
            f"(it only down-samples), got {size}"
        )
    rows, cols = _area_matrix(h, size), _area_matrix(w, size)  # (size, H), (size, W)
    return np.matmul(rows, np.matmul(x, cols.T)).astype(np.float32)  # (N, C, size, size)


def _area_matrix(src: int, dst: int) -> np.ndarray:
    edges = np.arange(dst + 1) * (src / dst)
    lo, hi = edges[:-1, None], edges[1:, None]  # (dst, 1)
    pixel = np.arange(src)[None, :]  # (1, src)
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0, None)
    return (overlap / (src / dst)).astype(np.float32)


def _flip_labels(y: np.ndarray, k: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    count = round(fraction * len(y))
    rows = rng.choice(len(y), size=count, replace=False)
    y = y.copy()
    y[rows] = (y[rows] + rng.integers(1, k, size=count)) % k  # a uniformly drawn other class
    return y
