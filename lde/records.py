"""The records the LDE stores and returns: datasets, architectures, experiments and proxies.

Records are frozen dataclasses validated in one place, when they are built (``__post_init__``), so
a record that exists is a record the schema accepts. Stores hand back records they build afresh and
records never change after construction: to "update" one, build another with
:func:`dataclasses.replace`, which validates again.

Validation normalises what it accepts (``numpy`` scalars become ``int``/``float``, status strings
become :class:`ExperimentStatus`, lists become tuples, naive datetimes are taken as UTC) and raises
:class:`~lde.errors.InvalidRecordError` for everything else. The error's ``field`` attribute names
the offending field so importers can point at a column.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import Enum
from types import MappingProxyType
from typing import Any

from lde.errors import InvalidRecordError

__all__ = [
    "ArchitectureRecord",
    "DatasetRecord",
    "ExperimentRecord",
    "ExperimentSource",
    "ExperimentStatus",
    "PROXY_FIELDS",
    "ProxyRecord",
]

#: The zero-cost proxies a :class:`ProxyRecord` holds, in the order of every table and frame.
PROXY_FIELDS: tuple[str, ...] = ("synflow", "snip", "grad_norm", "jacob_cov", "naswot")


class ExperimentStatus(str, Enum):
    """How a training run ended. Only ``ok`` runs carry accuracies the predictor learns from."""

    OK = "ok"
    FAILED = "failed"
    DIVERGED = "diverged"
    OOM = "oom"

    def is_ok(self) -> bool:
        """Whether the run finished and its accuracies are meaningful."""
        return self is ExperimentStatus.OK

    def __str__(self) -> str:
        return self.value


class ExperimentSource(str, Enum):
    """Where an experiment came from: a seeding campaign, a search, ``tapas train``, an import..."""

    SEED = "seed"
    SEARCH = "search"
    TRAIN = "train"
    IMPORT = "import"
    BENCHMARK = "benchmark"

    def __str__(self) -> str:
        return self.value


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Field checks. Each returns the normalised value or raises InvalidRecordError naming the field.
# --------------------------------------------------------------------------------------------


def _invalid(name: str, message: str) -> InvalidRecordError:
    err = InvalidRecordError(message)
    err.field = name  # type: ignore[attr-defined]
    return err


# C0 and C1 control characters and DEL: in a name they could move the cursor or recolour the
# terminal of whoever lists the LDE (an imported "\x1b[31m..."), so short text fields refuse them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text(name: str, value: Any, *, optional: bool = False, control: bool = False) -> str | None:
    """A non-empty string; ``control`` admits control characters (JSON text fields)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(name, f"{name} must be a non-empty string, but got {value!r}")
    if not control and _CONTROL.search(value):
        raise _invalid(name, f"{name} must not contain control characters, but got {value!r}")
    return value


def _int(name: str, value: Any, *, minimum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int:  # fast path first: ABC checks are slow on a million records
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _invalid(name, f"{name} must be an integer, but got {value!r}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise _invalid(name, f"{name} must be >= {minimum}, but got {value}")
    return value


def _real(name: str, value: Any, *, minimum: float | None = None, positive: bool = False,
          optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _invalid(name, f"{name} must be a number, but got {value!r}")
        value = float(value)
    if not math.isfinite(value):
        raise _invalid(name, f"{name} must be finite, but got {value}")
    if positive and value <= 0:
        raise _invalid(name, f"{name} must be > 0, but got {value}")
    if minimum is not None and value < minimum:
        raise _invalid(name, f"{name} must be >= {minimum:g}, but got {value}")
    return value


def _unit(name: str, value: Any, *, optional: bool = True) -> float | None:
    value = _real(name, value, optional=optional)
    if value is not None and not 0.0 <= value <= 1.0:
        raise _invalid(name, f"{name} must be in [0, 1], but got {value}")
    return value


def _timestamp(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise _invalid(name, f"{name} must be a datetime, but got {value!r}")
    if value.tzinfo is UTC:
        return value
    # Naive datetimes are taken as UTC: the LDE stores UTC throughout.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _enum(name: str, enum: type[Enum], value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)  # type: ignore[attr-defined]
        raise _invalid(name, f"{name} must be one of {allowed}, but got {value!r}") from None


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def canonical_json(value: Mapping[str, Any]) -> str:
    """The canonical JSON text of a mapping: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _rebuild(cls: type, kwargs: dict[str, Any]) -> Any:
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRecord:
    """A dataset the LDE knows, identified by its content fingerprint.

    Attributes:
        fingerprint: Content fingerprint (primary key).
        name: Human name, e.g. ``"cifar10"`` or ``"cifar10-subset-3c"``; not unique.
        input_shape: ``(C, H, W)`` of one sample.
        num_classes: Number of classes (>= 2).
        num_samples: Number of samples (>= 1).
        dcn: Dataset characterisation number in [0, 1], or ``None`` when not computed yet.
        dcn_probe: Name of the probe net the DCN came from.
        dcn_probe_version: Version of that probe (a DCN is only comparable within one version).
        dcn_seed: Seed of the characterisation.
        dcn_seconds: Wall time of the characterisation (>= 0).
        dcn_probe_accuracy: Accuracy the probe reached, in [0, 1].
        created_at: When the dataset entered the LDE (UTC).
    """

    fingerprint: str
    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    num_samples: int
    dcn: float | None = None
    dcn_probe: str | None = None
    dcn_probe_version: str | None = None
    dcn_seed: int | None = None
    dcn_seconds: float | None = None
    dcn_probe_accuracy: float | None = None
    created_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        _set(self, "fingerprint", _text("fingerprint", self.fingerprint))
        _set(self, "name", _text("name", self.name))
        shape = self.input_shape
        if (
            isinstance(shape, (str, bytes))
            or not hasattr(shape, "__len__")
            or len(shape) != 3
            or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in shape)
        ):
            raise _invalid(
                "input_shape",
                f"input_shape must be 3 positive integers (C, H, W), but got {shape!r}",
            )
        _set(self, "input_shape", tuple(int(s) for s in shape))
        _set(self, "num_classes", _int("num_classes", self.num_classes, minimum=2))
        _set(self, "num_samples", _int("num_samples", self.num_samples, minimum=1))
        _set(self, "dcn", _unit("dcn", self.dcn))
        _set(self, "dcn_probe", _text("dcn_probe", self.dcn_probe, optional=True))
        _set(self, "dcn_probe_version",
             _text("dcn_probe_version", self.dcn_probe_version, optional=True))
        _set(self, "dcn_seed", _int("dcn_seed", self.dcn_seed, optional=True))
        _set(self, "dcn_seconds", _real("dcn_seconds", self.dcn_seconds, minimum=0, optional=True))
        _set(self, "dcn_probe_accuracy", _unit("dcn_probe_accuracy", self.dcn_probe_accuracy))
        _set(self, "created_at", _timestamp("created_at", self.created_at))


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchitectureRecord:
    """A network architecture, identified by the hash of its canonical JSON.

    Parameter and FLOP counts are *not* here: both depend on the input shape and the class count of
    the dataset the network is built for (the first conv's and the classifier's weights change), so
    they live on each :class:`ExperimentRecord`.

    Attributes:
        arch_hash: Stable hash of the canonical JSON (primary key).
        arch_json: Canonical JSON text made by tapaskit; opaque to the LDE.
        depth: Depth of the network as tapaskit counts it (>= 0).
        num_layers: Number of layers in the chain (>= 1).
    """

    arch_hash: str
    arch_json: str
    depth: int
    num_layers: int

    def __post_init__(self) -> None:
        _set(self, "arch_hash", _text("arch_hash", self.arch_hash))
        _set(self, "arch_json", _text("arch_json", self.arch_json, control=True))
        _set(self, "depth", _int("depth", self.depth, minimum=0))
        _set(self, "num_layers", _int("num_layers", self.num_layers, minimum=1))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentRecord:
    """One full training of one architecture on one dataset.

    Attributes:
        arch_hash: The architecture trained (must exist in the store or come in the same batch).
        dataset_fingerprint: The dataset trained on (same rule).
        peak_accuracy: Best validation accuracy in [0, 1]; required when ``status`` is ``ok``.
        final_accuracy: Validation accuracy after the last epoch; required when ``status`` is ``ok``.
        test_accuracy: Accuracy on the dataset's test split, which no selection saw (the epoch
            was chosen on validation), in [0, 1]; ``None`` when the test split was not evaluated.
        curve: Validation accuracy after each epoch, each in [0, 1]; may be empty.
        status: How the run ended.
        source: Where the experiment came from.
        lr, epochs, batch_size, optimizer, weight_decay: Training hyperparameters, nullable, kept
            as real columns so predictors can use them.
        extra_hparams: Any other hyperparameters; a JSON-serialisable mapping with string keys.
            Held as a read-only mapping.
        params: Trainable parameters of the network built for this dataset.
        flops: FLOPs of one forward pass on one sample of this dataset.
        seconds: Wall time of the training (>= 0).
        device: Where it ran, e.g. ``"cuda:0"`` or ``"cpu"``.
        seed: Seed of the training.
        mlflow_run_id: MLflow run that logged it.
        key: Idempotency key. Adding an experiment whose key is already stored does nothing, so a
            resumed campaign never duplicates rows.
        experiment_id: Assigned by the store (``None`` before the record is stored; ignored on
            input).
        created_at: When the experiment was recorded (UTC).
    """

    arch_hash: str
    dataset_fingerprint: str
    peak_accuracy: float | None = None
    final_accuracy: float | None = None
    test_accuracy: float | None = None
    curve: tuple[float, ...] = ()
    status: ExperimentStatus = ExperimentStatus.OK
    source: ExperimentSource = ExperimentSource.TRAIN
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    weight_decay: float | None = None
    extra_hparams: Mapping[str, Any] = field(default_factory=dict, hash=False)
    params: int | None = None
    flops: int | None = None
    seconds: float | None = None
    device: str | None = None
    seed: int | None = None
    mlflow_run_id: str | None = None
    key: str | None = None
    experiment_id: int | None = None
    created_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        _set(self, "arch_hash", _text("arch_hash", self.arch_hash))
        _set(self, "dataset_fingerprint", _text("dataset_fingerprint", self.dataset_fingerprint))
        status = _enum("status", ExperimentStatus, self.status)
        _set(self, "status", status)
        _set(self, "source", _enum("source", ExperimentSource, self.source))
        for name in ("peak_accuracy", "final_accuracy"):
            value = _unit(name, getattr(self, name))
            if value is None and status is ExperimentStatus.OK:
                raise _invalid(name, f"{name} is required when status is 'ok', but got None")
            _set(self, name, value)
        _set(self, "test_accuracy", _unit("test_accuracy", self.test_accuracy))
        _set(self, "curve", self._checked_curve(self.curve))
        _set(self, "lr", _real("lr", self.lr, positive=True, optional=True))
        _set(self, "epochs", _int("epochs", self.epochs, minimum=1, optional=True))
        _set(self, "batch_size", _int("batch_size", self.batch_size, minimum=1, optional=True))
        _set(self, "optimizer", _text("optimizer", self.optimizer, optional=True))
        _set(self, "weight_decay",
             _real("weight_decay", self.weight_decay, minimum=0, optional=True))
        _set(self, "extra_hparams", self._checked_extra(self.extra_hparams))
        _set(self, "params", _int("params", self.params, minimum=0, optional=True))
        _set(self, "flops", _int("flops", self.flops, minimum=0, optional=True))
        _set(self, "seconds", _real("seconds", self.seconds, minimum=0, optional=True))
        _set(self, "device", _text("device", self.device, optional=True))
        _set(self, "seed", _int("seed", self.seed, optional=True))
        _set(self, "mlflow_run_id", _text("mlflow_run_id", self.mlflow_run_id, optional=True))
        _set(self, "key", _text("key", self.key, optional=True))
        _set(self, "experiment_id",
             _int("experiment_id", self.experiment_id, minimum=1, optional=True))
        _set(self, "created_at", _timestamp("created_at", self.created_at))

    @staticmethod
    def _checked_curve(curve: Any) -> tuple[float, ...]:
        if isinstance(curve, (str, bytes, Mapping)) or not hasattr(curve, "__iter__"):
            raise _invalid("curve", f"curve must be a sequence of accuracies, but got {curve!r}")
        out = []
        for i, value in enumerate(curve):
            if type(value) is not float:
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise _invalid("curve", f"curve[{i}] must be a number, but got {value!r}")
                value = float(value)
            if not 0.0 <= value <= 1.0:  # also rejects NaN
                raise _invalid("curve", f"curve[{i}] must be in [0, 1], but got {value}")
            out.append(value)
        return tuple(out)

    @staticmethod
    def _checked_extra(extra: Any) -> Mapping[str, Any]:
        if type(extra) is dict and not extra:
            return _EMPTY
        if not isinstance(extra, Mapping):
            raise _invalid("extra_hparams",
                           f"extra_hparams must be a mapping, but got {type(extra).__name__}")
        if any(not isinstance(k, str) for k in extra):
            bad = next(k for k in extra if not isinstance(k, str))
            raise _invalid("extra_hparams",
                           f"extra_hparams keys must be strings, but got {bad!r}")
        try:
            text = canonical_json(dict(extra))
        except (TypeError, ValueError) as exc:
            raise _invalid("extra_hparams",
                           f"extra_hparams must be JSON-serialisable, but {exc}") from None
        # A private copy behind a read-only view: the caller's dict can change, the record cannot.
        return MappingProxyType(json.loads(text))

    @property
    def extra_hparams_json(self) -> str:
        """``extra_hparams`` as canonical JSON text (what the store writes)."""
        return canonical_json(dict(self.extra_hparams))

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled; rebuild from plain values (records cross process lines).
        kwargs = {f.name: getattr(self, f.name) for f in fields(self)}
        kwargs["extra_hparams"] = dict(self.extra_hparams)
        return (_rebuild, (type(self), kwargs))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyRecord:
    """The zero-cost proxies of one architecture on one dataset, computed at initialisation.

    One record per (architecture, dataset) pair: the proxies depend on the network, the data and
    the proxy seed, not on a training's schedule, so every experiment of the pair shares them. The
    values are the scores as tapaskit stores them (some log-scaled; ``docs/proxies.md`` defines
    each); the LDE only checks that each is a finite number or ``None`` (a proxy that failed or
    came out NaN/infinite). A record whose scores are all ``None`` still says "computed", so a
    backfill does not try again.

    Attributes:
        arch_hash: The architecture (must exist in the store or come in the same batch).
        dataset_fingerprint: The dataset (same rule).
        synflow, snip, grad_norm, jacob_cov, naswot: The scores, each finite or ``None``.
        seed: Seed of the initialisation and of the minibatch.
        batch_size: Samples in the minibatch (>= 1).
        seconds: Wall time of the computation (>= 0).
        created_at: When the proxies were computed (UTC).
    """

    arch_hash: str
    dataset_fingerprint: str
    synflow: float | None = None
    snip: float | None = None
    grad_norm: float | None = None
    jacob_cov: float | None = None
    naswot: float | None = None
    seed: int | None = None
    batch_size: int | None = None
    seconds: float | None = None
    created_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        _set(self, "arch_hash", _text("arch_hash", self.arch_hash))
        _set(self, "dataset_fingerprint", _text("dataset_fingerprint", self.dataset_fingerprint))
        for name in PROXY_FIELDS:
            _set(self, name, _real(name, getattr(self, name), optional=True))
        _set(self, "seed", _int("seed", self.seed, optional=True))
        _set(self, "batch_size", _int("batch_size", self.batch_size, minimum=1, optional=True))
        _set(self, "seconds", _real("seconds", self.seconds, minimum=0, optional=True))
        _set(self, "created_at", _timestamp("created_at", self.created_at))

    @property
    def pair(self) -> tuple[str, str]:
        """``(arch_hash, dataset_fingerprint)``: what identifies the record."""
        return self.arch_hash, self.dataset_fingerprint

    def values(self) -> dict[str, float | None]:
        """The five scores by name, in :data:`PROXY_FIELDS` order."""
        return {name: getattr(self, name) for name in PROXY_FIELDS}
