"""Characterise a dataset: train a probe on a bounded stratified subsample and report its DCN.

The procedure, fixed so that DCNs computed on different datasets can be compared:

1. **Validate** the arrays once (shape, finiteness, labels ``0..K-1`` each with >= 2 samples).
2. **Subsample, stratified.** A validation part of ``min(max_val, 25 % of N)`` samples and a
   training part of ``min(max_train, the rest)`` samples, each class in proportion to its share
   (at least one sample per class in each part). The cost therefore stops growing with the dataset
   past about ``max_train + max_val`` samples. The subsample is drawn with ``split_seed``, *not*
   ``seed``: the seed stands for the probe's training noise (initialisation and batch order),
   while the data the probe sees is part of what is measured and stays put. Repeating a
   characterisation over seeds then shows how much the probe itself wobbles; pass another
   ``split_seed`` to see the effect of the subsample.
3. **Standardise** with the per-channel mean and std of the training part.
4. **Train** the probe with Adam and a one-cycle cosine learning-rate schedule (warm-up over the
   first 20 % of steps, decay to 1/1000 of the peak), so the last epochs train at a tiny learning
   rate and the weights, hence the accuracy, settle.
5. **Score**: the probe accuracy is the mean validation accuracy over the last 2 epochs; the DCN
   is :func:`~probenets.dcn.dcn_from_accuracy` of it. The mean of the settled epochs is used
   rather than the peak because the peak of a noisy curve is biased upwards and jumps between
   epochs from one seed to the next.

On CPU the same ``(seed, split_seed)`` gives the same DCN. On CUDA the probe trains under autocast
(bfloat16 where supported) and cuDNN may pick non-deterministic kernels, so repeated runs can
differ in the last digits.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from probenets.dcn import chance_accuracy, dcn_from_accuracy
from probenets.errors import ProbeInputError, ProbeOptionError, ProbeTrainingError
from probenets.nets import DEFAULT_PROBE, get_probe

DEFAULT_MAX_TRAIN = 5000
DEFAULT_MAX_VAL = 2000
DEFAULT_EPOCHS = 8
DEFAULT_BATCH_SIZE = 128
#: Share of a small dataset held out for validation (before ``max_val`` caps it).
VAL_FRACTION = 0.25
#: The probe accuracy is the mean validation accuracy of this many final epochs.
AVERAGE_LAST = 2
#: Fewer samples than this cannot give a meaningful split.
MIN_SAMPLES = 10

_WARMUP_FRACTION = 0.2
_EVAL_BATCH = 500


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one characterisation.

    Attributes:
        dcn: dataset characterization number in [0, 1]; higher means easier.
        probe_accuracy: mean validation accuracy of the last ``AVERAGE_LAST`` epochs.
        chance_accuracy: ``1 / num_classes``, the accuracy the DCN maps to 0.
        num_classes: ``K``, the largest label + 1.
        probe: probe name in :data:`~probenets.nets.PROBES`.
        probe_version: the probe's version; compare DCNs only across equal (probe, version).
        seed: seed of the probe's initialisation and batch order.
        split_seed: seed of the stratified subsample.
        n_train: training samples actually used.
        n_val: validation samples actually used.
        epochs: training epochs.
        batch_size: training batch size.
        lr: peak learning rate.
        val_accuracies: validation accuracy after each of the last ``AVERAGE_LAST`` epochs (the
            probe is evaluated only where it counts: evaluating every epoch would add a third
            to the cost on CPU).
        seconds: wall time of the whole characterisation.
        device: where the probe trained, e.g. ``"cpu"`` or ``"cuda:0"``.
    """

    dcn: float
    probe_accuracy: float
    chance_accuracy: float
    num_classes: int
    probe: str
    probe_version: str
    seed: int
    split_seed: int
    n_train: int
    n_val: int
    epochs: int
    batch_size: int
    lr: float
    val_accuracies: tuple[float, ...]
    seconds: float
    device: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["val_accuracies"] = list(self.val_accuracies)
        return out


def characterize(
    x: np.ndarray,
    y: np.ndarray,
    *,
    probe: str = DEFAULT_PROBE,
    seed: int = 0,
    split_seed: int = 0,
    max_train: int = DEFAULT_MAX_TRAIN,
    max_val: int = DEFAULT_MAX_VAL,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    device: str | torch.device | None = None,
    num_threads: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> ProbeResult:
    """Train a probe on a stratified subsample of ``(x, y)`` and return the dataset's DCN.

    Args:
        x: images ``(N, C, H, W)``, float (or integer) values, all finite.
        y: labels ``(N,)``, integers ``0..K-1`` with ``K >= 2``, each class with >= 2 samples.
        probe: a name in :data:`~probenets.nets.PROBES`.
        seed: drives the probe's initialisation and batch order.
        split_seed: drives which samples form the training and validation parts.
        max_train: cap on training samples (at least ``K``).
        max_val: cap on validation samples (at least ``K``).
        epochs: training epochs (at least ``AVERAGE_LAST``).
        batch_size: training batch size (at least 2, batch norm needs it).
        lr: peak learning rate; None takes the probe's registered one.
        device: ``"cpu"``, ``"cuda"``... or None for CUDA when available, else CPU.
        num_threads: CPU threads torch may use during this call (restored afterwards); None
            leaves torch's setting alone. 1 is much faster on a machine whose cores are busy
            with other work, where torch's threads wait for each other (see the README).
        progress: called after each epoch with ``(epoch, epochs, train_loss)``, epoch from 1,
            ``train_loss`` the epoch's mean training loss.

    Returns:
        A :class:`ProbeResult`.

    Raises:
        ProbeInputError: ``x`` not 4-D or not finite, ``x``/``y`` lengths differ, labels not
            integers ``0..K-1``, a single class, a class with fewer than 2 samples, or fewer
            than ``MIN_SAMPLES`` samples.
        ProbeOptionError: an option out of range, or a device that cannot be used.
        UnknownProbeError: ``probe`` is not registered.
        ProbeTrainingError: the training loss became NaN or infinite.
    """
    started = time.perf_counter()
    spec = get_probe(probe)
    x, y = np.asarray(x), np.asarray(y)
    counts = _check_data(x, y)
    num_classes = len(counts)
    lr = spec.lr if lr is None else lr
    _check_options(seed=seed, split_seed=split_seed, max_train=max_train, max_val=max_val,
                   epochs=epochs, batch_size=batch_size, lr=lr, num_classes=num_classes)
    if num_threads is not None and (not _is_int(num_threads) or num_threads < 1):
        raise ProbeOptionError(
            f"num_threads must be an integer >= 1 or None, but got {num_threads!r}")
    dev = resolve_device(device)

    train_idx, val_idx = stratified_split(y, counts, max_train=max_train, max_val=max_val,
                                          seed=split_seed)
    x_train, x_val = _standardize(x[train_idx], x[val_idx])
    y_train = torch.from_numpy(y[train_idx].astype(np.int64)).to(dev)
    y_val = torch.from_numpy(y[val_idx].astype(np.int64)).to(dev)
    x_train_t, x_val_t = torch.from_numpy(x_train).to(dev), torch.from_numpy(x_val).to(dev)

    generator = torch.Generator().manual_seed(seed)
    model = spec.build(tuple(int(s) for s in x.shape[1:]), num_classes,  # type: ignore[arg-type]
                       generator=generator, device=dev)
    threads_before = torch.get_num_threads()
    try:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        val_accuracies = _train(model, x_train_t, y_train, x_val_t, y_val, generator=generator,
                                epochs=epochs, batch_size=batch_size, lr=lr, progress=progress)
    finally:
        torch.set_num_threads(threads_before)
    accuracy = float(np.mean(val_accuracies))
    return ProbeResult(
        dcn=dcn_from_accuracy(accuracy, num_classes), probe_accuracy=accuracy,
        chance_accuracy=chance_accuracy(num_classes), num_classes=num_classes, probe=spec.name,
        probe_version=spec.version, seed=seed, split_seed=split_seed, n_train=len(train_idx),
        n_val=len(val_idx), epochs=epochs, batch_size=batch_size, lr=lr,
        val_accuracies=tuple(val_accuracies),
        seconds=time.perf_counter() - started, device=str(dev),
    )


def stratified_split(
    y: np.ndarray, counts: np.ndarray, *, max_train: int, max_val: int, seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, class-stratified training and validation indices of bounded size.

    The validation part has ``min(max_val, max(K, round(VAL_FRACTION * N)))`` samples, the
    training part ``min(max_train, N - n_val)``; within each part every class gets at least one
    sample and otherwise a share proportional to its size (largest-remainder rounding).

    Args:
        y: labels ``(N,)`` in ``0..K-1``.
        counts: samples per class, ``np.bincount(y)``, each at least 2.
        max_train: cap on the training part, at least ``K``.
        max_val: cap on the validation part, at least ``K``.
        seed: seed of the numpy generator that picks the samples.

    Returns:
        ``(train_idx, val_idx)``, each sorted ascending.
    """
    n, k = len(y), len(counts)
    n_val = min(max_val, max(k, round(VAL_FRACTION * n)))
    n_train = min(max_train, n - n_val)
    val_per_class = _proportional(counts - 1, n_val)  # keep one sample of each class for training
    train_per_class = _proportional(counts - val_per_class, n_train)
    rng = np.random.default_rng(seed)
    by_class = np.split(np.argsort(y, kind="stable"), np.cumsum(counts)[:-1])
    train_parts, val_parts = [], []
    for members, n_v, n_t in zip(by_class, val_per_class, train_per_class):
        chosen = rng.permutation(members)
        val_parts.append(chosen[:n_v])
        train_parts.append(chosen[n_v:n_v + n_t])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


def _proportional(capacity: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into per-class integers in ``[1, capacity]``, proportional beyond the 1."""
    alloc = np.ones(len(capacity), dtype=np.int64)
    rest = total - len(capacity)
    weights = capacity.astype(np.int64) - 1
    weight_sum = int(weights.sum())
    if rest <= 0 or weight_sum == 0:
        return alloc
    # Integer largest-remainder: exact, so no class can exceed its capacity through rounding.
    scaled = weights * rest
    base, remainder = scaled // weight_sum, scaled % weight_sum
    leftover = rest - int(base.sum())
    base[np.argsort(-remainder, kind="stable")[:leftover]] += 1
    return alloc + base


def _standardize(x_train: np.ndarray, x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both parts as float32, standardised per channel with the training part's statistics."""
    x_train = x_train.astype(np.float32, copy=False)
    x_val = x_val.astype(np.float32, copy=False)
    # Statistics accumulate in float64 (float32 sums over millions of pixels lose digits), then
    # apply in float32 so the standardised copies stay half the size.
    mean = x_train.mean(axis=(0, 2, 3), dtype=np.float64)
    std = np.maximum(x_train.std(axis=(0, 2, 3), dtype=np.float64), 1e-6)
    mean = mean.astype(np.float32).reshape(1, -1, 1, 1)
    std = std.astype(np.float32).reshape(1, -1, 1, 1)
    return (x_train - mean) / std, (x_val - mean) / std


def _train(
    model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
    y_val: torch.Tensor, *, generator: torch.Generator, epochs: int, batch_size: int, lr: float,
    progress: Callable[[int, int, float], None] | None,
) -> list[float]:
    """Train ``model`` in place; return the validation accuracies of the last epochs."""
    dev = x_train.device
    n = len(x_train)
    steps_per_epoch = math.ceil(n / batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=_WARMUP_FRACTION,
        anneal_strategy="cos", div_factor=10.0, final_div_factor=100.0)
    loss_fn = nn.CrossEntropyLoss()
    use_amp = dev.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype is torch.float16)
    accuracies: list[float] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator).to(dev)
        total, count = torch.zeros((), device=dev), 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:  # batch norm cannot normalise a single sample
                continue
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += loss.detach().float() * len(idx)
            count += len(idx)
        mean_loss = float(total) / max(count, 1)  # one device sync per epoch, not per step
        if not math.isfinite(mean_loss):
            raise ProbeTrainingError(
                f"the probe's training loss must stay finite, but got {mean_loss} in epoch "
                f"{epoch}; try a smaller lr")
        if epoch > epochs - AVERAGE_LAST:
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                accuracies.append(_accuracy(model, x_val, y_val))
        if progress is not None:
            progress(epoch, epochs, mean_loss)
    return accuracies


@torch.inference_mode()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(x), _EVAL_BATCH):
        logits = model(x[start:start + _EVAL_BATCH])  # (B, K)
        correct += int((logits.argmax(dim=1) == y[start:start + _EVAL_BATCH]).sum())
    return correct / len(x)


def _check_data(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Validate ``(x, y)`` and return the per-class counts (length ``K``)."""
    if x.ndim != 4:
        raise ProbeInputError(f"x must be 4-D (N, C, H, W), but got shape {x.shape}")
    if min(x.shape[1:]) < 1:
        raise ProbeInputError(f"x must have C, H, W >= 1, but got shape {x.shape}")
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.floating)
                                   or np.issubdtype(x.dtype, np.integer)):
        raise ProbeInputError(f"x must hold real numbers (float or int dtype), but got {x.dtype}")
    if y.ndim != 1:
        raise ProbeInputError(f"y must be 1-D (N,), but got shape {y.shape}")
    if len(x) != len(y):
        raise ProbeInputError(
            f"x and y must have the same length, but got {len(x)} images and {len(y)} labels")
    if len(y) < MIN_SAMPLES:
        raise ProbeInputError(
            f"characterisation needs at least {MIN_SAMPLES} samples, but got {len(y)}")
    if np.issubdtype(x.dtype, np.floating):
        for start in range(0, len(x), 4096):  # chunks bound the temporary boolean mask
            chunk = x[start:start + 4096]
            finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)  # (B,)
            if not finite.all():
                bad = start + int(np.argmin(finite))
                raise ProbeInputError(f"x must be finite, but sample {bad} holds NaN or inf")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise ProbeInputError(
            f"labels must be integers 0..K-1, but got dtype {y.dtype} (convert with y.astype(int))")
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise ProbeInputError(f"labels must be integers 0..K-1, but got the label {low}")
    counts = np.bincount(y.astype(np.int64, copy=False), minlength=high + 1)
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise ProbeInputError(
            f"characterisation needs at least 2 classes, but every label is {int(present[0])}")
    scarce = np.flatnonzero(counts < 2)
    if len(scarce):
        listed = ", ".join(f"class {c}: {counts[c]}" for c in scarce[:5])
        more = f" and {len(scarce) - 5} more" if len(scarce) > 5 else ""
        raise ProbeInputError(
            f"labels must be 0..K-1 with at least 2 samples of every class (one to train, one to "
            f"validate), K={high + 1}, but got {listed}{more}")
    return counts


def _check_options(
    *, seed: int, split_seed: int, max_train: int, max_val: int, epochs: int, batch_size: int,
    lr: float, num_classes: int,
) -> None:
    for name, value in (("seed", seed), ("split_seed", split_seed)):
        if not _is_int(value) or value < 0:
            raise ProbeOptionError(f"{name} must be an integer >= 0, but got {value!r}")
    for name, value in (("max_train", max_train), ("max_val", max_val)):
        if not _is_int(value) or value < num_classes:
            raise ProbeOptionError(
                f"{name} must be an integer >= the number of classes ({num_classes}) so every "
                f"class is represented, but got {value!r}")
    if not _is_int(epochs) or epochs < AVERAGE_LAST:
        raise ProbeOptionError(f"epochs must be an integer >= {AVERAGE_LAST}, but got {epochs!r}")
    if not _is_int(batch_size) or batch_size < 2:
        raise ProbeOptionError(f"batch_size must be an integer >= 2, but got {batch_size!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (
            math.isfinite(lr) and lr > 0):
        raise ProbeOptionError(f"lr must be a positive finite number, but got {lr!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device: None is CUDA when present, else the CPU.

    Raises:
        ProbeOptionError: not a CPU or CUDA device, or CUDA asked for where there is none.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ProbeOptionError(f"device must be like 'cpu' or 'cuda', but got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ProbeOptionError(f"device {device!r} was asked for, but CUDA is not available; use 'cpu' "
                               "or leave the device unset")
    if dev.type not in ("cpu", "cuda"):
        raise ProbeOptionError(f"device must be 'cpu' or 'cuda', but got {device!r}")
    return dev
