"""A synthetic LDE with a known accuracy rule, for tests, demos and speed measurements.

Real LDEs take hours of training to build; this one takes a second. The same pool of random
architectures (:class:`~tapaskit.space.sampler.ArchitectureSampler`) is "trained" on every dataset, as in
the seeding campaign, and its accuracy follows :func:`synthetic_accuracy`, a smooth function of
the network's depth, width and parameter count and of the dataset's DCN, plus Gaussian noise. A
predictor that learns the rule ranks held-out networks almost perfectly, so tests can demand a
high Kendall tau.
"""

from __future__ import annotations

import math

import numpy as np

from lde import ArchitectureRecord, DatasetRecord, ExperimentRecord, MemoryStore

from tapaskit.space.architecture import Architecture, Conv, FullyConnected, Residual
from tapaskit.checks import check_int, check_number
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import infer_shapes

__all__ = ["synthetic_accuracy", "synthetic_lde"]


def _mean_log2_width(arch: Architecture) -> float:
    widths = []
    for layer in arch.layers:
        inner = layer.layers if isinstance(layer, Residual) else (layer,)
        for x in inner:
            if isinstance(x, Conv):
                widths.append(x.filters)
            elif isinstance(x, FullyConnected):
                widths.append(x.units)
    return float(np.mean(np.log2(widths))) if widths else 0.0


def synthetic_accuracy(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int,
                       dcn: float) -> float:
    """The noiseless accuracy of the synthetic rule.

    ``score = 0.5 tanh((log10 params - 4) / 1.2) + 0.3 tanh((depth - 5) / 3)
    + 0.1 (mean log2 width - 5) - 0.03 max(0, depth - 10)``;
    ``accuracy = 1/k + (1 - 0.7 dcn - 1/k) * sigmoid((2 + 2 dcn) * (score - 0.45))`` for ``k``
    classes: harder datasets (higher DCN) cap the accuracy lower and reward capacity more. The
    sampler's networks have scores of about -0.3 to 0.9, so the sigmoid rarely saturates and
    accuracies stay spread out on every dataset.
    """
    summary = infer_shapes(arch, input_shape, num_classes)
    score = (0.5 * math.tanh((math.log10(summary.params) - 4.0) / 1.2)
             + 0.3 * math.tanh((arch.depth - 5) / 3)
             + 0.1 * (_mean_log2_width(arch) - 5.0)
             - 0.03 * max(0, arch.depth - 10))
    chance = 1.0 / num_classes
    ceiling = 1.0 - 0.7 * dcn
    return chance + (ceiling - chance) / (1.0 + math.exp(-(2.0 + 2.0 * dcn) * (score - 0.45)))


def synthetic_lde(
    *,
    n_datasets: int = 3,
    n_archs: int = 40,
    noise: float = 0.01,
    input_shape: tuple[int, int, int] = (1, 16, 16),
    num_classes: int = 10,
    dcn_range: tuple[float, float] = (0.1, 0.9),
    max_depth: int = 12,
    seed: int = 0,
) -> MemoryStore:
    """An in-memory LDE of ``n_datasets`` x ``n_archs`` experiments following the rule.

    Args:
        n_datasets: datasets, named ``synthetic-0`` ..., their DCNs evenly spread over
            ``dcn_range``.
        n_archs: architectures, the same pool on every dataset.
        noise: standard deviation of the Gaussian noise added to each accuracy.
        input_shape: ``(C, H, W)`` of every dataset.
        num_classes: classes of every dataset.
        dcn_range: lowest and highest DCN.
        max_depth: the sampler's largest depth.
        seed: seeds the sampler and the noise.

    Raises:
        InvalidOptionError: fewer than 1 dataset or architecture, or a negative noise.
    """
    check_int("n_datasets", n_datasets)
    check_int("n_archs", n_archs)
    check_number("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    archs = ArchitectureSampler(seed=seed, max_depth=max_depth).sample_many(
        n_archs, input_shape, num_classes)
    low, high = dcn_range
    dcns = [low] if n_datasets == 1 else list(np.linspace(low, high, n_datasets))
    datasets = [
        DatasetRecord(fingerprint=f"synthetic-{seed}-{i}", name=f"synthetic-{i}",
                      input_shape=input_shape, num_classes=num_classes, num_samples=1000,
                      dcn=float(round(d, 6)), dcn_probe="synthetic")
        for i, d in enumerate(dcns)
    ]
    records = [ArchitectureRecord(arch_hash=a.arch_hash, arch_json=a.to_json(), depth=a.depth,
                                  num_layers=len(a)) for a in archs]
    experiments = []
    for dataset in datasets:
        for arch in archs:
            summary = infer_shapes(arch, input_shape, num_classes)
            clean = synthetic_accuracy(arch, input_shape, num_classes, dataset.dcn)
            acc = float(np.clip(clean + rng.normal(0.0, noise), 0.0, 1.0))
            experiments.append(ExperimentRecord(
                arch_hash=arch.arch_hash, dataset_fingerprint=dataset.fingerprint,
                peak_accuracy=acc, final_accuracy=acc, status="ok", source="benchmark",
                lr=3e-3, epochs=4, batch_size=64, optimizer="adam", params=summary.params,
                flops=summary.flops, seed=seed,
                key=f"synthetic/{dataset.fingerprint}/{arch.arch_hash}"))
    store = MemoryStore()
    store.add_experiments(experiments, architectures=records, datasets=datasets)
    return store
