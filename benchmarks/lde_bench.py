"""Benchmark of the LDE on DuckDB: bulk insert and the DCN-window query.

Builds ``--rows`` synthetic experiments over ``--datasets`` datasets with distinct DCNs
(``i / datasets``), inserts them into a fresh temporary file through the public API
(``add_experiments`` in batches, records validated as in real use), then times the query a search
runs: the ok experiments of the datasets within ``dcn ± tau`` (by default 3 datasets), as a pandas
frame. Prints one JSON object (and writes it to ``--out`` when given).

Targets on a 2-core machine: 1,000,000 rows inserted in <= 60 s; median query <= 100 ms. Wall
times depend on what else runs, so the result also gives the query's CPU time (all threads of the
process) and the load average.

    python benchmarks/lde_bench.py --rows 1000000 --out out/lde_bench.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_output import emit_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lde import (  # noqa: E402 - after the path set-up, so the script runs from a checkout
    ArchitectureRecord,
    DatasetRecord,
    DuckDBStore,
    ExperimentRecord,
)


def build_records(rows: int, n_datasets: int, n_archs: int, seed: int) -> tuple[
        list[DatasetRecord], list[ArchitectureRecord], list[ExperimentRecord]]:
    """Synthetic, valid records: experiments clustered by dataset as campaigns produce them."""
    rng = np.random.default_rng(seed)
    datasets = [
        DatasetRecord(fingerprint=f"ds{i:04d}", name=f"dataset-{i}", input_shape=(3, 32, 32),
                      num_classes=10, num_samples=50_000, dcn=i / n_datasets, dcn_probe="resnet-p",
                      dcn_probe_version="1", dcn_seed=0, dcn_seconds=12.5, dcn_probe_accuracy=0.6)
        for i in range(n_datasets)
    ]
    layers = ",".join(['{"kind":"conv","filters":64,"kernel":3,"stride":1}'] * 4)
    archs = [ArchitectureRecord(arch_hash=f"a{i:08x}", arch_json=f'{{"id":{i},"layers":[{layers}]}}',
                                depth=4 + i % 8, num_layers=6 + i % 10) for i in range(n_archs)]
    peak = rng.uniform(0.1, 0.95, rows)
    arch_of = rng.integers(0, n_archs, rows)
    status = rng.random(rows) < 0.95
    experiments = []
    per_dataset = rows // n_datasets + 1
    for i in range(rows):
        ok = bool(status[i])
        p = float(peak[i])
        experiments.append(ExperimentRecord(
            arch_hash=archs[arch_of[i]].arch_hash,
            dataset_fingerprint=datasets[i // per_dataset].fingerprint,
            peak_accuracy=p if ok else None, final_accuracy=p * 0.98 if ok else None,
            curve=(p * 0.5, p * 0.8, p * 0.9, p, p * 0.98), status="ok" if ok else "diverged",
            source="benchmark", lr=0.01, epochs=5, batch_size=128, optimizer="sgd",
            weight_decay=5e-4, params=100_000 + i, flops=10_000_000 + i, seconds=60.0,
            device="cpu", seed=i, key=f"bench-{i}",
        ))
    return datasets, archs, experiments


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="experiments to insert")
    parser.add_argument("--datasets", type=int, default=100, help="datasets (distinct DCNs)")
    parser.add_argument("--archs", type=int, default=None, help="architectures (default rows/10)")
    parser.add_argument("--batch", type=int, default=100_000, help="experiments per transaction")
    parser.add_argument("--repeats", type=int, default=25, help="query repetitions")
    parser.add_argument("--dcn", type=float, default=0.5, help="query window centre")
    parser.add_argument("--tau", type=float, default=0.01, help="query window half-width")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    n_archs = args.archs or max(1, args.rows // 10)

    t0 = time.perf_counter()
    datasets, archs, experiments = build_records(args.rows, args.datasets, n_archs, args.seed)
    build_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        store = DuckDBStore(path)
        t0 = time.perf_counter()
        inserted = 0
        for start in range(0, len(experiments), args.batch):
            inserted += store.add_experiments(experiments[start:start + args.batch],
                                              architectures=archs if start == 0 else (),
                                              datasets=datasets if start == 0 else ())
        insert_s = time.perf_counter() - t0
        del experiments

        store.query(args.dcn, args.tau)  # warm the OS cache once
        times, cpu, rows_returned, n_ds = [], [], 0, 0
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            frame = store.query(args.dcn, args.tau)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            rows_returned, n_ds = len(frame), frame["dataset_fingerprint"].nunique()

        t0 = time.perf_counter()
        store.stats()
        stats_s = time.perf_counter() - t0
        one = ExperimentRecord(arch_hash=archs[0].arch_hash, dataset_fingerprint="ds0000",
                               peak_accuracy=0.5, final_accuracy=0.5)
        single = []
        for _ in range(20):
            t0 = time.perf_counter()
            store.add_experiment(one)
            single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.has_keys(f"bench-{i}" for i in range(0, args.rows, max(1, args.rows // 1000)))
        has_keys_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20

    times.sort()
    result = {
        "rows": args.rows,
        "inserted": inserted,
        "datasets": args.datasets,
        "architectures": n_archs,
        "batch": args.batch,
        "build_records_s": round(build_s, 2),
        "insert_s": round(insert_s, 2),
        "build_and_insert_s": round(build_s + insert_s, 2),
        "insert_rows_per_s": round(args.rows / insert_s),
        "query": {"dcn": args.dcn, "tau": args.tau, "datasets_matched": n_ds,
                  "rows_returned": rows_returned, "repeats": args.repeats,
                  "median_ms": round(1000 * statistics.median(times), 2),
                  "p90_ms": round(1000 * times[int(0.9 * (len(times) - 1))], 2),
                  "min_ms": round(1000 * times[0], 2),
                  "median_cpu_ms": round(1000 * statistics.median(cpu), 2)},
        "stats_ms": round(1000 * stats_s, 1),
        "single_add_experiment_median_ms": round(1000 * statistics.median(single), 1),
        "has_keys_1000_ms": round(1000 * has_keys_s, 1),
        "file_mb": round(size_mb, 1),
        "targets_met": {"insert_le_60s": build_s + insert_s <= 60,
                        "query_median_le_100ms": statistics.median(times) <= 0.1},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    emit_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
