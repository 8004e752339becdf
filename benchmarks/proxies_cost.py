"""Cost of the zero-cost proxies per architecture, and of each part. Prints JSON.

Times :func:`tapaskit.training.zero_cost.compute_proxies` on networks the sampler draws (default
options) for a 28x28 dataset, batch 64, on the CPU, after one warm-up network; then splits one
network's time into its parts: the build (seeded initialisation), the shared data pass (one
forward pass with the NASWOT hooks, the backward pass of the loss for snip and grad_norm, the
backward pass of the outputs for jacob_cov, and the two small matrix steps), and synflow (a copy
of the network in double precision, one all-ones input, one backward pass).

    python benchmarks/proxies_cost.py --dataset 'fashion-mnist[n=4500]' --archs 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from tapaskit.datasets import load_dataset
from tapaskit.space.builder import build_module
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.training import zero_cost


def _ms(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1000 * s for s in seconds)
    return {"median": round(statistics.median(ms), 2), "mean": round(statistics.fmean(ms), 2),
            "p90": round(ms[int(0.9 * (len(ms) - 1))], 2), "max": round(ms[-1], 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist[n=4500]")
    parser.add_argument("--archs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset)
    archs = ArchitectureSampler(seed=args.seed).sample_many(args.archs, ds.input_shape, ds.num_classes)
    started = time.perf_counter()
    batch = zero_cost.proxy_batch(ds)
    batch_seconds = time.perf_counter() - started
    zero_cost.compute_proxies(archs[0], batch=batch)  # warm-up
    totals, build, data, synflow, nones = [], [], [], [], dict.fromkeys(zero_cost.PROXY_NAMES, 0)
    for arch in archs:
        t0 = time.perf_counter()
        scores = zero_cost.compute_proxies(arch, batch=batch)
        totals.append(time.perf_counter() - t0)
        for name, value in scores.values().items():
            nones[name] += value is None
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_module(arch, batch.input_shape, batch.num_classes)
        t1 = time.perf_counter()
        with np.errstate(all="ignore"):
            zero_cost._data_proxies(model, batch.x, batch.y)
        t2 = time.perf_counter()
        zero_cost._synflow(model, batch.input_shape, torch.device("cpu"))
        t3 = time.perf_counter()
        build.append(t1 - t0)
        data.append(t2 - t1)
        synflow.append(t3 - t2)
    report = {
        "dataset": ds.name, "input_shape": list(ds.input_shape), "batch_size": int(batch.x.shape[0]),
        "archs": len(archs), "torch_threads": torch.get_num_threads(),
        "batch_ms": round(1000 * batch_seconds, 1),
        "per_architecture_ms": _ms(totals),
        "parts_ms": {"build": _ms(build), "data_pass (snip, grad_norm, jacob_cov, naswot)": _ms(data),
                     "synflow": _ms(synflow)},
        "none_counts": nones,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
