"""``tapas search``: the whole TAPAS loop for one dataset, as a small object with visible steps.

:class:`Search` runs, in order (each step a method, testable alone):

1. :meth:`~Search.characterize`: the dataset's DCN (cached in the LDE);
2. :meth:`~Search.fit_predictor`: the predictor fitted on the LDE experiments in the DCN window
   (cached in the data home for the same experiments and settings);
3. :meth:`~Search.propose`: a strategy proposes ``budget`` architectures scored by the predictor;
4. :meth:`~Search.train`: the top-K distinct ones are fully trained through an
   :class:`~tapaskit.training.Executor` (local processes or Ray);
5. :meth:`~Search.record`: each training is written to the LDE (source ``search``) and to MLflow
   as soon as it arrives;
6. :meth:`~Search.export`: the best network goes to ``out_dir`` with a standalone ``model.py``.

:meth:`Search.run` does all six and returns a frozen :class:`SearchResult`, which the CLI prints
and ``--json`` serialises (``summary.json`` in ``out_dir`` holds the same).

Resuming: the strategy's state is checkpointed to ``out_dir/search_state.pt`` every few batches,
and each finished training to ``out_dir/candidates/`` (written atomically). ``resume=True``
continues from the checkpoint and skips finished trainings; LDE rows carry the key
``search/<search id>/<arch hash>``, so nothing is written twice.

Example:
    >>> from tapaskit.workflows.search import SearchConfig, run_search
    >>> result = run_search(SearchConfig("digits", preset="quick"), out_dir="best")  # doctest: +SKIP
    >>> result.best.result.peak_accuracy                                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lde import ExperimentStore

from tapaskit.checks import check_choice, check_int, check_number
from tapaskit.datasets import Dataset, load_dataset
from tapaskit.errors import InvalidOptionError
from tapaskit.paths import atomic_write
from tapaskit.predictor import DEFAULT_PREDICTOR, DEFAULT_TAU, architecture_frame, make_predictor
from tapaskit.predictor.cache import PredictorFit, fit_predictor
from tapaskit.search import STRATEGIES, Candidate, Reward, StrategyResult
from tapaskit.space.architecture import Architecture
from tapaskit.space.export import write_model_files
from tapaskit.store import open_lde, record_training
from tapaskit.tracking import TrackedRun, Tracker
from tapaskit.training import Executor, Hyperparameters, LocalExecutor, TrainingEvents, TrainingJob, TrainResult
from tapaskit.training.devices import resolve_device
from tapaskit.training.trainer import TrainStatus
from tapaskit.workflows.characterize import Characterization, characterize_dataset

STATE_FILE = "search_state.pt"
CHECKPOINT_EVERY = 10  # batches between checkpoints of the strategy's state


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search. ``None`` fields take the preset's value."""

    dataset: str
    strategy: str = "reinforce"
    preset: str = "default"
    budget: int | None = None
    top_k: int | None = None
    epochs: int | None = None
    max_params: int | None = None
    max_flops: int | None = None
    predictor: str = DEFAULT_PREDICTOR
    tau: float = DEFAULT_TAU
    seed: int = 0
    device: str | None = None


#: Presets: ``quick`` finishes in minutes on a laptop CPU, ``thorough`` wants a GPU.
PRESETS: dict[str, dict[str, int]] = {
    "quick": {"budget": 2_000, "top_k": 3, "epochs": 5, "max_params": 500_000, "max_flops": 20_000_000},
    "default": {"budget": 10_000, "top_k": 5, "epochs": 10, "max_params": 2_000_000, "max_flops": 100_000_000},
    "thorough": {"budget": 30_000, "top_k": 10, "epochs": 20, "max_params": 5_000_000, "max_flops": 400_000_000},
}


def resolve_config(config: SearchConfig) -> SearchConfig:
    """Fill ``None`` fields from the preset and check every value (before any work is done)."""
    check_choice("preset", config.preset, tuple(PRESETS))
    check_choice("strategy", config.strategy, tuple(STRATEGIES))
    make_predictor(config.predictor)  # an unknown predictor fails here, not after the characterisation
    preset = PRESETS[config.preset]
    filled = replace(config, **{k: v for k, v in preset.items() if getattr(config, k) is None})
    for name in ("budget", "top_k", "epochs", "max_params", "max_flops"):
        check_int(name.replace("_", "-"), getattr(filled, name))
    if filled.top_k > filled.budget:
        raise InvalidOptionError(f"top-k ({filled.top_k}) cannot exceed the budget ({filled.budget})")
    check_number("tau", filled.tau, 0.0)
    check_int("seed", filled.seed, minimum=0)
    if filled.device is not None:
        resolve_device(filled.device)  # before the probe and the predictor fit, not at the trainings
    return filled


@dataclass
class SearchEvents:
    """Callbacks for a live display; every one is optional."""

    stage: Callable[[str], None] | None = None
    search: Callable[[Any], None] | None = None  # SearchProgress after every batch
    training_started: Callable[[int, int, Architecture], None] | None = None  # (index, total, arch)
    training_epoch: Callable[[Architecture, int, float, float], None] | None = None  # (arch, epoch, loss, acc)
    training_done: Callable[[int, int, TrainResult], None] | None = None  # (finished so far - 1, total, result)

    def say(self, text: str) -> None:
        if self.stage:
            self.stage(text)


# -------------------------------------------------------------------------------- typed results
@dataclass(frozen=True)
class TrainedCandidate:
    """One top-K candidate after its full training."""

    rank: int  # by the predictor's reward, 1 = best
    arch: Architecture
    predicted_accuracy: float
    reward: float
    result: TrainResult
    mlflow_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {"rank": self.rank, "arch_hash": self.arch.arch_hash, "predicted_accuracy": self.predicted_accuracy,
                "reward": self.reward, "real_peak_accuracy": r.peak_accuracy,
                "real_final_accuracy": r.final_accuracy, "test_accuracy": r.test_accuracy, "status": r.status.value, "params": r.params,
                "flops": r.flops, "train_seconds": r.seconds, "device": r.device, "curve": list(r.curve),
                "message": r.message, "mlflow_run_id": self.mlflow_run_id, "architecture": self.arch.to_dict()}


@dataclass(frozen=True)
class ProposalSummary:
    """What the strategy did: proposals, predictor queries, its reward curve, and random sampling's."""

    strategy: str
    proposals: int
    queries: int
    distinct: int
    seconds: float
    best_predicted_reward: float
    batch_mean_reward: tuple[float, ...]
    last_quarter_mean_reward: float
    random_last_quarter_mean_reward: float | None  # None when the strategy is random itself

    @property
    def beats_random(self) -> bool | None:
        if self.random_last_quarter_mean_reward is None:
            return None
        return self.last_quarter_mean_reward > self.random_last_quarter_mean_reward

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batch_mean_reward": [round(r, 5) for r in self.batch_mean_reward],
                "beats_random": self.beats_random}


@dataclass(frozen=True)
class SearchResult:
    """What ``tapas search`` found, and how: printed by the CLI, serialised by ``--json``."""

    search_id: str
    dataset: str
    fingerprint: str
    dcn: float
    dcn_cached: bool
    config: SearchConfig
    predictor_fit: PredictorFit
    proposals: ProposalSummary
    candidates: tuple[TrainedCandidate, ...]
    lde_rows_added: int
    out_dir: str
    files: dict[str, str] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, and "total"

    @property
    def best(self) -> TrainedCandidate | None:
        """The candidate with the best validation accuracy among those that trained well."""
        ok = [c for c in self.candidates if c.result.ok and c.result.peak_accuracy is not None]
        return max(ok, key=lambda c: c.result.peak_accuracy) if ok else None  # type: ignore[arg-type, return-value]

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "search_id": self.search_id, "dataset": self.dataset, "fingerprint": self.fingerprint,
            "dcn": self.dcn, "dcn_cached": self.dcn_cached, "config": asdict(self.config),
            "predictor_fit": self.predictor_fit.to_dict(), "proposals": self.proposals.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
            "best": None if best is None else {"arch_hash": best.arch.arch_hash, "rank": best.rank,
                                               "peak_accuracy": best.result.peak_accuracy,
                                               "test_accuracy": best.result.test_accuracy,
                                               "predicted_accuracy": best.predicted_accuracy},
            "lde_rows_added": self.lde_rows_added, "out_dir": self.out_dir, "files": self.files,
            "mlflow_run_id": self.mlflow_run_id, "timings": self.timings,
        }


# ------------------------------------------------------------------------------------ the steps
class Search:
    """One search, step by step; see the module docstring.

    Args:
        config: what to search (see :class:`SearchConfig` and :data:`PRESETS`).
        out_dir: where the best network, the summary and the checkpoints go.
        resume: continue the search checkpointed in ``out_dir`` (same config required).
        force: replace the results of another search in ``out_dir`` (otherwise refused).
        lde: the LDE: None (the user's default), a path, or an open store.
        executor: where the full trainings run; None is a :class:`~tapaskit.training.LocalExecutor`
            (one worker per GPU, or one in-process), closed at the end of :meth:`run`.
        events: callbacks for a live display.
    """

    def __init__(self, config: SearchConfig, *, out_dir: str | Path, resume: bool = False, force: bool = False,
                 lde: ExperimentStore | str | Path | None = None, executor: Executor | None = None,
                 events: SearchEvents | None = None) -> None:
        self.config = resolve_config(config)
        self.out = Path(out_dir)
        if self.out.exists() and not self.out.is_dir():
            raise InvalidOptionError(f"out {self.out} is a file; give a folder for the search's results")
        held = [name for name in ("summary.json", STATE_FILE) if (self.out / name).exists()]
        if held and not (resume or force):
            raise InvalidOptionError(f"{self.out} holds another search's results ({held[0]}); use --resume to "
                                     "continue it, --force to replace it, or another --out")
        self.events = events or SearchEvents()
        self.executor = executor
        self.dataset: Dataset = load_dataset(self.config.dataset)
        self.store = open_lde(lde)
        self.state = self._load_state() if resume else {}
        self.search_id: str = self.state.get("search_id") or uuid.uuid4().hex[:12]
        self.tracker = Tracker()
        self.parent_run_id: str | None = None
        self.timings: dict[str, float] = {}

    # -- 1. characterize ----------------------------------------------------------------------
    def characterize(self) -> Characterization:
        """The dataset's DCN (from the LDE when it was computed before)."""
        self.events.say("characterizing the dataset")
        with self._timed("characterize"):
            self.characterization = characterize_dataset(self.dataset, lde=self.store, seed=self.config.seed)
        return self.characterization

    # -- 2. fit the predictor -----------------------------------------------------------------
    def fit_predictor(self) -> PredictorFit:
        """The predictor fitted on the DCN window (or loaded from the cache)."""
        dcn = self.characterization.dcn
        self.events.say(f"fitting the {self.config.predictor} predictor on experiments near DCN {dcn:.3f}")
        with self._timed("fit_predictor"):
            self.predictor, self.fit = fit_predictor(self.store, dcn, name=self.config.predictor,
                                                     tau=self.config.tau, seed=self.config.seed,
                                                     target=self.dataset.fingerprint)
        return self.fit

    def score(self, archs: list[Architecture]) -> np.ndarray:
        """Predicted accuracies of ``archs`` on this dataset, in [0, 1]."""
        ds = self.dataset
        frame = architecture_frame(archs, input_shape=ds.input_shape, num_classes=ds.num_classes,
                                   dcn=self.characterization.dcn, dataset_name=ds.name)
        return np.clip(self.predictor.predict(frame), 0.0, 1.0)

    def _reward(self) -> Reward:
        c, ds = self.config, self.dataset
        return Reward(self.score, input_shape=ds.input_shape, num_classes=ds.num_classes,
                      max_params=c.max_params, max_flops=c.max_flops)

    # -- 3. propose ---------------------------------------------------------------------------
    def propose(self) -> StrategyResult:
        """Run the strategy for ``budget`` proposals, checkpointing its state as it goes."""
        c, ds = self.config, self.dataset
        reward = self._reward()
        strategy = STRATEGIES[c.strategy](seed=c.seed)
        if self.state.get("strategy"):
            strategy.load_state_dict(self.state["strategy"])
            reward.load_state_dict(self.state["reward"])
        batches = [0]

        def checkpoint(strat: Any, progress: Any) -> None:
            batches[0] += 1
            if self.events.search:
                self.events.search(progress)
            if batches[0] % CHECKPOINT_EVERY == 0 or progress.step >= c.budget:
                self._save_state(strat, reward)

        self.events.say(f"searching with {c.strategy} ({c.budget} proposals)")
        with self._timed("propose"):
            self.strategy_result = strategy.run(reward, ds.input_shape, ds.num_classes, c.budget, callback=checkpoint)
            self._save_state(strategy, reward)
            self.proposal_summary = self._summarise_proposals(self.strategy_result)
        return self.strategy_result

    def _summarise_proposals(self, result: StrategyResult) -> ProposalSummary:
        """The strategy's figures, with random sampling at the same budget as the yardstick."""
        c, ds = self.config, self.dataset
        theirs = None
        if c.strategy != "random":
            random_result = STRATEGIES["random"](seed=c.seed).run(self._reward(), ds.input_shape, ds.num_classes,
                                                                  c.budget)
            theirs = float(random_result.mean_reward(last=0.25))
        return ProposalSummary(
            strategy=c.strategy, proposals=len(result.history), queries=result.queries,
            distinct=result.distinct_count(), seconds=result.seconds,
            best_predicted_reward=float(max(x.reward for x in result.history)),
            batch_mean_reward=tuple(float(r) for r in result.batch_rewards),
            last_quarter_mean_reward=float(result.mean_reward(last=0.25)), random_last_quarter_mean_reward=theirs)

    # -- 4. train (5. recording each result as it arrives) -------------------------------------
    def train(self, top: list[Candidate]) -> list[TrainedCandidate]:
        """Fully train ``top`` (skipping those a previous run finished), recording each on arrival.

        Returns:
            One :class:`TrainedCandidate` per candidate, in ``top``'s order.
        """
        c = self.config
        hparams = Hyperparameters(epochs=c.epochs)
        finished = {cand.arch.arch_hash: self._load_candidate(cand) for cand in top}
        finished = {h: t for h, t in finished.items() if t is not None}
        rank = {cand.arch.arch_hash: i + 1 for i, cand in enumerate(top)}
        by_hash = {cand.arch.arch_hash: cand for cand in top}
        # the top-K are the finalists: each is evaluated once on the test part, which no selection
        # reads (the best is chosen on validation accuracy)
        jobs = [TrainingJob(key=self.key(cand.arch), arch=cand.arch, dataset=self.dataset, hparams=hparams,
                            seed=c.seed, keep_weights=True, device=c.device, evaluate_test=True)
                for cand in top if cand.arch.arch_hash not in finished]
        self.rows_added = sum(self.record(t) for t in finished.values())  # a resumed run may have missed some
        if jobs:
            self.events.say(f"fully training {len(jobs)} of the top {len(top)} candidates ({c.epochs} epochs each)")
        ev = self.events
        order = {job.key: i for i, job in enumerate(jobs)}
        live: dict[str, TrackedRun] = {}  # each training's MLflow run, open while it trains
        curves_logged: set[str] = set()

        def started(job: TrainingJob) -> None:
            live[job.key] = self._open_run(by_hash[job.arch.arch_hash], job)
            if ev.training_started:
                ev.training_started(order[job.key], len(jobs), job.arch)

        def epoch(job: TrainingJob, e: int, loss: float, acc: float) -> None:
            if job.key in live:
                live[job.key].log_metrics({"val_accuracy": acc, "train_loss": loss}, step=e)
                curves_logged.add(job.key)
            if ev.training_epoch:
                ev.training_epoch(job.arch, e, loss, acc)

        executor = self.executor or LocalExecutor(device=c.device)
        with self._timed("train"):
            try:
                for done, (job, result) in enumerate(executor.run(jobs, TrainingEvents(started=started, epoch=epoch))):
                    cand = by_hash[job.arch.arch_hash]
                    trained = TrainedCandidate(rank=rank[cand.arch.arch_hash], arch=cand.arch,
                                               predicted_accuracy=float(cand.predicted), reward=float(cand.reward),
                                               result=result)
                    run = live.pop(job.key, None) or self._open_run(cand, job)  # no start event came
                    trained = self._close_run(run, trained, curve_logged=job.key in curves_logged)
                    self._save_candidate(trained)
                    self.rows_added += self.record(trained)
                    finished[cand.arch.arch_hash] = trained
                    if ev.training_done:
                        ev.training_done(done, len(jobs), result)
            finally:
                for run in live.values():  # trainings cut short (Ctrl-C, an error): their runs say so
                    run.end("KILLED")
                if self.executor is None:
                    executor.close()
        return [finished[cand.arch.arch_hash] for cand in top]

    def key(self, arch: Architecture) -> str:
        """The LDE key (and job key) of this search's training of ``arch``."""
        return f"search/{self.search_id}/{arch.arch_hash}"

    def record(self, trained: TrainedCandidate) -> int:
        """Write one training to the LDE unless its key is there already; returns rows added."""
        key = self.key(trained.arch)
        if self.store.has_keys([key]):
            return 0
        return record_training(self.store, self.dataset, trained.arch, trained.result, source="search",
                               key=key, mlflow_run_id=trained.mlflow_run_id)

    def _open_run(self, cand: Candidate, job: TrainingJob) -> TrackedRun:
        """The nested MLflow run of one full training, opened when the training starts, so that it
        shows its epochs live and lasts as long as the training."""
        ds = self.dataset
        return self.tracker.start(
            "search", f"train {ds.name} · {cand.arch.arch_hash}",
            {"dataset": ds.name, "dcn": self.characterization.dcn, "arch_hash": cand.arch.arch_hash,
             "predicted_accuracy": float(cand.predicted), **job.hparams.to_dict()},
            parent_run_id=self.parent_run_id, tags={"search_id": self.search_id, "dataset": ds.name})

    def _close_run(self, run: TrackedRun, trained: TrainedCandidate, *, curve_logged: bool) -> TrainedCandidate:
        """Log a finished training's figures on its run and end it."""
        r = trained.result
        if not curve_logged:  # no epoch events came (Ray workers send none): the curve at once
            run.log_metric_series("val_accuracy", list(r.curve))
            run.log_metric_series("train_loss", list(r.train_loss))
        run.log_metrics({"peak_accuracy": r.peak_accuracy, "test_accuracy": r.test_accuracy,
                         "predicted_accuracy": trained.predicted_accuracy,
                         "seconds": r.seconds, "params": r.params, "flops": r.flops})
        run.set_tags({"status": r.status.value, "device": r.device})
        run.end("FINISHED" if r.ok else "FAILED")
        return replace(trained, mlflow_run_id=run.run_id)

    # -- 6. export ----------------------------------------------------------------------------
    def export(self, best: TrainedCandidate) -> dict[str, str]:
        """Write the best network (architecture, weights, standalone ``model.py``) to ``out_dir``."""
        weights = best.result.state_dict
        if weights is None:  # trained by an earlier run of a resumed search: its weights are on disk
            weights = torch.load(self._candidate_path(best.arch, ".pt"), weights_only=True)
        ds = self.dataset
        with self._timed("export"):
            files = write_model_files(self.out, best.arch, ds.input_shape, ds.num_classes, weights)
        return files

    # -- the whole loop -----------------------------------------------------------------------
    def run(self) -> SearchResult:
        """All the steps, in one MLflow run; writes and returns the :class:`SearchResult`."""
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "candidates").mkdir(exist_ok=True)
        if not self.state:  # a fresh search never reuses old checkpoints
            for old in (self.out / "candidates").glob("*"):
                old.unlink()
        self.characterize()
        self.fit_predictor()
        c, ds = self.config, self.dataset
        params = {**asdict(c), "fingerprint": ds.fingerprint, "dcn": self.characterization.dcn,
                  "search_id": self.search_id, "resumed": bool(self.state), "out_dir": str(self.out.resolve())}
        with self.tracker.run("search", f"search {ds.name} · {c.strategy}", params,
                              tags={"search_id": self.search_id, "dataset": ds.name}) as parent:
            self.parent_run_id = parent.run_id
            self.propose()
            parent.log_metric_series("batch_mean_reward", list(self.proposal_summary.batch_mean_reward))
            trained = self.train(self.strategy_result.best(c.top_k))
            result = SearchResult(
                search_id=self.search_id, dataset=ds.name, fingerprint=ds.fingerprint,
                dcn=self.characterization.dcn, dcn_cached=self.characterization.cached, config=c,
                predictor_fit=self.fit, proposals=self.proposal_summary, candidates=tuple(trained),
                lde_rows_added=self.rows_added, out_dir=str(self.out), mlflow_run_id=parent.run_id)
            best = result.best
            files: dict[str, str] = {}
            if best is not None:
                files = self.export(best)
                for name in ("model.py", "architecture.json", "weights.pt"):
                    parent.log_artifact(self.out / name, "best_model")
                parent.log_metrics({"best_accuracy": best.result.peak_accuracy,
                                    "best_test_accuracy": best.result.test_accuracy})
            self.timings["total"] = time.perf_counter() - started
            result = replace(result, files=files, timings=dict(self.timings))
            _write_atomically(self.out / "summary.json", json.dumps(result.to_dict(), indent=2, default=str) + "\n")
            parent.log_dict(result.to_dict(), "summary.json")
        return result

    # -- checkpoints and candidate files --------------------------------------------------------
    def _timed(self, step: str) -> _Timer:
        return _Timer(self.timings, step)

    def _load_state(self) -> dict[str, Any]:
        path = self.out / STATE_FILE
        if not path.is_file():
            return {}
        try:
            state = torch.load(path, weights_only=True)
        except Exception:  # noqa: BLE001 - truncated or foreign: one clear line, not a traceback
            raise InvalidOptionError(f"{path} is not a readable search checkpoint; rerun without --resume "
                                     "or choose another --out") from None
        if (not isinstance(state, dict) or state.get("config") != asdict(self.config)
                or state.get("fingerprint") != self.dataset.fingerprint):
            raise InvalidOptionError(
                f"{path} belongs to another search (dataset, strategy, seed or budget differ); "
                "rerun without --resume or choose another --out")
        return state

    def _save_state(self, strategy: Any, reward: Reward) -> None:
        state = {"search_id": self.search_id, "config": asdict(self.config), "fingerprint": self.dataset.fingerprint,
                 "strategy": strategy.state_dict(), "reward": reward.state_dict()}
        with atomic_write(self.out / STATE_FILE) as partial:  # a kill never leaves half a checkpoint
            torch.save(state, partial)

    def _candidate_path(self, arch: Architecture, suffix: str) -> Path:
        return self.out / "candidates" / f"{arch.arch_hash}{suffix}"

    def _save_candidate(self, trained: TrainedCandidate) -> None:
        """The resume file of one finished training (weights first, then the record that says so)."""
        r = trained.result
        if r.state_dict is not None:
            with atomic_write(self._candidate_path(trained.arch, ".pt")) as partial:
                torch.save(r.state_dict, partial)
        entry = {**r.to_dict(), "predicted": trained.predicted_accuracy, "reward": trained.reward,
                 "rank": trained.rank, "mlflow_run_id": trained.mlflow_run_id}
        _write_atomically(self._candidate_path(trained.arch, ".json"), json.dumps(entry, default=str))

    def _load_candidate(self, cand: Candidate) -> TrainedCandidate | None:
        """The finished training of ``cand`` from a previous run of this search, if readable."""
        path = self._candidate_path(cand.arch, ".json")
        if not self.state or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
            result = TrainResult(
                status=TrainStatus(entry["status"]), arch_hash=entry["arch_hash"], dataset=entry["dataset"],
                fingerprint=entry["fingerprint"], curve=tuple(entry["curve"]), train_loss=tuple(entry["train_loss"]),
                peak_accuracy=entry["peak_accuracy"], final_accuracy=entry["final_accuracy"],
                peak_epoch=entry["peak_epoch"], seconds=entry["seconds"], device=entry["device"],
                params=entry["params"], flops=entry["flops"], seed=entry["seed"],
                hparams=Hyperparameters(**entry["hparams"]), message=entry.get("message", ""),
                test_accuracy=entry.get("test_accuracy"))
        except Exception:  # noqa: BLE001 - a damaged resume file: train that candidate again
            return None
        if result.ok and not self._candidate_path(cand.arch, ".pt").is_file():
            return None  # its weights are missing: train again
        return TrainedCandidate(rank=int(entry.get("rank", 0)), arch=cand.arch,
                                predicted_accuracy=float(entry["predicted"]), reward=float(entry["reward"]),
                                result=result, mlflow_run_id=entry.get("mlflow_run_id"))


class _Timer:
    """Adds the seconds a ``with`` block took to ``timings[step]``."""

    def __init__(self, timings: dict[str, float], step: str) -> None:
        self.timings, self.step = timings, step

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.step] = self.timings.get(self.step, 0.0) + time.perf_counter() - self.started


def _write_atomically(path: Path, text: str) -> None:
    with atomic_write(path) as partial:
        partial.write_text(text)


@dataclass(frozen=True)
class PastSearch:
    """One search as its MLflow run remembers it (``tapas searches``)."""

    search_id: str
    dataset: str
    strategy: str
    started: str  # ISO time, UTC
    status: str  # FINISHED, FAILED, KILLED or RUNNING
    best_validation_accuracy: float | None
    best_test_accuracy: float | None
    mlflow_run_id: str
    out_dir: str | None


def past_searches(limit: int | None = None) -> list[PastSearch]:
    """The searches in the tracking store, newest first (at most ``limit``)."""
    from datetime import UTC, datetime

    if limit is not None:
        check_int("limit", limit, 1)
    found = []
    for run in Tracker().runs("search"):
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        if "mlflow.parentRunId" in tags:
            continue  # a training inside a search
        found.append(PastSearch(
            search_id=tags.get("search_id", ""), dataset=params.get("dataset", tags.get("dataset", "")),
            strategy=params.get("strategy", ""),
            started=datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(timespec="seconds"),
            status=run.info.status, best_validation_accuracy=metrics.get("best_accuracy"),
            best_test_accuracy=metrics.get("best_test_accuracy"), mlflow_run_id=run.info.run_id,
            out_dir=params.get("out_dir")))
        if limit is not None and len(found) == limit:
            break
    return found


def run_search(config: SearchConfig, *, out_dir: str | Path, resume: bool = False, force: bool = False,
               lde: ExperimentStore | str | Path | None = None, executor: Executor | None = None,
               events: SearchEvents | None = None) -> SearchResult:
    """Run the TAPAS loop for one dataset and write the best network to ``out_dir``.

    ``Search(config, ...).run()``; see :class:`Search` for the arguments.

    Returns:
        The :class:`SearchResult` (also written to ``out_dir/summary.json``).
    """
    return Search(config, out_dir=out_dir, resume=resume, force=force, lde=lde, executor=executor,
                  events=events).run()


__all__ = ["PRESETS", "PastSearch", "ProposalSummary", "Search", "SearchConfig", "SearchEvents", "SearchResult",
           "TrainedCandidate", "resolve_config", "run_search"]
