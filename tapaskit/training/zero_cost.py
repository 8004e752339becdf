"""Zero-cost proxies: how promising a network looks at initialisation, from one minibatch.

Five scores, each a function of an architecture, a dataset and a seed, computed on the network as
initialised (no training step) and one seeded minibatch of the dataset's training part:

``synflow`` (Tanaka et al. 2020, as a NAS proxy in Abdelfattah et al. 2021)
    Every parameter replaced by its absolute value, the network run in double precision on one
    all-ones input; with ``R`` the sum of the outputs, ``synflow = sum |θ ⊙ ∂R/∂θ|`` over the
    weights of the convolutions and linear layers (the reference's layers; biases and batch-norm
    parameters only scale ``R``). Data-independent: the input is ones, not the minibatch, and the
    input standardisation is left out. Batch norm runs in eval mode: at initialisation (running
    mean 0, variance 1, weight 1, bias 0) it is the identity up to ``1/sqrt(1 + eps)``, i.e. the
    reference's batch-norm-free network. Stored as ``log10(1 + synflow)`` (raw values grow as a
    product over the layers: 1e1 to 1e9 on the shipped pool, more for deeper networks).
``snip`` (Lee et al. 2019; Abdelfattah et al. 2021)
    ``sum |θ ⊙ ∂L/∂θ|`` over the conv and linear weights, ``L`` the mean cross-entropy of the
    minibatch. Stored as ``log10(snip)`` (raw values span several orders of magnitude).
``grad_norm`` (Abdelfattah et al. 2021)
    The L2 norm of ``∂L/∂θ`` over the same weights, taken as one vector (the reference sums the
    per-layer norms instead; the global norm is what the name says and is the same up to a factor
    between 1 and the square root of the layer count). Stored as ``log10(grad_norm)``.
``jacob_cov`` (Mellor et al. 2021, v1; Abdelfattah et al. 2021)
    ``J``: the gradient of the sum of the outputs with respect to each (standardised) input of the
    minibatch, one row per sample; ``Σ`` its correlation matrix (B x B) with eigenvalues ``λ``;
    ``jacob_cov = -sum(log(λ + 1e-5) + 1 / (λ + 1e-5))``. Every term is at least 1, so the raw
    score is below ``-B``; it spans several orders of magnitude (about -70 for a well-conditioned
    network at batch 64, -5e6 for one whose Jacobians are nearly collinear) and is stored as
    ``-log10(-jacob_cov)``, which keeps its order (higher is better).
``naswot`` (Mellor et al. 2021, final version)
    Each activation layer gives every sample a binary code (unit active or not);
    ``K = N_A - d_Hamming`` summed over the layers (``N_A`` the number of units), and
    ``naswot = log |det K|`` (``slogdet``). For ReLU a unit is active when its output is positive;
    for the other activations (leaky ReLU, GELU, ELU, tanh, sigmoid) the code is the sign of the
    *pre-activation* (``> 0``), which is the same rule for ReLU and the one that keeps the code
    binary and meaningful for activations without a dead zone. Stored raw (a log-determinant).
    A network without activation layers has ``K = 0`` and no score (``None``).

Conventions shared by all five: the network is built exactly as the trainer builds it (same
builder, same initialisation for the same seed: the trainer seeds torch with the training seed
before building, so a training with seed 0 starts from the network the proxies see), with the
inputs standardised by the training part's per-channel mean and std. Batch norm uses the batch
statistics (train mode, as the reference), dropout is off (the proxies describe the network, not
one dropout draw), and the minibatch is drawn without replacement from the training part of the
dataset's split for the *proxy* seed with :data:`PROXY_VAL_FRACTION`, never from the test part.
So the minibatch, hence every value, depends on the dataset, the architecture and the proxy seed
only, not on a training's seed or schedule: the value recorded when a training is recorded is the
value ``tapas lde proxies`` computes later (on the CPU; across thread counts up to float rounding).

A value that is NaN or infinite (an overflow, a constant Jacobian, a singular kernel) becomes
``None``, never NaN; a proxy that raises becomes ``None`` too, the others still count. Everything
random comes from the seed: torch's global RNG is forked and restored around the build, the
minibatch comes from a private ``numpy.random.Generator``.

Cost, measured (``benchmarks/proxies_cost.py``; see ``docs/proxies.md``): a few tens of
milliseconds per network at 28x28, batch 64, on two CPU cores, most of it one forward and two
backward passes of the minibatch.

Example:
    >>> from tapaskit.datasets import load_dataset
    >>> from tapaskit.space import parse_architecture
    >>> scores = compute_proxies(parse_architecture("[C(8,3,1), P(2,2), SM(10)]"),
    ...                          load_dataset("digits"))                       # doctest: +SKIP
    >>> scores.values()["naswot"]                                              # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tapaskit.checks import check_int
from tapaskit.datasets import Dataset
from tapaskit.errors import InvalidOptionError
from tapaskit.space.architecture import Architecture
from tapaskit.space.builder import build_module
from tapaskit.space.shapes import infer_shapes
from tapaskit.training.devices import resolve_device

__all__ = [
    "PROXY_BATCH_SIZE",
    "PROXY_NAMES",
    "PROXY_SEED",
    "PROXY_VAL_FRACTION",
    "ProxyBatch",
    "ProxyScores",
    "compute_proxies",
    "proxy_batch",
]

#: The proxies, in the order of every table and frame that holds them.
PROXY_NAMES: tuple[str, ...] = ("synflow", "snip", "grad_norm", "jacob_cov", "naswot")
#: The seed every recorded proxy uses (training time and backfill alike).
PROXY_SEED = 0
#: Samples in the minibatch (fewer when the training part is smaller).
PROXY_BATCH_SIZE = 64
#: Validation share of the split whose training part the minibatch comes from; fixed, so that the
#: minibatch does not depend on how a particular training split its data.
PROXY_VAL_FRACTION = 0.2

_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.ELU)
_WEIGHTED = (nn.Conv2d, nn.Linear)
_JACOB_K = 1e-5


@dataclass(frozen=True)
class ProxyScores:
    """The five proxies of one (architecture, dataset) pair, as stored (see the module docstring).

    Attributes:
        synflow: ``log10(1 + synflow)``, or ``None``.
        snip: ``log10(snip)``, or ``None``.
        grad_norm: ``log10(grad_norm)``, or ``None``.
        jacob_cov: ``-log10(-jacob_cov)``, or ``None``.
        naswot: ``log |det K|``, or ``None``.
        seed: The proxy seed (initialisation and minibatch).
        batch_size: Samples in the minibatch actually used.
        seconds: Wall time of the computation (build included).
    """

    synflow: float | None
    snip: float | None
    grad_norm: float | None
    jacob_cov: float | None
    naswot: float | None
    seed: int
    batch_size: int
    seconds: float

    def values(self) -> dict[str, float | None]:
        """The five scores by name, in :data:`PROXY_NAMES` order."""
        return {name: getattr(self, name) for name in PROXY_NAMES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ProxyScores | None:
        """The inverse of :meth:`to_dict`; ``None`` for ``None`` or a mapping that is not one."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None


@dataclass(frozen=True, eq=False)
class ProxyBatch:
    """The seeded minibatch of one dataset, standardised as the trainer standardises its inputs.

    Build it with :func:`proxy_batch`; reuse it for every architecture on the same dataset.

    Attributes:
        x: Standardised inputs, ``(B, C, H, W)`` float32.
        y: Labels, ``(B,)`` int64.
        num_classes: Classes of the dataset (the head's outputs).
        seed: The seed it was drawn with.
        fingerprint: The dataset's fingerprint.
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    seed: int
    fingerprint: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one sample."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)


def proxy_batch(dataset: Dataset, *, seed: int = PROXY_SEED, batch_size: int = PROXY_BATCH_SIZE) -> ProxyBatch:
    """The minibatch the proxies of ``dataset`` are computed on.

    The training part of ``dataset.split(PROXY_VAL_FRACTION, seed)``; ``batch_size`` samples of it
    drawn without replacement by ``numpy.random.default_rng(seed)`` (all of it when smaller), in
    sorted index order; standardised per channel with the mean and std of the whole training part
    (std floored at 1e-6), as the trainer's ``Standardize`` does.

    Raises:
        InvalidOptionError: ``batch_size`` below 2 (batch norm needs two samples).
    """
    check_int("batch_size", batch_size, 2)
    train_idx, _ = dataset.split(val_fraction=PROXY_VAL_FRACTION, seed=seed)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(train_idx, size=min(batch_size, len(train_idx)), replace=False))
    x_train = torch.from_numpy(dataset.x[train_idx])  # (N, C, H, W)
    mean = x_train.mean(dim=(0, 2, 3)).reshape(1, -1, 1, 1)
    std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6).reshape(1, -1, 1, 1)
    x = (torch.from_numpy(dataset.x[chosen]) - mean) / std  # (B, C, H, W)
    y = torch.from_numpy(dataset.y[chosen].astype(np.int64))
    return ProxyBatch(x=x.contiguous(), y=y, num_classes=dataset.num_classes, seed=seed,
                      fingerprint=dataset.fingerprint)


def compute_proxies(
    arch: Architecture,
    dataset: Dataset | None = None,
    *,
    seed: int = PROXY_SEED,
    batch_size: int = PROXY_BATCH_SIZE,
    device: str | torch.device | None = None,
    batch: ProxyBatch | None = None,
) -> ProxyScores:
    """The five zero-cost proxies of ``arch`` on ``dataset`` (see the module docstring).

    Args:
        arch: The network; its head is sized to the dataset's classes.
        dataset: The data; may be left out when ``batch`` is given.
        seed: Seed of the initialisation and of the minibatch.
        batch_size: Samples in the minibatch (ignored when ``batch`` is given).
        device: Where to compute; ``None`` is the CPU (bit-for-bit reproducible, and cheap enough).
        batch: A :func:`proxy_batch` of the dataset made beforehand with the same ``seed`` (saves
            drawing and standardising it again for every architecture).

    Returns:
        The scores; a proxy that failed or is not finite is ``None``.

    Raises:
        InvalidArchitectureError: The network cannot be built for this dataset's input.
        InvalidOptionError: Neither ``dataset`` nor ``batch``, a ``batch`` drawn with another seed,
            a ``batch_size`` below 2, or a bad ``device``.
    """
    started = time.perf_counter()
    if batch is None:
        if dataset is None:
            raise InvalidOptionError("compute_proxies needs a dataset or a proxy batch; pass dataset=")
        batch = proxy_batch(dataset, seed=seed, batch_size=batch_size)
    elif batch.seed != seed:
        raise InvalidOptionError(f"the proxy batch was drawn with seed {batch.seed}, but seed={seed}; "
                                 "draw it with the same seed")
    infer_shapes(arch, batch.input_shape, batch.num_classes)  # raises InvalidArchitectureError
    dev = torch.device("cpu") if device is None else resolve_device(device)
    with torch.random.fork_rng(devices=[]):  # the builder initialises from the global RNG
        torch.manual_seed(seed)
        model = build_module(arch, batch.input_shape, batch.num_classes)
    model = model.to(dev)
    scores: dict[str, float | None] = dict.fromkeys(PROXY_NAMES)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # corrcoef of a constant row, slogdet of a singular K
        scores.update(_guarded(lambda: _data_proxies(model, batch.x.to(dev), batch.y.to(dev)),
                               ("snip", "grad_norm", "jacob_cov", "naswot")))
        scores.update(_guarded(lambda: {"synflow": _synflow(model, batch.input_shape, dev)}, ("synflow",)))
    return ProxyScores(**{name: _finite(scores[name]) for name in PROXY_NAMES}, seed=seed,
                       batch_size=int(batch.x.shape[0]), seconds=time.perf_counter() - started)


def _guarded(compute: Callable[[], dict[str, float | None]], names: tuple[str, ...]) -> dict[str, float | None]:
    """``compute()``, or ``None`` for each of ``names`` when it raises: a proxy never fails a caller."""
    try:
        return compute()
    except Exception:  # noqa: BLE001 - an overflow, a singular matrix, an odd network: no score
        return dict.fromkeys(names)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _log10(value: float, offset: float = 0.0) -> float | None:
    value = float(value) + offset
    return math.log10(value) if value > 0 and math.isfinite(value) else None


def _weights(model: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in model.modules() if isinstance(m, _WEIGHTED)]


def _data_proxies(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
    """snip, grad_norm, jacob_cov and naswot from one forward pass of the minibatch."""
    model.train()  # batch statistics, as the reference
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    n = x.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=x.device)
    hooked: list[bool] = []

    def count(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        # With signs s = ±1, s_i·s_j = N_A - 2 d_H(i, j), so N_A - d_H = (N_A + s sᵀ) / 2: one
        # matrix product instead of the reference's two (c cᵀ + (1 - c)(1 - c)ᵀ), the same K.
        signs = torch.where(inputs[0].detach().reshape(n, -1) > 0, 1.0, -1.0)  # (B, N_A)
        kernel.add_((signs.shape[1] + (signs @ signs.T).double()) / 2)  # exact: integers < 2**24
        hooked.append(True)

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    try:
        x = x.clone().requires_grad_(True)
        out = model(x)  # (B, K)
    finally:
        for handle in handles:
            handle.remove()
    loss = F.cross_entropy(out, y)
    weights = _weights(model)
    grads = torch.autograd.grad(loss, weights, retain_graph=True)
    snip = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads))
    grad_norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))
    (jacobian,) = torch.autograd.grad(out.sum(), x)  # (B, C, H, W)
    return {
        "snip": _log10(snip),
        "grad_norm": _log10(grad_norm),
        "jacob_cov": _jacob_cov(jacobian.reshape(n, -1).double().cpu().numpy()),
        "naswot": _naswot(kernel.cpu().numpy()) if hooked else None,
    }


def _jacob_cov(jacobian: np.ndarray) -> float | None:
    """``-log10(-s)`` of Mellor et al.'s score ``s = -sum(log(λ + k) + 1/(λ + k))`` of a (B, D) Jacobian."""
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jacobian)  # (B, B); NaN rows when a sample's Jacobian is constant
    if not np.all(np.isfinite(corr)):
        return None
    eigenvalues = np.linalg.eigvalsh(corr)
    raw = -np.sum(np.log(eigenvalues + _JACOB_K) + 1.0 / (eigenvalues + _JACOB_K))  # <= -B < 0
    return -_log10(-raw) if _log10(-raw) is not None else None


def _naswot(kernel: np.ndarray) -> float | None:
    """``log det K`` of the (B, B) activation-code kernel; ``None`` when K is singular."""
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else None


def _synflow(model: nn.Module, input_shape: tuple[int, int, int], dev: torch.device) -> float | None:
    """``log10(1 + sum |θ ⊙ ∂R/∂θ|)`` of the absolute-valued network in double precision."""
    net = copy.deepcopy(model).double().eval()  # eval: dropout off, batch norm at its init (identity)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    out = net(torch.ones((1, *input_shape), dtype=torch.float64, device=dev))  # (1, K)
    weights = _weights(net)
    grads = torch.autograd.grad(out.sum(), weights)
    total = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads))
    return _log10(total, offset=1.0)
