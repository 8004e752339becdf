"""What running trainings through Ray costs against the local executor, and how well largest-first
balances a cluster. Prints JSON.

1. **Per-task overhead** (ms per task): ``--tasks`` empty jobs and as many one-second jobs (a job that
   only sleeps) through each executor with ``--workers`` workers; overhead = (wall x workers - work) /
   tasks.
2. **Campaign throughput**: the same mini campaign (``--archs`` networks x the mini suite's 2
   datasets x 1 epoch, real trainings) through the local executor and through Ray, 2 workers each,
   both pools warmed up first; the figure is Ray's trainings per second divided by the local
   executor's.
3. **A simulated cluster**: a local Ray declaring ``--sim-cpus`` logical CPUs runs ``--sim-jobs``
   jobs of the default LDE (real architectures on the real suite datasets, so the executor orders
   them by FLOPs x samples x epochs) that sleep for the row's measured ``seconds`` scaled so that the
   ideal makespan is ``--sim-ideal`` seconds; efficiency = ideal / makespan, with and without
   largest-first ordering.

    python benchmarks/executor_overhead.py --out results/executor_overhead.json   # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local Ray on the loopback interface

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_output import emit_json  # noqa: E402

from tapaskit.datasets import load_dataset  # noqa: E402
from tapaskit.space.architecture import Architecture  # noqa: E402
from tapaskit.training import Hyperparameters, LocalExecutor, TrainingJob  # noqa: E402
from tapaskit.training.executor import failed_result  # noqa: E402


def empty_job(job, device, progress):
    return failed_result(job, "empty", device="cpu")


def one_second_job(job, device, progress):
    time.sleep(1.0)
    return failed_result(job, "slept", device="cpu")


def sleep_for_key(job, device, progress):
    time.sleep(float(job.key.rsplit("/", 1)[1]))  # the simulated duration travels in the key
    return failed_result(job, "slept", device="cpu")


def _jobs(n: int, dataset, prefix: str) -> list[TrainingJob]:
    arch = Architecture.from_json('[{"type": "conv", "filters": 4}]')
    return [TrainingJob(key=f"{prefix}/{i}", arch=arch, dataset=dataset, hparams=Hyperparameters(epochs=1))
            for i in range(n)]


def _time(executor, jobs) -> float:
    """Seconds until the last of ``jobs`` came back (the executor stays open)."""
    started = time.perf_counter()
    n = sum(1 for _ in executor.run(jobs))
    assert n == len(jobs)
    return time.perf_counter() - started


def overhead(tasks: int, workers: int) -> dict:
    import ray

    from tapaskit.training.ray_executor import RayExecutor

    digits = load_dataset("digits")
    out: dict = {"tasks": tasks, "workers": workers}
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        for name, task, work in (("empty", empty_job, 0.0), ("one_second", one_second_job, 1.0)):
            for kind in ("local", "ray"):
                executor = (LocalExecutor(workers, device="cpu", task=task) if kind == "local"
                            else RayExecutor(workers, task=task))
                with executor:
                    _time(executor, _jobs(2 * workers, digits, "warm"))  # workers started before the clock runs
                    wall = _time(executor, _jobs(tasks, digits, name))
                out[f"{kind}_{name}_ms_per_task"] = round(1000 * (wall * workers - work * tasks) / tasks, 2)
                out[f"{kind}_{name}_wall_s"] = round(wall, 2)
    finally:
        ray.shutdown()
    return out


def campaign_throughput(archs: int) -> dict:
    import ray

    from lde import MemoryStore

    from tapaskit.training.ray_executor import RayExecutor
    from tapaskit.workflows.campaign import plan_campaign, run_campaign

    plan = plan_campaign("mini", archs=archs, epochs=1, seed=0)
    out: dict = {"trainings": 2 * archs, "workers": 2}
    store = MemoryStore()
    run_campaign(plan, store, workers=1)  # DCNs computed once, outside the timings
    for kind in ("local", "ray"):
        if kind == "ray":
            ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        timed = MemoryStore()
        for ds in store.datasets():  # the cached DCNs
            timed.add_dataset(ds)
        executor = LocalExecutor(2, device="cpu") if kind == "local" else RayExecutor(2, cpus_per_trial=1)
        with executor:
            # both pools warm (their workers started and torch imported) before the clock runs: Ray
            # starts its workers at ray.init, the local executor at its first jobs
            _time(executor, _jobs(4, load_dataset("digits"), "warm"))
            started = time.perf_counter()
            report = run_campaign(plan, timed, executor=executor)
            out[f"{kind}_seconds"] = round(time.perf_counter() - started, 2)
        out[f"{kind}_ok"] = report.ok
        if kind == "ray":
            ray.shutdown()
    out["ray_over_local_throughput"] = round(out["local_seconds"] / out["ray_seconds"], 3)
    return out


def simulated_cluster(cpus: int, jobs: int, ideal: float, seed: int) -> dict:
    import ray

    from tapaskit.store import open_lde
    from tapaskit.training.ray_executor import RayExecutor

    frame = open_lde().experiments_frame()
    frame = frame[(frame["source"] == "seed") & frame["seconds"].notna()]
    rows = frame.sample(jobs, random_state=seed).reset_index(drop=True)
    scale = ideal * cpus / rows["seconds"].sum()
    datasets = {name: load_dataset(name) for name in rows["dataset_name"].unique()}
    store = open_lde()
    archs = {a.arch_hash: Architecture.from_json(a.arch_json) for a in store.architectures()}
    hp = Hyperparameters(epochs=6, val_fraction=0.5, max_train=1000)  # the campaign schedule
    sim = [TrainingJob(key=f"sim/{i}/{row.seconds * scale:.4f}", arch=archs[row.arch_hash],
                       dataset=datasets[row.dataset_name], hparams=hp) for i, row in rows.iterrows()]
    cost = np.array([job.cost for job in sim])
    out: dict = {"cpus": cpus, "jobs": jobs, "ideal_makespan_s": ideal,
                 "spearman_cost_vs_seconds": round(float(spearmanr(cost, rows["seconds"]).statistic), 3)}
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        for order in ("largest_first", "given"):
            with RayExecutor(cpus, task=sleep_for_key, largest_first=order == "largest_first") as executor:
                _time(executor, [TrainingJob(key=f"warm/{i}/0.5", arch=sim[0].arch, dataset=sim[0].dataset,
                                             hparams=hp) for i in range(2 * cpus)])
                makespan = _time(executor, sim)
            out[f"{order}_makespan_s"] = round(makespan, 2)
            out[f"{order}_efficiency"] = round(ideal / makespan, 3)
    finally:
        ray.shutdown()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--archs", type=int, default=12)
    parser.add_argument("--sim-cpus", type=int, default=16)
    parser.add_argument("--sim-jobs", type=int, default=400)
    parser.add_argument("--sim-ideal", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: overhead, campaign, cluster")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    report: dict = {"machine": {"cpus": os.cpu_count()}}
    if "overhead" not in skip:
        report["per_task_overhead"] = overhead(args.tasks, args.workers)
    if "campaign" not in skip:
        report["campaign_throughput"] = campaign_throughput(args.archs)
    if "cluster" not in skip:
        report["simulated_cluster"] = simulated_cluster(args.sim_cpus, args.sim_jobs, args.sim_ideal, args.seed)
    emit_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
