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
4. trains every (architecture, dataset) pair with the suite's one fixed schedule
   (:data:`SCHEDULES`) and writes each result to the LDE as soon as it arrives, failures included.

Two suites are shipped (:data:`SHIPPED_FILES`): ``default``, small inputs (at most 16x16, 1,000
training samples, 6 epochs) on 300 networks, and ``large``, the regime users search in (native
28x28 and 32x32 RGB inputs, 3,000 training samples, 8 epochs, :data:`LARGE_SCHEDULE`) on the first
networks of the same default pool that fit its inputs (:func:`large_pool`), so the predictor sees
the same network in both regimes. ``mini`` is for tests.

It is resumable: every experiment has the key ``campaign/<suite>/<fingerprint>/<arch>/<seed>``, a
rerun skips the keys already in the LDE, so a killed campaign continues where it stopped without
duplicate rows. The trainings run through an :class:`~tapaskit.training.Executor` (local processes
by default, or a Ray cluster); only the driver writes to the LDE, each result as it arrives.
"""

from __future__ import annotations

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
from tapaskit.store import architecture_record, dataset_record, experiment_record, training_proxies
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
    # The regime users search in: native resolution (28x28 gray, 32x32 RGB textures), about 3,000
    # training samples, 8 epochs. Fashion-MNIST variants keep their share of the official t10k
    # test images as the test part, so no training sees them.
    "large": (
        "fashion-mnist[n=4500]",
        "fashion-mnist[classes=1,8;n=4500]",
        "fashion-mnist[classes=0,2,4,6;n=4500]",
        "fashion-mnist[n=4500;label_noise=0.3]",
        "mnist-5k",
        "mnist-5k[label_noise=0.4]",
        "shapes[samples=5000;res=28]",
        "textures[samples=5000;res=32]",
    ),
}

#: The schedule of the default (and mini) suite: half of each dataset for validation (so the
#: accuracy of every network is measured on about 1,000 samples), at most 1,000 training samples.
SCHEDULE = Hyperparameters(epochs=6, lr=3e-3, batch_size=32, optimizer="adam", val_fraction=0.5,
                           max_train=1000)
#: Largest forward FLOPs per sample of a pool network on the suite's largest input.
MAX_FLOPS = 6_000_000
#: Networks in the default campaign's pool (why 300: docs/results.md).
DEFAULT_POOL_SIZE = 300
REFERENCE_SHAPES = ((1, 8, 8), (1, 16, 16), (3, 16, 16))

#: The large suite's schedule, the one users run: batch 64, 8 epochs, a fifth of the non-test
#: samples for validation (about 800-1,000 per dataset), at most 3,000 training samples.
LARGE_SCHEDULE = Hyperparameters(epochs=8, lr=3e-3, batch_size=64, optimizer="adam", val_fraction=0.2,
                                 max_train=3000)
#: The large suite's FLOP cap per sample, on its inputs: it keeps the slowest training at
#: :data:`LARGE_SCHEDULE` under about a minute on one CPU thread.
LARGE_MAX_FLOPS = 10_000_000
#: Networks in the large campaign's pool: sized so that one worker (one torch thread) trains the
#: suite in about 90 minutes on a busy 2-core CPU (lde/default/DATA_CARD.md).
LARGE_POOL_SIZE = 36
LARGE_REFERENCE_SHAPES = ((1, 28, 28), (3, 32, 32))

#: Each suite's schedule.
SCHEDULES: dict[str, Hyperparameters] = {"default": SCHEDULE, "mini": SCHEDULE, "large": LARGE_SCHEDULE}
#: Each suite's default pool size.
POOL_SIZES: dict[str, int] = {"default": DEFAULT_POOL_SIZE, "mini": DEFAULT_POOL_SIZE, "large": LARGE_POOL_SIZE}


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


def large_pool(n: int, seed: int, *, max_flops: int = LARGE_MAX_FLOPS) -> tuple[Architecture, ...]:
    """The large suite's pool: the first ``n`` networks of the default pool that fit its inputs.

    Walking the default pool (:data:`DEFAULT_POOL_SIZE` networks, same seed) in order and keeping
    those under ``max_flops`` on every input of :data:`LARGE_REFERENCE_SHAPES` makes every large
    network also a default one, so the predictor sees the same network in both regimes; and a
    larger ``n`` extends a smaller one, as for the default pool.
    """
    found = [arch for arch in architecture_pool(DEFAULT_POOL_SIZE, seed)
             if _fits_everywhere(arch, max_flops, LARGE_REFERENCE_SHAPES)][:n]
    if len(found) < n:
        raise InvalidOptionError(f"only {len(found)} networks of the default pool fit under {max_flops:,} FLOPs "
                                 f"at {', '.join('x'.join(map(str, s)) for s in LARGE_REFERENCE_SHAPES)}; "
                                 "ask for fewer")
    return tuple(found)


def _fits_everywhere(arch: Architecture, max_flops: int,
                     shapes: tuple[tuple[int, int, int], ...] = REFERENCE_SHAPES) -> bool:
    try:
        return all(infer_shapes(arch, shape, 10).flops <= max_flops for shape in shapes)
    except Exception:  # noqa: BLE001 - invalid on one of the inputs: not for the shared pool
        return False


def plan_campaign(suite: str = "default", *, archs: int | None = None, epochs: int | None = None,
                  seed: int = 0) -> CampaignPlan:
    """The campaign for a suite: datasets, a seeded pool of ``archs`` networks, the schedule.

    Args:
        suite: a key of :data:`SUITES`.
        archs: networks in the pool; None for the suite's own size (:data:`POOL_SIZES`).
        epochs: overrides the suite's schedule (:data:`SCHEDULES`) when given.
        seed: the pool's and every training's seed.

    Raises:
        InvalidOptionError: an unknown suite, or ``archs < 1``.
    """
    if suite not in SUITES:
        raise InvalidOptionError(f"suite must be one of {', '.join(SUITES)}, but got {suite!r}")
    archs = POOL_SIZES[suite] if archs is None else archs
    if archs < 1:
        raise InvalidOptionError(f"archs must be >= 1, but got {archs}")
    schedule = SCHEDULES[suite]
    hparams = schedule if epochs is None else Hyperparameters(**{**schedule.to_dict(), "epochs": epochs})
    pool = large_pool(archs, seed) if suite == "large" else architecture_pool(archs, seed)
    return CampaignPlan(suite=suite, datasets=SUITES[suite], architectures=pool, hparams=hparams, seed=seed)


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
                                  datasets=[dataset_record(job.dataset)], proxies=training_proxies(result))
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


#: The file each suite ships as, in ``lde/default/`` (see :mod:`lde.default`).
SHIPPED_FILES: dict[str, str] = {"default": "default_lde.parquet", "large": "large_lde.parquet"}
#: Workers of the shipped campaigns (the regeneration commands repeat them; results do not depend on them).
SHIPPED_WORKERS: dict[str, int] = {"default": 2, "large": 1}
#: Where each shipped campaign ran and why it has the size it has (written into the data card).
SHIPPED_NOTES: dict[str, str] = {
    "default": "Ran on a 2-core x86_64 CPU, 2 worker processes, no GPU. The pool size: docs/results.md.",
    "large": (
        "Ran on this project's machine: a 2-core x86_64 Debian CPU shared with other jobs, one worker "
        "process with one torch thread (`OMP_NUM_THREADS=1`), no GPU. Sized before it started by timing "
        "trainings of the pool at this schedule on that one thread: 2 to 40 s each (about 18 s on "
        "average; the FLOPs alone do not predict it, full-resolution layers cost more than their count "
        "says), so 8 datasets x 36 networks = 288 trainings is about 90 minutes of wall time. "
        "The 10M FLOP cap keeps the slowest training under a minute. Grown later with `--archs N` "
        "(N > 36), it resumes on the same file and trains only the new networks."
    ),
}


def ship_campaign(plan: CampaignPlan, store: ExperimentStore, target: str | Path, *, command: str,
                  report: CampaignReport | None = None) -> dict[str, Any]:
    """Export the campaign's LDE to ``target`` (Parquet) and rewrite ``DATA_CARD.md`` beside it.

    The store must hold this suite's campaign only (its own file, as the data card's commands
    make it), since the whole store is exported; the card describes every shipped file beside
    ``target`` (:data:`SHIPPED_FILES`), so shipping one suite keeps the other's section.

    Raises:
        InvalidOptionError: the store holds experiments of another suite or source.
    """
    from lde.io import export_experiments

    prefix = f"campaign/{plan.suite}/"
    keys = store.experiments_frame()["key"].astype(object)
    strangers = [k for k in keys if not (isinstance(k, str) and k.startswith(prefix))]
    if strangers:
        raise InvalidOptionError(f"the LDE holds {len(strangers)} experiments that are not the {plan.suite} "
                                 f"suite's (e.g. key {strangers[0]!r}); ship a suite from its own campaign file")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = export_experiments(store, target, format="parquet", overwrite=True)
    card = write_data_card(target.parent, commands={plan.suite: command}, files={plan.suite: target.name})
    return {"path": str(target), "rows": rows, "bytes": target.stat().st_size, "data_card": str(card)}


def write_data_card(folder: str | Path, *, commands: dict[str, str] | None = None,
                    files: dict[str, str] | None = None) -> Path:
    """Write ``DATA_CARD.md`` for the shipped files in ``folder`` (each suite's, where present).

    Args:
        folder: where the suites' files are; normally ``lde/default``.
        commands: a suite's ``tapas lde seed`` command as it ran; by default the one
            :func:`regeneration_command` makes from the file (pool size, epochs and seed in it).
        files: suite -> file name, over :data:`SHIPPED_FILES`.

    Returns:
        The card's path.
    """
    import pandas as pd

    folder = Path(folder)
    files = {**SHIPPED_FILES, **(files or {})}
    frames = {suite: pd.read_parquet(folder / name) for suite, name in files.items() if (folder / name).is_file()}
    card = folder / "DATA_CARD.md"
    card.write_text(data_card(frames, commands=commands, files=files))
    return card


def _suite_command(suite: str, frame: Any) -> str:
    runs = frame[frame["status"].notna()]
    epochs = int(runs["epochs"].mode().iloc[0]) if len(runs) else SCHEDULES[suite].epochs
    seed = int(runs["seed"].mode().iloc[0]) if len(runs) else 0
    return regeneration_command(suite, int(frame["arch_hash"].nunique()), epochs, seed, SHIPPED_WORKERS.get(suite, 2))


def data_card(frames: dict[str, Any], *, commands: dict[str, str] | None = None,
              files: dict[str, str] | None = None) -> str:
    """The data card of the embedded default LDE: each suite's datasets, pool, schedule, compute, command.

    Args:
        frames: suite -> the shipped file of that suite as a pandas frame (the open export format:
            one row per experiment, plus rows without a status for datasets and architectures
            that no experiment uses yet).
        commands: a suite's ``tapas lde seed`` command as it ran (default: from the frame).
        files: suite -> the name of its shipped file, over :data:`SHIPPED_FILES`.
    """
    files = {**SHIPPED_FILES, **(files or {})}
    given = commands or {}
    commands = {suite: given.get(suite) or _suite_command(suite, frame) for suite, frame in frames.items()}
    total = sum(int(frame["status"].notna().sum()) for frame in frames.values())
    lines = [
        "# The embedded default LDE",
        "",
        "Experiments shipped with tapaskit so that a fresh install can predict and search offline. "
        "Every row is a real training run made by the seeding campaign (`tapaskit/workflows/campaign.py`). "
        f"One Parquet file per suite ({', '.join(f'`{suite}`' for suite in frames)}); a fresh data home's LDE "
        f"is filled from all of them on first use ({total:,} experiments in all).",
        "",
        "| suite | file | datasets | inputs | training samples | epochs | networks | experiments | training hours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for suite, frame in frames.items():
        runs = frame[frame["status"].notna()]
        data = frame.dropna(subset=["dataset_fingerprint"]).drop_duplicates("dataset_fingerprint")
        inputs = sorted({f"{int(c)}x{int(h)}x{int(w)}"
                         for c, h, w in zip(data["in_channels"], data["in_height"], data["in_width"])})
        planned = len(data) * int(frame["arch_hash"].nunique())
        max_train = SCHEDULES[suite].max_train
        lines.append(
            f"| `{suite}` | `{files[suite]}` | {len(data)} | {', '.join(inputs)} | at most {max_train:,} | "
            f"{', '.join(str(e) for e in sorted(set(runs['epochs'].astype(int))))} | "
            f"{frame['arch_hash'].nunique()} | {len(runs):,} of {planned:,} | "
            f"{float(runs['seconds'].fillna(0).sum()) / 3600:.2f} |")
    lines += ["", "## Regenerate", "",
              "Each suite from its own campaign file (resumable: rerun the same command after an "
              "interruption); `--ship` exports it here and rewrites this card:", "", "```"]
    lines += [f"{commands[suite]} --lde campaign-{suite}.duckdb --ship lde/default/{files[suite]}"
              for suite in frames]
    lines += ["```", "",
              "A campaign still running ships its progress so far the same way "
              "(`tapas lde export lde/default/<file> --lde campaign-<suite>.duckdb --force`, then "
              "`python -c 'from tapaskit.workflows.campaign import write_data_card; "
              "write_data_card(\"lde/default\")'`).", ""]
    for suite, frame in frames.items():
        lines += _suite_section(suite, frame, files[suite])
    if any("proxies_created_at" in frame.columns for frame in frames.values()):
        lines += _proxies_section(frames, files)
    return "\n".join(lines)


def _proxies_section(frames: dict[str, Any], files: dict[str, str]) -> list[str]:
    """What the shipped files hold of the zero-cost proxies, and how to add them again."""
    names = ("synflow", "snip", "grad_norm", "jacob_cov", "naswot")
    lines = [
        "## Zero-cost proxies",
        "",
        "Every ok row carries the zero-cost proxies of its (architecture, dataset) pair in the columns "
        f"{', '.join(f'`proxy_{n}`' for n in names)} (with `proxies_seed`, `proxies_batch_size`, "
        "`proxies_seconds`, `proxies_created_at`); a fresh data home's `proxies` table is filled from them. "
        "Each is a score of the network at initialisation (seed 0, the trainer's own initialisation) on one "
        "minibatch of 64 samples drawn with seed 0 from the dataset's training part (never its test part), "
        "computed on the CPU: synflow (stored as log10(1 + synflow)), snip (log10), grad_norm (log10), "
        "jacob_cov (-log10(-score)) and NASWOT (log det of the activation-code kernel). Definitions, choices "
        "and measured cost: `docs/proxies.md`. An empty score is a proxy that is undefined for that network "
        "(e.g. NASWOT's kernel is singular when a network has too few activation units) or not finite.",
        "",
        "| suite | ok rows with proxies | pairs | empty scores (synflow, snip, grad_norm, jacob_cov, naswot) "
        "| seconds per pair (median, max) | seconds in all |",
        "|---|---|---|---|---|---|",
    ]
    for suite, frame in frames.items():
        if "proxies_created_at" not in frame.columns:
            continue
        ok = frame[frame["status"] == "ok"]
        pairs = frame[frame["proxies_created_at"].notna()].drop_duplicates(["arch_hash", "dataset_fingerprint"])
        empty = ", ".join(str(int(pairs[f"proxy_{n}"].isna().sum())) for n in names)
        seconds = pairs["proxies_seconds"]
        lines.append(
            f"| `{suite}` | {int(ok['proxies_created_at'].notna().sum()):,} of {len(ok):,} | {len(pairs):,} | "
            f"{empty} | {seconds.median():.3f}, {seconds.max():.3f} | {seconds.sum():.0f} |")
    lines += [
        "",
        "Seconds are per pair with the network's build, on this project's shared 2-core CPU (loading the "
        "datasets not included). Trainings record their proxies as they are written, so a campaign shipped "
        "with `--ship` carries them already. To add them to files made before (every other column stays as "
        "it was; `same_content=False` because the default suite's eight down-sampled datasets, `size=`, load "
        "today equal to the campaign's data only up to float rounding of the area averaging, at most 1e-7, "
        "so not with the recorded fingerprint: their proxies are computed on the data as it loads today, "
        "after checking its shape, classes and size):",
        "",
        "```",
    ]
    lines += [f"python -c 'from tapaskit.workflows.proxies import ship_proxies; "
              f"ship_proxies(\"lde/default/{files[suite]}\", same_content=False)'" for suite in frames]
    lines += ["```", "", "For any other LDE: `tapas lde proxies [--lde FILE]` (resumable).", ""]
    return lines


def _suite_section(suite: str, frame: Any, file: str) -> list[str]:
    runs = frame[frame["status"].notna()]
    ok = runs[runs["status"] == "ok"]
    data = frame.dropna(subset=["dataset_fingerprint"]).drop_duplicates("dataset_fingerprint")
    archs = int(frame["arch_hash"].nunique())
    hp = SCHEDULES[suite]
    epochs = sorted(set(runs["epochs"].astype(int))) or [hp.epochs]
    seed = int(runs["seed"].mode().iloc[0]) if len(runs) else 0
    if suite == "large":
        pool = (f"the first {archs} networks of the default pool (seed {seed}) with at most "
                f"{LARGE_MAX_FLOPS:,} forward FLOPs per sample on inputs "
                f"{', '.join('x'.join(map(str, s)) for s in LARGE_REFERENCE_SHAPES)}: every one of them is also "
                "trained in the default suite, so the predictor sees the same network in both regimes")
    else:
        pool = (f"{archs} networks (seed {seed}, at most {MAX_FLOPS:,} forward FLOPs per sample, valid on "
                f"inputs {', '.join('x'.join(map(str, s)) for s in REFERENCE_SHAPES)})")
    test = ("the test part (Fashion-MNIST's official t10k images, a fixed fifth of each class elsewhere) "
            "is never trained or validated on; " if suite == "large" else "")
    lines = [
        f"## Suite `{suite}` (`{file}`)",
        "",
        f"- datasets: {len(data)}",
        f"- architectures in the shared pool: {pool}",
        f"- experiments: {len(runs):,} of {len(data) * archs:,} planned ({len(ok):,} ok, "
        f"{len(runs) - len(ok)} failed/diverged/oom)",
        "",
        "### Schedule (the same for every run)",
        "",
        f"optimizer {hp.optimizer}, peak learning rate {hp.lr} (one-cycle cosine), batch size {hp.batch_size}, "
        f"{', '.join(map(str, epochs))} epochs, weight decay {hp.weight_decay}; {test}"
        f"{hp.val_fraction:.0%} of the rest of each dataset is the validation split (fixed by the seed), "
        f"at most {hp.max_train:,} training samples. Peak accuracy = best validation accuracy over the "
        f"epochs. DCN: default probe net (`probenets`), seed {seed}.",
        "",
        "### Datasets",
        "",
        "Peak validation accuracy over the pool; *near chance* is the share of networks within 0.05 of "
        "chance (1 / classes).",
        "",
        "| dataset | DCN | classes | input | samples | ok runs | peak acc mean | std | min | median | max | near chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, d in data.sort_values("dcn", ascending=False).iterrows():
        acc = ok.loc[ok["dataset_fingerprint"] == d["dataset_fingerprint"], "peak_accuracy"]
        figures = (f"{acc.mean():.3f} | {acc.std():.3f} | {acc.min():.3f} | {acc.median():.3f} | {acc.max():.3f} | "
                   f"{(acc < 1 / d['num_classes'] + 0.05).mean():.2f}" if len(acc) > 1 else " | ".join("-" * 6))
        lines.append(
            f"| `{d['dataset_name']}` | {d['dcn']:.3f} | {int(d['num_classes'])} | "
            f"{int(d['in_channels'])}x{int(d['in_height'])}x{int(d['in_width'])} | {int(d['num_samples'])} | "
            f"{len(acc)} | {figures} |")
    seconds = float(runs["seconds"].fillna(0).sum())
    devices = ", ".join(sorted(set(runs["device"].dropna()))) or "none yet"
    lines += [
        "",
        "### Compute",
        "",
        f"{seconds / 3600:.2f} hours of training time summed over runs (devices: {devices}), "
        f"{seconds / max(len(runs), 1):.1f} s per training on average. {SHIPPED_NOTES.get(suite, '')}".rstrip(),
        "",
    ]
    return lines
