"""The :class:`Dataset` record: validated image arrays, their labels, a content fingerprint, and the
split into train, validation and a test part that no selection ever sees.

The test part is the dataset's official test set where it has one (``test_mask``: Fashion-MNIST's
``t10k`` files, a user's ``x_test``/``y_test``), otherwise a fixed stratified
:data:`TEST_FRACTION` of each class drawn with :data:`TEST_SEED`, a seed of its own, so that no
choice of a search or training seed moves a sample between test and the rest. :meth:`Dataset.split`
divides only the rest into train and validation: validation picks epochs and candidates, the test
part is evaluated once, for the finalists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from tapaskit.datasets.validation import MIN_SAMPLES_PER_CLASS, validate_arrays
from tapaskit.errors import DataError, InvalidOptionError

FINGERPRINT_CHARS = 16
#: Share of each class held out as the test part when a dataset has no official test set.
TEST_FRACTION = 0.2
#: Seed of that hold-out; fixed, so the test part never depends on a run's seed.
TEST_SEED = 20190127


@dataclass(frozen=True, eq=False)
class Dataset:
    """An image classification dataset, validated once when constructed and never changed after.

    Construction runs :func:`~tapaskit.datasets.validation.validate_arrays`: ``x`` becomes float32
    ``(N, C, H, W)`` in ``[0, 1]``, labels become int64 ``0..K-1`` (relabelled from arbitrary
    integers or strings when ``class_names`` is not given), and bad data raises
    :class:`~tapaskit.errors.DataError` naming ``source``. Both arrays are read-only.

    Attributes:
        name: Canonical spec, e.g. ``"digits"`` or ``"fashion-mnist[classes=0,6;n=2000]"``, or the
            path the user gave.
        x: Images, ``(N, C, H, W)`` float32 in ``[0, 1]``.
        y: Labels, ``(N,)`` int64 in ``0..K-1``; every class present with at least 2 samples.
        class_names: Names of classes ``0..K-1``.
        source: Human description of the origin (a file path, a package).
        fingerprint: 16 hex characters hashing the content (shape, ``x`` and ``y`` bytes and the
            class count): the same data gives the same fingerprint whatever its name.
        test_mask: ``(N,)`` booleans marking the official test samples, or ``None`` (then the
            test part is a fixed stratified hold-out; see the module docstring). Not part of the
            fingerprint: it says how the content is used, not what it is.
    """

    name: str
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    class_names: tuple[str, ...] | None = None
    source: str = ""
    test_mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        where = self.source or self.name
        x, y, names = validate_arrays(self.x, self.y, source=where, class_names=self.class_names)
        object.__setattr__(self, "x", _read_only(x))
        object.__setattr__(self, "y", _read_only(y))
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "source", where)
        object.__setattr__(self, "fingerprint", content_fingerprint(x, y, len(names)))
        if self.test_mask is not None:
            mask = np.asarray(self.test_mask, dtype=bool)
            if mask.shape != (len(y),):
                raise DataError(f"test_mask must have shape ({len(y)},) in {where}, but got {mask.shape}")
            if mask.all():
                raise DataError(f"every sample of {where} is marked as test; nothing is left to train on")
            object.__setattr__(self, "test_mask", _read_only(mask))

    @property
    def has_official_test(self) -> bool:
        """Whether the test part is an official test set (rather than the fixed hold-out)."""
        return self.test_mask is not None and bool(self.test_mask.any())

    def test_indices(self) -> np.ndarray:
        """The test part: sorted indices no selection may see (see the module docstring)."""
        if self.test_mask is not None:
            return np.flatnonzero(self.test_mask).astype(np.int64)
        rng = np.random.default_rng(TEST_SEED)
        order = np.argsort(self.y, kind="stable")
        starts = np.concatenate([[0], np.cumsum(self.class_counts())])
        parts = []
        for k in range(self.num_classes):
            members = order[starts[k] : starts[k + 1]]
            # keep at least MIN_SAMPLES_PER_CLASS of each class for train and validation
            n_test = int(np.clip(round(TEST_FRACTION * len(members)), 0, max(0, len(members) - MIN_SAMPLES_PER_CLASS)))
            parts.append(rng.permutation(members)[:n_test])
        return np.sort(np.concatenate(parts)).astype(np.int64)

    @property
    def num_classes(self) -> int:
        """Number of classes ``K``."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image, ``(C, H, W)``."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_samples(self) -> int:
        """Number of samples ``N``."""
        return int(self.x.shape[0])

    def class_counts(self) -> np.ndarray:
        """Samples per class, shape ``(K,)``."""
        return np.bincount(self.y, minlength=self.num_classes)

    def split(self, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A stratified train/validation split of the samples outside the test part, fixed for a seed.

        Each class contributes ``round(val_fraction * n_class)`` of its non-test samples to
        validation, kept between 1 and ``n_class - 1`` so that every class is in both parts.

        Args:
            val_fraction: Fraction of each class that goes to validation, ``0 < val_fraction < 1``.
            seed: Seed of the generator that shuffles each class.

        Returns:
            ``(train_idx, val_idx)``: sorted, disjoint int64 index arrays covering ``0..N-1``.

        Raises:
            InvalidOptionError: If ``val_fraction`` is not strictly between 0 and 1.
            DataError: If a class has fewer than 2 samples.
        """
        if not 0.0 < float(val_fraction) < 1.0:
            raise InvalidOptionError(
                f"val_fraction must satisfy 0 < val_fraction < 1, got {val_fraction}"
            )
        rest = np.ones(self.num_samples, dtype=bool)
        rest[self.test_indices()] = False
        pool = np.flatnonzero(rest)
        y = self.y[pool]
        counts = np.bincount(y, minlength=self.num_classes)
        small = np.flatnonzero(counts < MIN_SAMPLES_PER_CLASS)
        if len(small):
            k = small[0]
            raise DataError(
                f"class '{self.class_names[k]}' has {counts[k]} samples outside the test part in "
                f"{self.name}; a stratified split needs at least {MIN_SAMPLES_PER_CLASS}"
            )
        rng = np.random.default_rng(seed)
        order = pool[np.argsort(y, kind="stable")]
        starts = np.concatenate([[0], np.cumsum(counts)])
        val_parts = []
        for k in range(self.num_classes):
            members = order[starts[k] : starts[k + 1]]
            n_val = int(np.clip(round(val_fraction * len(members)), 1, len(members) - 1))
            val_parts.append(rng.permutation(members)[:n_val])
        val_idx = np.sort(np.concatenate(val_parts)).astype(np.int64)
        rest[val_idx] = False
        return np.flatnonzero(rest).astype(np.int64), val_idx


def content_fingerprint(x: np.ndarray, y: np.ndarray, num_classes: int) -> str:
    """Hash of a dataset's content: 16 hex characters of BLAKE2b.

    Args:
        x: Normalised images, float32 ``(N, C, H, W)``.
        y: Labels, int64 ``(N,)``.
        num_classes: Number of classes ``K``.

    Returns:
        The hex digest; equal content gives an equal digest.
    """
    h = hashlib.blake2b(digest_size=FINGERPRINT_CHARS // 2)
    h.update(repr((tuple(x.shape), str(x.dtype), int(num_classes))).encode())
    h.update(np.ascontiguousarray(x).data)
    h.update(np.ascontiguousarray(y, dtype=np.int64).data)
    return h.hexdigest()


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view
