"""Benchmark of the search strategies: proposals per second, with a cheap synthetic scorer.

Runs each strategy (REINFORCE, random, evolution) for ``--budget`` proposals on the synthetic
scorer of :mod:`tapaskit.search.synthetic` (a few µs per network) and reports wall and CPU seconds,
proposals per second, the time spent in the scorer, the strategy's own overhead per proposal
(everything but the scorer: sampling, masks, decoding, shape inference, hashing, policy updates),
and the learning figures (mean reward of the first and last quarter, best reward, distinct
networks). Prints one JSON object (and writes it to ``--out`` when given).

Target on a 2-core machine: 10,000 REINFORCE proposals in <= 60 s including a TAP scorer of
~20-50 µs per network, i.e. a strategy overhead of <= ~3 ms per proposal.

    python benchmarks/controller_speed.py --budget 10000 --threads 1 --out out/controller_speed.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from bench_output import emit_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=10_000, help="proposals per strategy")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads")
    parser.add_argument("--input", default="1,28,28", help="input shape C,H,W")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="reinforce,random,evolution")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    # before numpy loads: a multi-threaded BLAS spinning on a shared 2-core box ruins small matmuls
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    import torch

    from tapaskit.search import STRATEGIES, Reward, SyntheticScorer

    torch.set_num_threads(args.threads)
    shape = tuple(int(x) for x in args.input.split(","))

    class TimedScorer:
        """The synthetic scorer, timing itself so its cost can be taken out."""

        def __init__(self) -> None:
            self.inner = SyntheticScorer()
            self.seconds = 0.0

        def __call__(self, archs):  # noqa: ANN001 - a Scorer
            started = time.perf_counter()
            out = self.inner(archs)
            self.seconds += time.perf_counter() - started
            return out

    report: dict = {
        "budget": args.budget,
        "input_shape": list(shape),
        "num_classes": args.classes,
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "strategies": {},
    }
    for name in args.strategies.split(","):
        scorer = TimedScorer()
        reward = Reward(scorer, input_shape=shape, num_classes=args.classes)
        strategy = STRATEGIES[name](seed=args.seed)
        wall, cpu = time.perf_counter(), time.process_time()
        result = strategy.run(reward, shape, args.classes, args.budget)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rewards = result.rewards
        quarter = max(1, len(rewards) // 4)
        report["strategies"][name] = {
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "archs_per_s": round(args.budget / wall, 1),
            "scorer_seconds": round(scorer.seconds, 3),
            "overhead_ms_per_arch": round((wall - scorer.seconds) / args.budget * 1e3, 4),
            "queries": reward.queries,
            "distinct": result.distinct_count(),
            "first_quarter_mean": round(float(np.mean(rewards[:quarter])), 4),
            "last_quarter_mean": round(float(np.mean(rewards[-quarter:])), 4),
            "best_reward": round(float(rewards.max()), 4),
        }
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
