"""Training one architecture on one dataset, for real, with torch.

The trainer is what every accuracy in the LDE comes from: ``tapas train``, the seeding campaign
and the top-K trainings of a search all call :func:`train_architecture`. It

- standardises inputs with the training split's per-channel mean and std, as a ``Standardize``
  module inside the network (so saved weights carry it and a standalone ``model.py`` needs nothing
  else);
- trains with the given optimizer and a cosine learning-rate decay, evaluating validation accuracy
  after every epoch and keeping the weights of the best epoch;
- runs on CUDA when available (autocast mixed precision, cudnn benchmark), on the CPU otherwise;
- is seeded: on the CPU the same seed gives the same curve (initialisation, batch order and dropout
  all come from a private RNG state, the caller's global state is left untouched);
- computes the zero-cost proxies of the network at initialisation first
  (:mod:`~tapaskit.training.zero_cost`: one seeded minibatch, on the CPU, a few tens of
  milliseconds) and returns them with the result, so that the one process that records the
  training writes them with it; a proxy computation that fails gives ``proxies=None`` and never
  touches the training;
- never raises for a run that goes wrong while training: a NaN/inf loss ends with status
  ``diverged``, an out-of-memory with ``oom``, any other runtime failure with ``failed``.
  An architecture that cannot be built for the dataset is a user mistake and raises
  :class:`~tapaskit.errors.InvalidArchitectureError` before anything is trained.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

from tapaskit.datasets import Dataset
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError
from tapaskit.space.architecture import Architecture
from tapaskit.space.builder import build_module
from tapaskit.space.shapes import NetworkSummary, infer_shapes
from tapaskit.training.devices import free_memory, is_oom, resolve_device
from tapaskit.training.zero_cost import ProxyScores, compute_proxies

OPTIMIZERS = ("adam", "adamw", "sgd")


class TrainStatus(str, Enum):
    """How a training run ended. Mirrors the LDE's experiment status."""

    OK = "ok"
    FAILED = "failed"
    DIVERGED = "diverged"
    OOM = "oom"


@dataclass(frozen=True)
class Hyperparameters:
    """The training schedule of one run. Validated on construction.

    Defaults are tuned so that a small CNN reaches useful accuracy in a few epochs on CPU.
    """

    epochs: int = 10
    lr: float = 3e-3
    batch_size: int = 64
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    val_fraction: float = 0.2
    max_train: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidOptionError(f"epochs must be >= 1, but got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidOptionError(f"lr must be a positive number, but got {self.lr}")
        if self.batch_size < 1:
            raise InvalidOptionError(f"batch_size must be >= 1, but got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidOptionError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got {self.optimizer!r}"
            )
        if self.weight_decay < 0:
            raise InvalidOptionError(f"weight_decay must be >= 0, but got {self.weight_decay}")
        if not 0 < self.val_fraction < 1:
            raise InvalidOptionError(f"val_fraction must be in (0, 1), but got {self.val_fraction}")
        if self.max_train is not None and self.max_train < 2:
            raise InvalidOptionError(f"max_train must be >= 2, but got {self.max_train}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced. ``state_dict`` is set only when weights were kept.

    ``proxies`` holds the zero-cost proxies of the network at initialisation on this dataset (see
    :mod:`~tapaskit.training.zero_cost`), or ``None`` when they were not computed (a failure
    before the training, ``proxies=False``) or their computation failed.
    """

    status: TrainStatus
    arch_hash: str
    dataset: str
    fingerprint: str
    curve: tuple[float, ...]
    train_loss: tuple[float, ...]
    peak_accuracy: float | None
    final_accuracy: float | None
    peak_epoch: int | None
    seconds: float
    device: str
    params: int
    flops: int
    seed: int
    hparams: Hyperparameters
    message: str = ""
    test_accuracy: float | None = None
    proxies: ProxyScores | None = None
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status is TrainStatus.OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without weights)."""
        out = asdict(self)
        out.pop("state_dict")
        out["status"] = self.status.value
        out["curve"] = list(self.curve)
        out["train_loss"] = list(self.train_loss)
        return out


class Standardize(nn.Module):
    """Per-channel standardisation with fixed statistics, stored as buffers."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1))
        self.register_buffer("std", std.reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def build_trainable(
    arch: Architecture, input_shape: tuple[int, int, int], num_classes: int,
    mean: torch.Tensor | None = None, std: torch.Tensor | None = None,
) -> nn.Sequential:
    """The network as trained and saved: ``Standardize`` followed by the built architecture."""
    channels = input_shape[0]
    mean = torch.zeros(channels) if mean is None else mean
    std = torch.ones(channels) if std is None else std
    return nn.Sequential(Standardize(mean, std), build_module(arch, input_shape, num_classes))


def training_memory(summary: NetworkSummary, dataset: Dataset, hparams: Hyperparameters, device: torch.device) -> int:
    """Bytes a training needs, roughly: weights, gradients and two optimiser states (float32), the
    activations of a batch forward and backward, and the data when it is copied to a GPU."""
    weights = 4 * 4 * summary.params
    activations = 2 * 4 * summary.activation_memory * hparams.batch_size
    data = dataset.x.nbytes if device.type == "cuda" else 0
    return weights + activations + data


def check_fits_memory(arch: Architecture, dataset: Dataset, hparams: Hyperparameters,
                      device: str | torch.device | None = None) -> None:
    """Refuse a training that cannot fit the device's free memory, before anything is built.

    Raises:
        InvalidArchitectureError: the estimate of :func:`training_memory` exceeds the free memory,
            naming both figures.
    """
    _check_memory(infer_shapes(arch, dataset.input_shape, dataset.num_classes), dataset, hparams,
                  resolve_device(device))


def _check_memory(summary: NetworkSummary, dataset: Dataset, hparams: Hyperparameters, dev: torch.device) -> None:
    need, free = training_memory(summary, dataset, hparams, dev), free_memory(dev)
    if free is not None and need > free:
        raise InvalidArchitectureError(
            f"the network is too large to train on {dev}: about {need / 2**30:.1f} GiB "
            f"({summary.params:,} parameters, batch {hparams.batch_size}) against {free / 2**30:.1f} GiB free; "
            "use fewer filters or units, a smaller --batch-size, or another device")


def _split_indices(dataset: Dataset, hparams: Hyperparameters, seed: int) -> tuple[np.ndarray, np.ndarray]:
    train_idx, val_idx = dataset.split(val_fraction=hparams.val_fraction, seed=seed)
    if hparams.max_train is not None and len(train_idx) > hparams.max_train:
        rng = np.random.default_rng(seed)
        train_idx = np.sort(rng.choice(train_idx, size=hparams.max_train, replace=False))
    return train_idx, val_idx


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``, in eval mode."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])  # (B, K)
        correct += int((logits.argmax(dim=1) == y[start:start + batch_size]).sum())
    return correct / max(len(x), 1)


def train_architecture(
    arch: Architecture,
    dataset: Dataset,
    hparams: Hyperparameters | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    keep_weights: bool = False,
    evaluate_test: bool = False,
    progress: Callable[[int, float, float], None] | None = None,
    proxies: bool = True,
) -> TrainResult:
    """Train ``arch`` on ``dataset`` and report the validation learning curve.

    Args:
        arch: the network to train (its head is sized to the dataset's class count).
        dataset: the data; its fixed split for ``seed`` gives train and validation parts.
        hparams: the schedule; defaults to :class:`Hyperparameters()`.
        seed: drives the split, initialisation, batch order and dropout.
        device: ``"cuda"``, ``"cpu"`` or None for the best available.
        keep_weights: return the weights of the best epoch in ``state_dict``.
        evaluate_test: evaluate the best epoch's weights (chosen on validation) once on the
            dataset's test part, into ``test_accuracy``; for finalists only.
        progress: called after each epoch with (epoch, train_loss, val_accuracy).
        proxies: compute the zero-cost proxies at initialisation first (on the CPU, with the
            proxy seed, whatever ``seed`` is: the value a later backfill computes too).

    Returns:
        A :class:`TrainResult`; its status says whether training went well.

    Raises:
        InvalidArchitectureError: the network cannot be built for this dataset's input.
        InvalidOptionError: ``device`` is not a CPU or CUDA device, or there is no CUDA.
    """
    hparams = hparams or Hyperparameters()
    summary = infer_shapes(arch, dataset.input_shape, dataset.num_classes)  # raises if invalid
    dev = resolve_device(device)
    _check_memory(summary, dataset, hparams, dev)  # a clear refusal instead of a failed 36 GB allocation
    scores = _initial_proxies(arch, dataset) if proxies else None
    started = time.perf_counter()
    curve: list[float] = []
    losses: list[float] = []
    best_state: dict[str, torch.Tensor] | None = None
    test_accuracy: list[float] = []
    status, message = TrainStatus.OK, ""

    def result(status: TrainStatus, message: str) -> TrainResult:
        peak_epoch = int(np.argmax(curve)) if curve else None
        return TrainResult(
            status=status, arch_hash=arch.arch_hash, dataset=dataset.name,
            fingerprint=dataset.fingerprint, curve=tuple(curve), train_loss=tuple(losses),
            peak_accuracy=max(curve) if curve else None,
            final_accuracy=curve[-1] if curve else None, peak_epoch=peak_epoch,
            seconds=time.perf_counter() - started, device=str(dev), params=summary.params,
            flops=summary.flops, seed=seed, hparams=hparams, message=message,
            test_accuracy=test_accuracy[0] if test_accuracy and status is TrainStatus.OK else None,
            proxies=scores,
            state_dict=best_state if keep_weights and status is TrainStatus.OK else None,
        )

    train_idx, val_idx = _split_indices(dataset, hparams, seed)
    x_train = torch.from_numpy(dataset.x[train_idx])
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)

    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        best_holder: list[dict[str, torch.Tensor]] = []
        try:
            model = _train_loop(arch, dataset, hparams, dev, train_idx, val_idx, mean, std, seed,
                                curve, losses, progress, keep_weights or evaluate_test, best_holder)
            best_state = best_holder[0] if best_holder else None
            if evaluate_test and best_state is not None:
                test_accuracy.append(_test_accuracy(model, best_state, dataset, dev))
            if not keep_weights:
                best_state = None
        except _Diverged as exc:
            status, message = TrainStatus.DIVERGED, str(exc)
        except Exception as exc:  # a run that breaks must become a record, not a crash
            if is_oom(exc):
                status, message = TrainStatus.OOM, f"out of memory: {exc}".splitlines()[0]
            else:
                status, message = TrainStatus.FAILED, f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    if status is TrainStatus.OK and not curve:
        status, message = TrainStatus.FAILED, "no epoch finished"
    return result(status, message)


class _Diverged(RuntimeError):
    pass


def _initial_proxies(arch: Architecture, dataset: Dataset) -> ProxyScores | None:
    """The zero-cost proxies of ``arch`` on ``dataset``, or ``None``: they never fail a training.

    Computed on the CPU with torch's global RNG forked and restored, so the training that follows
    starts from exactly the state it would have had without them.
    """
    try:
        return compute_proxies(arch, dataset)
    except Exception:  # noqa: BLE001 - an odd network or dataset: the training goes on without them
        return None


def _train_loop(
    arch: Architecture, dataset: Dataset, hparams: Hyperparameters, dev: torch.device,
    train_idx: np.ndarray, val_idx: np.ndarray, mean: torch.Tensor, std: torch.Tensor, seed: int,
    curve: list[float], losses: list[float],
    progress: Callable[[int, float, float], None] | None, keep_weights: bool,
    best_holder: list[dict[str, torch.Tensor]],
) -> nn.Module:
    model = build_trainable(arch, dataset.input_shape, dataset.num_classes, mean, std).to(dev)
    x_train = torch.from_numpy(dataset.x[train_idx]).to(dev)
    y_train = torch.from_numpy(dataset.y[train_idx]).to(dev)
    x_val = torch.from_numpy(dataset.x[val_idx]).to(dev)
    y_val = torch.from_numpy(dataset.y[val_idx]).to(dev)

    if hparams.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=hparams.lr, momentum=hparams.momentum,
            weight_decay=hparams.weight_decay, nesterov=True)
    elif hparams.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=hparams.lr, weight_decay=hparams.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=hparams.lr, weight_decay=hparams.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / hparams.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=hparams.lr, total_steps=hparams.epochs * steps_per_epoch,
        pct_start=0.15, anneal_strategy="cos", div_factor=10.0, final_div_factor=100.0)
    loss_fn = nn.CrossEntropyLoss()
    use_amp = dev.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype is torch.float16)
    if use_amp:
        torch.backends.cudnn.benchmark = True
    order_gen = torch.Generator().manual_seed(seed)
    best = -1.0
    for epoch in range(hparams.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=order_gen).to(dev)
        total, count = torch.zeros((), device=dev), 0
        for start in range(0, len(order), hparams.batch_size):
            idx = order[start:start + hparams.batch_size]
            if len(idx) < 2 and count:  # batch norm cannot train on a single sample
                continue
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += loss.detach() * len(idx)
            count += len(idx)
        mean_loss = float(total) / max(count, 1)
        if not math.isfinite(mean_loss):
            raise _Diverged(f"loss became {mean_loss} in epoch {epoch + 1}")
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
            acc = evaluate(model, x_val, y_val)
        losses.append(mean_loss)
        curve.append(acc)
        if keep_weights and acc > best:
            best = acc
            best_holder[:] = [{k: v.detach().cpu().clone() for k, v in model.state_dict().items()}]
        if progress is not None:
            progress(epoch + 1, mean_loss, acc)
    return model


def _test_accuracy(model: nn.Module, best_state: dict[str, torch.Tensor], dataset: Dataset,
                   dev: torch.device) -> float | None:
    """The best epoch's weights evaluated once on the test part (never seen by any selection)."""
    test_idx = dataset.test_indices()
    if len(test_idx) == 0:  # too few samples per class to hold any out
        return None
    model.load_state_dict(best_state)
    x = torch.from_numpy(dataset.x[test_idx]).to(dev)
    y = torch.from_numpy(dataset.y[test_idx]).to(dev)
    return evaluate(model, x, y)
