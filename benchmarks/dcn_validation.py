"""Does the DCN mean something? Prints JSON.

For every dataset of the campaign suite (13, easy to hard) it computes the DCN with the default
probe over 3 seeds, and the mean validation accuracy of a fixed set of reference architectures
trained on it with the campaign's one schedule. Reported: Spearman ρ(DCN, mean reference accuracy)
(target ≥ 0.9), R² of a linear fit, the DCN range (target ≥ 0.4), the per-dataset standard
deviation of the DCN over seeds (target ≤ 0.02), and the seconds to characterise the full
Fashion-MNIST (target ≤ 60 s on 2 CPU cores).

    python benchmarks/dcn_validation.py --out dcn_validation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from bench_output import emit_json
from scipy import stats

from probenets import characterize
from tapaskit.workflows.campaign import SCHEDULE, SUITES, architecture_pool
from tapaskit.datasets import load_dataset
from tapaskit.training.trainer import train_architecture


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--archs", type=int, default=10, help="reference architectures")
    parser.add_argument("--seeds", type=int, default=3, help="probe seeds per dataset")
    parser.add_argument("--arch-seed", type=int, default=1234, help="seed of the reference set")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    references = architecture_pool(args.archs, args.arch_seed)
    rows = []
    for spec in SUITES[args.suite]:
        ds = load_dataset(spec)
        dcns = [characterize(ds.x, ds.y, seed=s).dcn for s in range(args.seeds)]
        accs = [train_architecture(a, ds, SCHEDULE, seed=0).peak_accuracy or 0.0 for a in references]
        rows.append({"dataset": ds.name, "classes": ds.num_classes, "dcn": float(np.mean(dcns)),
                     "dcn_seeds": dcns, "dcn_std": float(np.std(dcns)),
                     "mean_reference_accuracy": float(np.mean(accs)),
                     "chance_corrected_reference_accuracy":
                         float((np.mean(accs) - 1 / ds.num_classes) / (1 - 1 / ds.num_classes))})
        print(json.dumps(rows[-1]), file=sys.stderr)
    dcn = np.array([r["dcn"] for r in rows])
    acc = np.array([r["mean_reference_accuracy"] for r in rows])
    corrected = np.array([r["chance_corrected_reference_accuracy"] for r in rows])
    fit = stats.linregress(dcn, corrected)

    started = time.perf_counter()
    fashion = load_dataset("fashion-mnist")
    fashion_dcn = characterize(fashion.x, fashion.y, seed=0).dcn
    fashion_seconds = time.perf_counter() - started

    report = {
        "datasets": rows,
        "spearman_rho_dcn_vs_mean_accuracy": float(stats.spearmanr(dcn, acc).statistic),
        "spearman_rho_dcn_vs_chance_corrected_accuracy": float(stats.spearmanr(dcn, corrected).statistic),
        "r2_linear_dcn_vs_chance_corrected_accuracy": float(fit.rvalue ** 2),
        "dcn_range": float(dcn.max() - dcn.min()),
        "dcn_std_max": float(max(r["dcn_std"] for r in rows)),
        "fashion_mnist_characterize_seconds": fashion_seconds,
        "fashion_mnist_dcn": fashion_dcn,
        "reference_architectures": [a.arch_hash for a in references],
        "schedule": SCHEDULE.to_dict(),
    }
    emit_json(report, args.out or None)
    return report


if __name__ == "__main__":
    main()
