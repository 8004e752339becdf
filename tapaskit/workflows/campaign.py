"""The seeding campaign: the experiments the embedded default LDE is made of.

``tapas lde seed`` runs it. The predictor learns how an architecture's accuracy moves with the
dataset's difficulty only if the *same* architectures were trained on *many* datasets, so the
campaign

1. builds a suite of datasets from easy to hard (real offline datasets, derived variants: class
   subsets, fewer samples, down-sampling, input noise, label noise, and procedural ones);
2. characterises each with the default probe net (its DCN, cached in the LDE);
3. samples one pool of architectures, seeded, shared by every dataset: small to large, shallow to
   deep, with and without pooling, batch norm, dropout and residual blocks, all valid for every
   input of the suite and under a FLOP cap that keeps the default campaign to about 2.4 hours of
   training on 2 cores (a larger pool extends a smaller one: the first ``n`` networks of a pool
   of ``m > n`` are the pool of ``n``, so a grown campaign resumes on the old LDE and trains only
   the new networks);
4. trains every (architecture, dataset) pair with one fixed schedule (:data:`SCHEDULE`) and
   writes each result to the LDE as soon as it arrives, failures included.

It is resumable: every experiment has the key ``campaign/<suite>/<fingerprint>/<arch>/<seed>``, a
rerun skips the keys already in the LDE, so a killed campaign continues where it stopped without
duplicate rows. The trainings run through an :class:`~tapaskit.training.Executor` (local processes
by default, or a Ray cluster); only the driver writes to the LDE, each result as it arrives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lde import ExperimentStore

from tapaskit.checks import check_int
from tapaskit.datasets import load_dataset
from tapaskit.errors import InvalidOptionError
from tapaskit.space.architecture import Architecture
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import infer_shapes
from tapaskit.store import architecture_record, dataset_record, experiment_record
from tapaskit.training import Executor, Hyperparameters, LocalExecutor, TrainingJob, TrainResult
from tapaskit.workflows.characterize import characterize_dataset

#: The default suite: 13 datasets whose DCNs span easy to hard. Images are down-sampled to at most
#: 16x16 and subsampled to 2,000 samples, so a training takes seconds on a CPU core.
SUITES: dict[str, tuple[str, ...]] = {
    "default": (
        "digits",
        "digits[label_noise=0.3]",
        "mnist-5k[n=2000;size=16]",
        "mnist-5k[n=600;size=16]",
        "fashion-mnist[n=2000;size=16]",
        "fashion-mnist[classes=1,8;n=2000;size=16]",
        "fashion-mnist[classes=0,2,4,6;n=2000;size=16]",
        "fashion-mnist[n=2000;size=16;label_noise=0.4]",
        "fashion-mnist[n=2000;size=8;noise=0.4]",
        "shapes[samples=2000;res=16]",
        "shapes[samples=2000;res=16;clutter=0]",
        "textures[samples=2000;res=16]",
        "mnist-5k[n=2000;size=16;label_noise=0.4]",
    ),
    "mini": ("digits", "shapes[samples=400;res=12]"),
}

#: The one training schedule of the campaign: half of each dataset for validation (so the
#: accuracy of every network is measured on about 1,000 samples), at most 1,000 training samples.
SCHEDULE = Hyperparameters(epochs=6, lr=3e-3, batch_size=32, optimizer="adam", val_fraction=0.5,
                           max_train=1000)
#: Largest forward FLOPs per sample of a pool network on the suite's largest input.
MAX_FLOPS = 6_000_000
#: Networks in the default campaign's pool (why 300: docs/results.md).
DEFAULT_POOL_SIZE = 300
REFERENCE_SHAPES = ((1, 8, 8), (1, 16, 16), (3, 16, 16))


@dataclass(frozen=True)
class CampaignPlan:
    """What a campaign will train: the suite, the architecture pool, the schedule and the seed."""

    suite: str
    datasets: tuple[str, ...]
    architectures: tuple[Architecture, ...]
    hparams: Hyperparameters
    seed: int

    def key(self, fingerprint: str, arch: Architecture) -> str:
        return f"campaign/{self.suite}/{fingerprint}/{arch.arch_hash}/{self.seed}"


@dataclass(frozen=True)
class CampaignReport:
    datasets: int
    architectures: int
    planned: int
    skipped: int
    trained: int
    ok: int
    failed: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def regeneration_command(suite: str, archs: int, epochs: int, seed: int, workers: int) -> str:
    """The exact command that regenerates a campaign (written into the data card)."""
    return f"tapas lde seed --suite {suite} --archs {archs} --epochs {epochs} --seed {seed} --workers {workers}"


def architecture_pool(n: int, seed: int, *, max_flops: int = MAX_FLOPS) -> tuple[Architecture, ...]:
    """``n`` distinct architectures valid on every input of the suite and under ``max_flops``.

    Depth is drawn from 2 to 10 weighted layers; about one network in three has residual blocks,
    six in ten pool. The pool is the same for every dataset, so the predictor sees how one
    network fares across difficulties.
    """
    sampler = ArchitectureSampler(min_depth=2, max_depth=10, filters=(4, 8, 16, 32, 64),
                                  fc_units=(16, 32, 64, 128), seed=seed)
    found: dict[str, Architecture] = {}
    for _ in range(200 * n):
        if len(found) == n:
            break
        arch = sampler.sample(REFERENCE_SHAPES[0], 10)
        if arch.arch_hash in found or not _fits_everywhere(arch, max_flops):
            continue
        found[arch.arch_hash] = arch
    if len(found) < n:
        raise InvalidOptionError(f"found only {len(found)} architectures under {max_flops} FLOPs; ask for fewer")
    return tuple(found.values())


def _fits_everywhere(arch: Architecture, max_flops: int) -> bool:
    try:
        return all(infer_shapes(arch, shape, 10).flops <= max_flops for shape in REFERENCE_SHAPES)
    except Exception:  # noqa: BLE001 - invalid on one of the inputs: not for the shared pool
        return False


def plan_campaign(suite: str = "default", *, archs: int = DEFAULT_POOL_SIZE, epochs: int | None = None,
                  seed: int = 0) -> CampaignPlan:
    """The campaign for a suite: datasets, a seeded pool of ``archs`` networks, the schedule."""
    if suite not in SUITES:
        raise InvalidOptionError(f"suite must be one of {', '.join(SUITES)}, but got {suite!r}")
    if archs < 1:
        raise InvalidOptionError(f"archs must be >= 1, but got {archs}")
    hparams = SCHEDULE if epochs is None else Hyperparameters(**{**SCHEDULE.to_dict(), "epochs": epochs})
    return CampaignPlan(suite=suite, datasets=SUITES[suite], architectures=architecture_pool(archs, seed),
                        hparams=hparams, seed=seed)


def run_campaign(
    plan: CampaignPlan,
    store: ExperimentStore,
    *,
    executor: Executor | None = None,
    workers: int = 2,
    on_stage: Callable[[str, int], None] | None = None,
    on_result: Callable[[TrainResult], None] | None = None,
) -> CampaignReport:
    """Characterise the suite, then train every pending (architecture, dataset) pair.

    Args:
        plan: what to train (see :func:`plan_campaign`).
        store: the LDE that receives every result, as it arrives; the only writer.
        executor: where the trainings run; None is a :class:`~tapaskit.training.LocalExecutor`
            with ``workers`` workers (closed at the end).
        workers: trainings at once when ``executor`` is None.
        on_stage: called with (stage description, number of items) when a stage starts.
        on_result: called after each training is written.

    Returns:
        Counts of what was planned, skipped (already in the LDE), trained and how it ended.
    """
    started = time.perf_counter()
    own_executor = executor is None
    executor = executor if executor is not None else LocalExecutor(check_int("workers", workers))
    datasets = [load_dataset(spec) for spec in plan.datasets]
    if on_stage:
        on_stage("characterizing datasets", len(datasets))
    for ds in datasets:
        characterize_dataset(ds, lde=store, seed=plan.seed)
        if on_stage:
            on_stage(f"DCN of {ds.name}", 0)
    store.add_architectures([architecture_record(a) for a in plan.architectures])

    jobs = [TrainingJob(key=plan.key(ds.fingerprint, a), arch=a, dataset=ds, hparams=plan.hparams, seed=plan.seed)
            for ds in datasets for a in plan.architectures]
    done = store.has_keys([job.key for job in jobs])
    pending = [job for job in jobs if job.key not in done]
    if on_stage:
        on_stage("training", len(pending))
    counts = {"ok": 0, "failed": 0}
    try:
        for job, result in executor.run(pending):
            store.add_experiments([experiment_record(result, source="seed", key=job.key)],
                                  datasets=[dataset_record(job.dataset)])
            counts["ok" if result.ok else "failed"] += 1
            if on_result:
                on_result(result)
    finally:
        if own_executor:
            executor.close()
    return CampaignReport(
        datasets=len(datasets), architectures=len(plan.architectures), planned=len(jobs),
        skipped=len(done), trained=len(pending), ok=counts["ok"], failed=counts["failed"],
        seconds=time.perf_counter() - started)


def ship_campaign(plan: CampaignPlan, store: ExperimentStore, target: str | Path, *, command: str,
                  report: CampaignReport | None = None) -> dict[str, Any]:
    """Export the campaign's LDE to ``target`` (Parquet) and write ``DATA_CARD.md`` beside it."""
    from lde.io import export_experiments

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = export_experiments(store, target, format="parquet", overwrite=True)
    card = target.with_name("DATA_CARD.md")
    card.write_text(data_card(plan, store, command=command))
    return {"path": str(target), "rows": rows, "bytes": target.stat().st_size, "data_card": str(card)}


def data_card(plan: CampaignPlan, store: ExperimentStore, *, command: str) -> str:
    """The data card of a campaign's LDE: datasets, pool, schedule, accuracies, compute, command."""
    import platform

    frame = store.experiments_frame()
    ok = frame[frame["status"] == "ok"]
    datasets = {d.fingerprint: d for d in store.datasets()}
    hp = plan.hparams
    lines = [
        "# The embedded default LDE",
        "",
        "Experiments shipped with tapaskit so that a fresh install can predict and search offline. "
        "Every row is a real training run made by the seeding campaign (`tapaskit/workflows/campaign.py`).",
        "",
        "## Regenerate",
        "",
        "```",
        f"{command} --lde campaign.duckdb --ship lde/default/default_lde.parquet",
        "```",
        "",
        f"## Contents\n\n- datasets: {len(datasets)}\n- architectures in the shared pool: "
        f"{len(plan.architectures)} (seed {plan.seed}, at most {MAX_FLOPS:,} forward FLOPs per sample, "
        f"valid on inputs {', '.join('x'.join(map(str, s)) for s in REFERENCE_SHAPES)})\n"
        f"- experiments: {len(frame)} ({len(ok)} ok, {len(frame) - len(ok)} failed/diverged/oom)",
        "",
        "## Schedule (the same for every run)",
        "",
        f"optimizer {hp.optimizer}, peak learning rate {hp.lr} (one-cycle cosine), batch size {hp.batch_size}, "
        f"{hp.epochs} epochs, weight decay {hp.weight_decay}; half of each dataset is the validation "
        f"split (fixed by the seed), at most {hp.max_train} training samples. Peak accuracy = best "
        "validation accuracy over the epochs. DCN: default probe net (`probenets`), seed "
        f"{plan.seed}.",
        "",
        "## Datasets",
        "",
        "Peak validation accuracy over the pool; *near chance* is the share of networks within 0.05 of "
        "chance (1 / classes).",
        "",
        "| dataset | DCN | classes | input | samples | ok runs | peak acc mean | std | min | median | max | near chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fingerprint, group in sorted(ok.groupby("dataset_fingerprint"), key=lambda g: -(datasets[g[0]].dcn or 0)):
        d = datasets[fingerprint]
        acc = group["peak_accuracy"]
        lines.append(
            f"| `{d.name}` | {d.dcn:.3f} | {d.num_classes} | {'x'.join(map(str, d.input_shape))} | "
            f"{d.num_samples} | {len(group)} | {acc.mean():.3f} | {acc.std():.3f} | {acc.min():.3f} | "
            f"{acc.median():.3f} | {acc.max():.3f} | {(acc < 1 / d.num_classes + 0.05).mean():.2f} |")
    seconds = float(frame["seconds"].fillna(0).sum())
    devices = ", ".join(sorted(set(frame["device"].dropna())))
    lines += [
        "",
        "## Compute",
        "",
        f"{seconds / 3600:.2f} hours of training time summed over runs (devices: {devices}), on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores; the campaign ran on CPU only.",
        "",
    ]
    return "\n".join(lines)
