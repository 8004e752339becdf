"""``tapas search``: the whole TAPAS loop for one dataset, as a small object with visible steps.

:class:`Search` runs, in order (each step a method, testable alone):

1. :meth:`~Search.characterize`: the dataset's DCN (cached in the LDE);
2. :meth:`~Search.fit_predictor`: the predictor fitted on the LDE experiments in the DCN window
   (cached in the data home for the same experiments and settings);
3. rounds, until ``trainings`` full trainings are spent, ``top_k`` per round:

   a. :meth:`~Search.propose`: the strategy proposes its share of the ``budget``, scored by the
      predictor (the first round's share, then each later round's);
   b. :meth:`~Search.select`: the round's picks, by an acquisition rule on the predicted reward
      and the predictor's spread, plus a diversity rule (:mod:`tapaskit.search.acquisition`);
      never a network this search trained already;
   c. :meth:`~Search.screen` (``screen`` > 1): successive halving: ``screen * top_k`` picks
      train on a short schedule (fewer epochs, fewer samples), the best third by validation
      accuracy go on, until ``top_k`` are left;
   d. :meth:`~Search.train`: the survivors are fully trained through an
      :class:`~tapaskit.training.Executor` (local processes or Ray), each recorded (LDE, source
      ``search``, and MLflow) as soon as it arrives, and evaluated once on the test split;
   e. :meth:`~Search.refit`: the predictor learns from the target's own new experiments
      (weighted, see :func:`~tapaskit.predictor.cache.weight_target_rows`); the strategy
      continues on the refitted reward, its history re-scored;

4. :meth:`~Search.final` (``final_epochs``): the best network by validation accuracy is trained
   again for ``final_epochs``; its weights are the exported model;
5. :meth:`~Search.export`: the model goes to ``out_dir`` with a standalone ``model.py``.

Honest figures: validation accuracy chooses the epoch, the round's survivors and the best
network; the test split (the dataset's official one, or a fixed 20 %) is never read by any of
these choices, only evaluated once per full training, so the best network's test accuracy is a
test figure.

:meth:`Search.run` does it all and returns a frozen :class:`SearchResult`, which the CLI prints
and ``--json`` serialises (``summary.json`` in ``out_dir`` holds the same).

Resuming: the strategy's state and every round's picks are checkpointed to
``out_dir/search_state.pt``, and each finished training to ``out_dir/candidates/`` (written
atomically). ``resume=True`` continues from the checkpoint and skips finished trainings; LDE rows
carry the key ``search/<search id>/<arch hash>`` (``.../screen<rung>``, ``.../final`` for the
other stages), so nothing is written twice.

Example:
    >>> from tapaskit.workflows.search import SearchConfig, run_search
    >>> result = run_search(SearchConfig("digits", preset="quick"), out_dir="best")  # doctest: +SKIP
    >>> result.best.result.peak_accuracy                                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
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
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError
from tapaskit.paths import atomic_write
from tapaskit.predictor import DEFAULT_PREDICTOR, DEFAULT_TAU, architecture_frame, make_predictor, select_training_set
from tapaskit.predictor.cache import TARGET_WEIGHT, PredictorFit, fit_predictor
from tapaskit.predictor.holdout import regime_of
from tapaskit.predictor.proxies import reads_proxies
from tapaskit.search import STRATEGIES, Candidate, Reward, StrategyResult
from tapaskit.search.acquisition import ACQUISITIONS, DEFAULT_BETA, acquisition_scores, select_diverse
from tapaskit.space.architecture import Architecture
from tapaskit.space.compact import compact_form
from tapaskit.space.export import write_model_files
from tapaskit.space.shapes import infer_shapes
from tapaskit.store import open_lde, record_training
from tapaskit.tracking import TrackedRun, Tracker
from tapaskit.training import Executor, Hyperparameters, LocalExecutor, TrainingEvents, TrainingJob, TrainResult
from tapaskit.training.devices import resolve_device
from tapaskit.training.trainer import TrainStatus
from tapaskit.training.zero_cost import PROXY_NAMES, ProxyScores, compute_proxies, proxy_batch
from tapaskit.workflows.characterize import Characterization, characterize_dataset

STATE_FILE = "search_state.pt"
CHECKPOINT_EVERY = 10  # batches between checkpoints of the strategy's state
SHORTLIST = 64  # networks per round whose spread is asked for (the best by reward)
REFERENCE_NETWORKS = 300  # fitted-on networks whose spread sets the blind-spot guard's reference
SCREEN_KEEP = 3  # successive halving keeps the best third at every rung
MIN_SCREEN_SAMPLES = 500  # a screening rung trains on at least this many samples


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
    trainings: int | None = None  # full trainings in all (rounds of top_k)
    screen: int | None = None  # screening factor F (0 or 1: no screening)
    max_train: int | None = None  # training samples of a full training (0: all)
    final_epochs: int | None = None  # retrain the best for this many epochs (0: no final training)
    acquisition: str = "ucb"
    beta: float = DEFAULT_BETA
    register: str | None = None  # the model registry's name for the found model (None: per dataset)
    blind_spot: float = 1.0  # weight of the blind-spot guard on the reward (0: none; see search/reward.py)


#: Presets: ``quick`` finishes in minutes on a laptop CPU (small datasets such as digits); ``cpu`` is
#: sized for full-size datasets (Fashion-MNIST's 60,000 images) on a 2-core CPU: 2 rounds of 2 full
#: trainings on at most 20,000 samples, each round screening 6 candidates on a third of the epochs
#: and samples first (about half an hour on 2 idle cores); ``default`` and ``thorough`` want a GPU.
PRESETS: dict[str, dict[str, int]] = {
    "quick": {"budget": 2_000, "top_k": 3, "trainings": 6, "screen": 0, "epochs": 5, "max_train": 0,
              "final_epochs": 0, "max_params": 500_000, "max_flops": 20_000_000},
    "cpu": {"budget": 2_000, "top_k": 2, "trainings": 4, "screen": 3, "epochs": 5, "max_train": 20_000,
            "final_epochs": 0, "max_params": 300_000, "max_flops": 10_000_000},
    "default": {"budget": 10_000, "top_k": 5, "trainings": 15, "screen": 3, "epochs": 10, "max_train": 0,
                "final_epochs": 20, "max_params": 2_000_000, "max_flops": 100_000_000},
    "thorough": {"budget": 30_000, "top_k": 10, "trainings": 40, "screen": 3, "epochs": 20, "max_train": 0,
                 "final_epochs": 40, "max_params": 5_000_000, "max_flops": 400_000_000},
}


def resolve_config(config: SearchConfig) -> SearchConfig:
    """Fill ``None`` fields from the preset and check every value (before any work is done)."""
    check_choice("preset", config.preset, tuple(PRESETS))
    check_choice("strategy", config.strategy, tuple(STRATEGIES))
    check_choice("acquisition", config.acquisition, ACQUISITIONS)
    make_predictor(config.predictor)  # an unknown predictor fails here, not after the characterisation
    preset = PRESETS[config.preset]
    filled = replace(config, **{k: v for k, v in preset.items() if getattr(config, k) is None})
    for name in ("budget", "top_k", "epochs", "max_params", "max_flops", "trainings"):
        check_int(name.replace("_", "-"), getattr(filled, name))
    for name in ("screen", "max_train", "final_epochs"):
        check_int(name.replace("_", "-"), getattr(filled, name), 0)
    if filled.top_k > filled.budget:
        raise InvalidOptionError(f"top-k ({filled.top_k}) cannot exceed the budget ({filled.budget})")
    if filled.trainings < filled.top_k:
        filled = replace(filled, top_k=filled.trainings)  # one round of every training asked for
    check_number("tau", filled.tau, 0.0)
    check_number("beta", filled.beta, 0.0)
    check_number("blind-spot", filled.blind_spot, 0.0)
    check_int("seed", filled.seed, minimum=0)
    if filled.device is not None:
        resolve_device(filled.device)  # before the probe and the predictor fit, not at the trainings
    if filled.register is not None:
        from tapaskit.workflows.mlflow_model import check_model_name

        check_model_name(filled.register)
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
    """One training of the search: a screening rung's, a full one, or the final one.

    ``rank`` is the place in its round's picks by acquisition value (1 = first); ``stage`` is
    ``screen1``, ``screen2``... (short schedules), ``full`` or ``final``.
    """

    rank: int
    arch: Architecture
    predicted_accuracy: float
    reward: float
    result: TrainResult
    mlflow_run_id: str | None = None
    round: int = 1
    stage: str = "full"
    predicted_std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {"rank": self.rank, "round": self.round, "stage": self.stage, "arch_hash": self.arch.arch_hash,
                "compact": compact_form(self.arch), "predicted_accuracy": self.predicted_accuracy,
                "predicted_std": self.predicted_std, "reward": self.reward,
                "real_peak_accuracy": r.peak_accuracy, "real_final_accuracy": r.final_accuracy,
                "test_accuracy": r.test_accuracy, "status": r.status.value, "params": r.params,
                "flops": r.flops, "epochs": r.hparams.epochs, "max_train": r.hparams.max_train,
                "train_seconds": r.seconds, "device": r.device, "curve": list(r.curve),
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
    guard_reference_std: float | None = None  # the blind-spot guard's reference spread (None: no guard)
    guarded_share: float | None = None  # share of distinct proposals the guard took reward from

    @property
    def beats_random(self) -> bool | None:
        if self.random_last_quarter_mean_reward is None:
            return None
        return self.last_quarter_mean_reward > self.random_last_quarter_mean_reward

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batch_mean_reward": [round(r, 5) for r in self.batch_mean_reward],
                "beats_random": self.beats_random}


@dataclass(frozen=True)
class RoundSummary:
    """One round: how far the strategy had proposed, what was trained, how wrong the predictor was.

    ``predictor_mae`` is the mean absolute difference between the predicted and the measured
    validation accuracy of the round's full trainings, with the predictor of that round (fitted
    before it); it should shrink as the predictor learns the target's own experiments.
    """

    round: int
    proposals: int
    predictor_fit: PredictorFit
    screened: int
    trained: int
    predictor_mae: float | None
    best_validation_accuracy: float | None  # the best full training so far
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "predictor_fit": self.predictor_fit.to_dict()}


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
    candidates: tuple[TrainedCandidate, ...]  # the full trainings, round by round
    lde_rows_added: int
    out_dir: str
    files: dict[str, str] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, and "total"
    rounds: tuple[RoundSummary, ...] = ()
    screened: tuple[TrainedCandidate, ...] = ()  # the screening rungs' short trainings
    final: TrainedCandidate | None = None  # the best network trained again (final_epochs)

    @property
    def best(self) -> TrainedCandidate | None:
        """The full training with the best validation accuracy among those that trained well."""
        ok = [c for c in self.candidates if c.result.ok and c.result.peak_accuracy is not None]
        return max(ok, key=lambda c: c.result.peak_accuracy) if ok else None  # type: ignore[arg-type, return-value]

    @property
    def model(self) -> TrainedCandidate | None:
        """The exported model: the final training when there is one that trained, else :attr:`best`."""
        if self.final is not None and self.final.result.ok:
            return self.final
        return self.best

    def to_dict(self) -> dict[str, Any]:
        best, model = self.best, self.model
        return {
            "search_id": self.search_id, "dataset": self.dataset, "fingerprint": self.fingerprint,
            "dcn": self.dcn, "dcn_cached": self.dcn_cached, "config": asdict(self.config),
            "predictor_fit": self.predictor_fit.to_dict(), "proposals": self.proposals.to_dict(),
            "rounds": [r.to_dict() for r in self.rounds],
            "candidates": [c.to_dict() for c in self.candidates],
            "screened": [c.to_dict() for c in self.screened],
            "final": None if self.final is None else self.final.to_dict(),
            "best": None if best is None else {"arch_hash": best.arch.arch_hash, "compact": compact_form(best.arch),
                                               "round": best.round, "rank": best.rank,
                                               "peak_accuracy": best.result.peak_accuracy,
                                               "test_accuracy": best.result.test_accuracy,
                                               "predicted_accuracy": best.predicted_accuracy},
            "model": None if model is None else {"stage": model.stage, "arch_hash": model.arch.arch_hash,
                                                 "epochs": model.result.hparams.epochs,
                                                 "validation_accuracy": model.result.peak_accuracy,
                                                 "test_accuracy": model.result.test_accuracy},
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
        executor: where the trainings run; None is a :class:`~tapaskit.training.LocalExecutor`
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
        self.state = self._load_state() if resume else {}  # a refused checkpoint creates no LDE file
        self.store = open_lde(lde)
        self.search_id: str = self.state.get("search_id") or uuid.uuid4().hex[:12]
        self.tracker = Tracker()
        self.parent_run_id: str | None = None
        self.timings: dict[str, float] = {}
        self.rows_added = 0
        self.round_picks: list[dict[str, Any]] = list(self.state.get("rounds", []))  # checkpointed per round
        self.tried: set[str] = set()  # every network this search trained, at any stage
        self.full: list[TrainedCandidate] = []  # the full trainings so far
        self.screened: list[TrainedCandidate] = []  # the screening rungs' trainings so far
        self.strategy: Any = None
        self.reward: Reward | None = None
        self._reference_std: tuple[Any, float] | None = None  # (fit key, median spread)
        self._proxy_batch: Any = None  # the dataset's proxy minibatch, drawn once

    @property
    def rounds(self) -> int:
        """Rounds of ``top_k`` full trainings that spend ``trainings``."""
        return math.ceil(self.config.trainings / self.config.top_k)

    # -- 1. characterize ----------------------------------------------------------------------
    def characterize(self) -> Characterization:
        """The dataset's DCN (from the LDE when it was computed before)."""
        self.events.say("characterizing the dataset")
        with self._timed("characterize"):
            self.characterization = characterize_dataset(self.dataset, lde=self.store, seed=self.config.seed)
        return self.characterization

    # -- 2. fit the predictor -----------------------------------------------------------------
    def fit_predictor(self) -> PredictorFit:
        """The predictor fitted on the DCN window (or loaded from the cache), for the first round."""
        dcn = self.characterization.dcn
        self.events.say(f"fitting the {self.config.predictor} predictor on experiments near DCN {dcn:.3f}")
        with self._timed("fit_predictor"):
            self.predictor, self.fit = fit_predictor(self.store, dcn, name=self.config.predictor,
                                                     tau=self.config.tau, seed=self.config.seed,
                                                     target=self.dataset.fingerprint, regime=self.regime)
        self.first_fit = self.fit
        return self.fit

    def refit(self) -> PredictorFit:
        """Refit the predictor with the target's own experiments in (weighted), between rounds."""
        dcn = self.characterization.dcn
        self.events.say("refitting the predictor with this dataset's new experiments")
        with self._timed("fit_predictor"):
            self.predictor, self.fit = fit_predictor(self.store, dcn, name=self.config.predictor,
                                                     tau=self.config.tau, seed=self.config.seed,
                                                     target=self.dataset.fingerprint, target_weight=TARGET_WEIGHT,
                                                     regime=self.regime)
        return self.fit

    def train_samples(self) -> int:
        """Samples a full training of this search trains on (the trainer's split, capped by max_train)."""
        hparams = self.full_hparams()
        outside_test = self.dataset.num_samples - len(self.dataset.test_indices())
        samples = round(outside_test * (1.0 - hparams.val_fraction))
        return min(samples, hparams.max_train) if hparams.max_train else samples

    @property
    def regime(self) -> str:
        """The regime of this search's full trainings (the predictor's window is drawn from it first)."""
        _, height, width = self.dataset.input_shape
        return regime_of(height, width, self.train_samples())

    def _frame(self, archs: list[Architecture]) -> Any:
        ds, c = self.dataset, self.config
        return architecture_frame(archs, input_shape=ds.input_shape, num_classes=ds.num_classes,
                                  dcn=self.characterization.dcn, dataset_name=ds.name, epochs=c.epochs,
                                  train_samples=self.train_samples())

    def score(self, archs: list[Architecture]) -> np.ndarray:
        """Predicted accuracies of ``archs`` on this dataset, in [0, 1]."""
        return np.clip(self.predictor.predict(self._frame(archs)), 0.0, 1.0)

    def score_with_std(self, archs: list[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracies of ``archs`` and the predictor's standard deviation of each."""
        mean, std = self.predictor.predict(self._frame(archs), return_std=True)
        return np.clip(mean, 0.0, 1.0), np.asarray(std, dtype=np.float64)

    def reference_std(self) -> float:
        """The predictor's median spread on (at most 300 of) the networks it was fitted on that fit
        this dataset's input, put in its context: what the blind-spot guard counts as "seen before"."""
        key = self.fit.key or id(self.predictor)
        if self._reference_std is None or self._reference_std[0] != key:
            window = select_training_set(self.store, self.characterization.dcn, self.fit.tau_requested,
                                         regime=self.regime).frame
            texts = window["arch_json"].astype(str).drop_duplicates()
            ds = self.dataset
            archs: list[Architecture] = []
            for text in texts.sample(frac=1.0, random_state=self.config.seed):
                arch = Architecture.from_json(text)
                try:  # trained at another resolution, a network may not fit this input
                    infer_shapes(arch, ds.input_shape, ds.num_classes)
                except InvalidArchitectureError:
                    continue
                archs.append(arch)
                if len(archs) == REFERENCE_NETWORKS:
                    break
            # none fits (a window of other resolutions only): the guard is then κ σ itself
            median = float(np.median(self.score_with_std(archs)[1])) if archs else 0.0
            self._reference_std = (key, median)
        return self._reference_std[1]

    def _reward(self) -> Reward:
        c, ds = self.config, self.dataset
        guard = c.blind_spot
        return Reward(self.score_with_std if guard else self.score, input_shape=ds.input_shape,
                      num_classes=ds.num_classes, max_params=c.max_params, max_flops=c.max_flops,
                      version=self.fit.key, blind_spot=guard, reference_std=self.reference_std() if guard else 0.0)

    # -- 3a. propose --------------------------------------------------------------------------
    def propose(self, budget: int | None = None) -> StrategyResult:
        """Run the strategy until ``budget`` proposals in all (default: the config's whole budget),
        on the current predictor, checkpointing its state as it goes."""
        c, ds = self.config, self.dataset
        budget = c.budget if budget is None else budget
        self.reward = reward = self._reward()
        if self.strategy is None:
            self.strategy = STRATEGIES[c.strategy](seed=c.seed)
            if self.state.get("strategy"):
                self.strategy.load_state_dict(self.state["strategy"])
                if self.state["strategy"].get("scored_with") == reward.version:
                    reward.load_state_dict(self.state["reward"])
        strategy = self.strategy
        batches = [0]

        def checkpoint(strat: Any, progress: Any) -> None:
            batches[0] += 1
            if self.events.search:
                self.events.search(progress)
            if batches[0] % CHECKPOINT_EVERY == 0 or progress.step >= budget:
                self._save_state()

        self.events.say(f"searching with {c.strategy} ({budget - len(strategy.history)} proposals)")
        with self._timed("propose"):
            self.strategy_result = strategy.run(reward, ds.input_shape, ds.num_classes, budget, callback=checkpoint)
            self._save_state()
        return self.strategy_result

    def _summarise_proposals(self, result: StrategyResult) -> ProposalSummary:
        """The strategy's figures, with random sampling at the same budget as the yardstick."""
        c, ds = self.config, self.dataset
        theirs = None
        if c.strategy != "random":
            random_result = STRATEGIES["random"](seed=c.seed).run(self._reward(), ds.input_shape, ds.num_classes,
                                                                  len(result.history))
            theirs = float(random_result.mean_reward(last=0.25))
        return ProposalSummary(
            strategy=c.strategy, proposals=len(result.history), queries=result.queries,
            distinct=result.distinct_count(), seconds=result.seconds,
            best_predicted_reward=float(max(x.reward for x in result.history)),
            batch_mean_reward=tuple(float(r) for r in result.batch_rewards),
            last_quarter_mean_reward=float(result.mean_reward(last=0.25)), random_last_quarter_mean_reward=theirs,
            guard_reference_std=self.reference_std() if c.blind_spot else None,
            guarded_share=None if self.reward is None else self.reward.guarded_share)

    # -- 3b. select ---------------------------------------------------------------------------
    def select(self, n: int) -> list[tuple[Candidate, float | None]]:
        """The round's ``n`` picks among the proposals never trained here: the best ``SHORTLIST``
        by reward, ordered by the acquisition rule, near-copies skipped; with each its spread."""
        c = self.config
        best_by_hash: dict[str, Candidate] = {}
        for cand in self.strategy.history:
            h = cand.arch.arch_hash
            if h in self.tried or not math.isfinite(cand.predicted):
                continue
            if h not in best_by_hash or cand.reward > best_by_hash[h].reward:
                best_by_hash[h] = cand
        ranked = sorted(best_by_hash.values(), key=lambda x: (-x.reward, x.step))[:max(SHORTLIST, 4 * n)]
        if not ranked:
            return []
        ranked, sigma = self.rescore_shortlist(ranked)
        mu = np.array([x.reward for x in ranked])
        sigma = sigma if c.acquisition != "greedy" else None
        measured = [t.result.peak_accuracy for t in self.full if t.result.ok and t.result.peak_accuracy is not None]
        scores = acquisition_scores(mu, sigma, rule=c.acquisition, beta=c.beta,
                                    best=max(measured) if measured else None)
        picked = select_diverse([x.arch for x in ranked], scores, n)
        return [(ranked[i], None if sigma is None else float(sigma[i])) for i in picked]

    def rescore_shortlist(self, ranked: list[Candidate]) -> tuple[list[Candidate], np.ndarray | None]:
        """The shortlist scored again, with each network's zero-cost proxies on this dataset as
        inputs when the predictor learned from proxies (its reward and prediction updated); and
        the predictor's spread of each (None when it gives none).

        Proxies cost tens of milliseconds a network (one minibatch through it at initialisation),
        so the strategy's thousands of proposals are scored without them and only the shortlist
        with them (docs/search.md, "Zero-cost proxies").
        """
        archs = [x.arch for x in ranked]
        frame = self._frame(archs)
        columns = self.shortlist_proxies(archs)
        if columns is not None:
            frame = frame.assign(**columns)
        try:
            mean, std = self.predictor.predict(frame, return_std=True)
        except TypeError:  # a predictor without return_std
            mean, std = self.predictor.predict(frame), None
        if columns is not None:
            mean = np.clip(mean, 0.0, 1.0)
            ranked = [replace(x, reward=x.reward - x.predicted + float(m), predicted=float(m))
                      for x, m in zip(ranked, mean)]
        return ranked, None if std is None else np.asarray(std, dtype=np.float64)

    def shortlist_proxies(self, archs: list[Architecture]) -> dict[str, np.ndarray] | None:
        """The zero-cost proxies of ``archs`` on this dataset as predictor input columns (NaN where
        one failed); None when the predictor uses no proxies."""
        if not reads_proxies(self.predictor):
            return None
        if self._proxy_batch is None:
            self._proxy_batch = proxy_batch(self.dataset)
        with self._timed("proxies"):
            scores = [compute_proxies(arch, batch=self._proxy_batch).values() for arch in archs]
        return {f"proxy_{name}": np.array([np.nan if row[name] is None else row[name] for row in scores])
                for name in PROXY_NAMES}

    # -- 3c. screen ---------------------------------------------------------------------------
    def screen_rungs(self) -> int:
        """Successive-halving rungs before the full trainings (0 without screening)."""
        f = self.config.screen
        return 0 if f <= 1 else max(1, round(math.log(f, SCREEN_KEEP)))

    def rung_hparams(self, rung: int) -> Hyperparameters:
        """The short schedule of screening rung ``rung`` (1-based): ``3^-(rungs - rung + 1)`` of the
        full schedule's epochs and training samples (at least 1 epoch and 500 samples)."""
        c, ds = self.config, self.dataset
        share = SCREEN_KEEP ** -(self.screen_rungs() - rung + 1)
        full = self.full_hparams()
        samples = full.max_train or int(ds.num_samples * (1 - full.val_fraction))
        return Hyperparameters(epochs=max(1, round(c.epochs * share)),
                               max_train=max(MIN_SCREEN_SAMPLES, int(samples * share)))

    def full_hparams(self) -> Hyperparameters:
        c = self.config
        return Hyperparameters(epochs=c.epochs, max_train=c.max_train or None)

    def screen(self, picks: list[tuple[Candidate, float | None]], keep: int,
               round_index: int) -> list[tuple[Candidate, float | None]]:
        """Train ``picks`` on short schedules, rung by rung, keeping the best third by validation
        accuracy each time (at least ``keep``); returns the ``keep`` survivors."""
        alive = list(picks)
        for rung in range(1, self.screen_rungs() + 1):
            if len(alive) <= keep:
                break
            hparams = self.rung_hparams(rung)
            self.events.say(f"screening {len(alive)} candidates ({hparams.epochs} epochs on "
                            f"{hparams.max_train} samples)")
            trained = self.train(alive, stage=f"screen{rung}", hparams=hparams, round_index=round_index)
            self.screened.extend(trained)
            accuracy = {t.arch.arch_hash: (t.result.peak_accuracy if t.result.ok and t.result.peak_accuracy
                                           is not None else -1.0) for t in trained}
            survivors = max(keep, math.ceil(len(alive) / SCREEN_KEEP))
            alive = sorted(alive, key=lambda p: -accuracy[p[0].arch.arch_hash])[:survivors]
        return alive[:keep]

    # -- 3d. train (recording each result as it arrives) ----------------------------------------
    def train(self, picks: list[tuple[Candidate, float | None]], *, stage: str = "full",
              hparams: Hyperparameters | None = None, round_index: int = 1) -> list[TrainedCandidate]:
        """Train ``picks`` (skipping those a previous run finished), recording each on arrival.

        Full and final trainings are evaluated once on the test split; screening rungs are not.

        Returns:
            One :class:`TrainedCandidate` per pick, in ``picks``' order.
        """
        c = self.config
        hparams = hparams or self.full_hparams()
        top = [cand for cand, _ in picks]
        std = {cand.arch.arch_hash: s for cand, s in picks}
        for cand in top:
            self.tried.add(cand.arch.arch_hash)
        finished = {cand.arch.arch_hash: self._load_candidate(cand, stage) for cand in top}
        finished = {h: t for h, t in finished.items() if t is not None}
        rank = {cand.arch.arch_hash: i + 1 for i, cand in enumerate(top)}
        by_hash = {cand.arch.arch_hash: cand for cand in top}
        test = not stage.startswith("screen")  # no selection ever reads the test split
        jobs = [TrainingJob(key=self.key(cand.arch, stage), arch=cand.arch, dataset=self.dataset, hparams=hparams,
                            seed=c.seed, keep_weights=test, device=c.device, evaluate_test=test)
                for cand in top if cand.arch.arch_hash not in finished]
        self.rows_added += sum(self.record(t) for t in finished.values())  # a resumed run may have missed some
        if jobs and stage == "full":
            self.events.say(f"round {round_index}: fully training {len(jobs)} candidates ({hparams.epochs} epochs each)")
        ev = self.events
        order = {job.key: i for i, job in enumerate(jobs)}
        live: dict[str, TrackedRun] = {}  # each training's MLflow run, open while it trains
        curves_logged: set[str] = set()

        def started(job: TrainingJob) -> None:
            live[job.key] = self._open_run(by_hash[job.arch.arch_hash], job, stage)
            if ev.training_started:
                ev.training_started(order[job.key], len(jobs), job.arch)

        def epoch(job: TrainingJob, e: int, loss: float, acc: float) -> None:
            if job.key in live:
                live[job.key].log_metrics({"val_accuracy": acc, "train_loss": loss}, step=e)
                curves_logged.add(job.key)
            if ev.training_epoch:
                ev.training_epoch(job.arch, e, loss, acc)

        executor = self.executor or self._own_executor()
        with self._timed("train" if stage != "final" else "final"):
            try:
                for done, (job, result) in enumerate(executor.run(jobs, TrainingEvents(started=started, epoch=epoch))):
                    cand = by_hash[job.arch.arch_hash]
                    trained = TrainedCandidate(rank=rank[cand.arch.arch_hash], arch=cand.arch,
                                               predicted_accuracy=float(cand.predicted), reward=float(cand.reward),
                                               result=result, round=round_index, stage=stage,
                                               predicted_std=std[cand.arch.arch_hash])
                    run = live.pop(job.key, None) or self._open_run(cand, job, stage)  # no start event came
                    trained = self._close_run(run, trained, curve_logged=job.key in curves_logged)
                    self._save_candidate(trained)
                    self.rows_added += self.record(trained)
                    finished[cand.arch.arch_hash] = trained
                    if ev.training_done:
                        ev.training_done(done, len(jobs), result)
            finally:
                for run in live.values():  # trainings cut short (Ctrl-C, an error): their runs say so
                    run.end("KILLED")
        return [finished[cand.arch.arch_hash] for cand in top]

    def _own_executor(self) -> Executor:
        if getattr(self, "_executor", None) is None:
            self._executor = LocalExecutor(device=self.config.device)
        return self._executor

    def key(self, arch: Architecture, stage: str = "full") -> str:
        """The LDE key (and job key) of this search's training of ``arch`` at ``stage``."""
        base = f"search/{self.search_id}/{arch.arch_hash}"
        return base if stage == "full" else f"{base}/{stage}"

    def record(self, trained: TrainedCandidate) -> int:
        """Write one training to the LDE unless its key is there already; returns rows added."""
        key = self.key(trained.arch, trained.stage)
        if self.store.has_keys([key]):
            return 0
        return record_training(self.store, self.dataset, trained.arch, trained.result, source="search",
                               key=key, mlflow_run_id=trained.mlflow_run_id)

    def _open_run(self, cand: Candidate, job: TrainingJob, stage: str) -> TrackedRun:
        """The nested MLflow run of one training, opened when the training starts, so that it
        shows its epochs live and lasts as long as the training."""
        ds = self.dataset
        what = "train" if stage == "full" else stage
        run = self.tracker.start(
            "search", f"{what} {ds.name} · {compact_form(cand.arch)}",
            {"dataset": ds.name, "dcn": self.characterization.dcn, "arch_hash": cand.arch.arch_hash,
             "compact": compact_form(cand.arch), "stage": stage,
             "predicted_accuracy": float(cand.predicted), **job.hparams.to_dict()},
            parent_run_id=self.parent_run_id, tags={"search_id": self.search_id, "dataset": ds.name, "stage": stage})
        run.log_dataset(ds.name, ds.fingerprint, ds.source, {"samples": ds.num_samples,
                                                              "input_shape": list(ds.input_shape),
                                                              "classes": ds.num_classes})
        return run

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

    # -- 4. final training ----------------------------------------------------------------------
    def final(self, best: TrainedCandidate) -> TrainedCandidate:
        """Train the best network again for ``final_epochs`` (the exported model, test-evaluated once)."""
        c = self.config
        hparams = replace(self.full_hparams(), epochs=c.final_epochs)
        self.events.say(f"final training of {best.arch.arch_hash} ({c.final_epochs} epochs)")
        cand = Candidate(step=-1, arch=best.arch, reward=best.reward, predicted=best.predicted_accuracy,
                         params=best.result.params, flops=best.result.flops)
        return self.train([(cand, best.predicted_std)], stage="final", hparams=hparams, round_index=best.round)[0]

    # -- 5. export ----------------------------------------------------------------------------
    def export(self, best: TrainedCandidate) -> dict[str, str]:
        """Write the model (architecture, weights, standalone ``model.py``) to ``out_dir``."""
        weights = best.result.state_dict
        if weights is None:  # trained by an earlier run of a resumed search: its weights are on disk
            weights = torch.load(self._candidate_path(best.arch, best.stage, ".pt"), weights_only=True)
        ds = self.dataset
        with self._timed("export"):
            files = write_model_files(self.out, best.arch, ds.input_shape, ds.num_classes, weights)
        return files

    # -- the whole loop -----------------------------------------------------------------------
    def run_rounds(self, parent: TrackedRun | None = None) -> list[RoundSummary]:
        """Propose, select, screen, train and refit, round after round, until ``trainings`` are spent."""
        c = self.config
        summaries: list[RoundSummary] = []
        per_round = math.ceil(c.budget / self.rounds)
        for index in range(1, self.rounds + 1):
            started = time.perf_counter()
            n = min(c.top_k, c.trainings - len(self.full))
            if index > 1:
                self.refit()
            fit = self.fit
            stored = self.round_picks[index - 1] if index <= len(self.round_picks) else None
            if stored is None:
                self.propose(min(c.budget, per_round * index))
                keep = n * c.screen if self.screen_rungs() else n
                picks = self.select(keep)
                self.round_picks.append({"picks": [[cand.to_dict(), s] for cand, s in picks]})
                self._save_state()
            else:
                if self.strategy is None:  # resumed: the strategy's state continues where it stopped
                    self.propose(len(self.state["strategy"]["history"]))
                picks = [(Candidate.from_dict(cand), s) for cand, s in stored["picks"]]
            if not picks:
                break
            if self.screen_rungs():
                picks = self.screen(picks, n, index)
            trained = self.train(picks, round_index=index)
            self.full.extend(trained)
            errors = [abs(t.predicted_accuracy - t.result.peak_accuracy) for t in trained
                      if t.result.ok and t.result.peak_accuracy is not None]
            measured = [t.result.peak_accuracy for t in self.full if t.result.ok and t.result.peak_accuracy is not None]
            summary = RoundSummary(
                round=index, proposals=len(self.strategy.history), predictor_fit=fit,
                screened=sum(1 for t in self.screened if t.round == index), trained=len(trained),
                predictor_mae=float(np.mean(errors)) if errors else None,
                best_validation_accuracy=max(measured) if measured else None,
                seconds=time.perf_counter() - started)
            summaries.append(summary)
            if parent is not None:
                parent.log_metrics({"round_predictor_mae": summary.predictor_mae,
                                    "round_best_validation_accuracy": summary.best_validation_accuracy}, step=index)
        return summaries

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
                  "tau_used": self.fit.tau_used, "window_datasets": ", ".join(self.fit.datasets)[:500],
                  "search_id": self.search_id, "resumed": bool(self.state), "out_dir": str(self.out.resolve())}
        try:
            with self.tracker.run("search", f"search {ds.name} · {c.strategy}", params,
                                  tags={"search_id": self.search_id, "dataset": ds.name}) as parent:
                self.parent_run_id = parent.run_id
                parent.log_dataset(ds.name, ds.fingerprint, ds.source,
                                   {"samples": ds.num_samples, "input_shape": list(ds.input_shape),
                                    "classes": ds.num_classes, "official_test_set": ds.has_official_test})
                rounds = self.run_rounds(parent)
                proposals = self._summarise_proposals(self.strategy.result(queries=self.reward.queries))
                parent.log_metric_series("batch_mean_reward", list(proposals.batch_mean_reward))
                result = SearchResult(
                    search_id=self.search_id, dataset=ds.name, fingerprint=ds.fingerprint,
                    dcn=self.characterization.dcn, dcn_cached=self.characterization.cached, config=c,
                    predictor_fit=self.first_fit, proposals=proposals, candidates=tuple(self.full),
                    lde_rows_added=self.rows_added, out_dir=str(self.out), mlflow_run_id=parent.run_id,
                    rounds=tuple(rounds), screened=tuple(self.screened))
                best = result.best
                if best is not None and c.final_epochs:
                    result = replace(result, final=self.final(best), lde_rows_added=self.rows_added)
                files: dict[str, str] = {}
                model = result.model
                if model is not None:
                    files = self.export(model)
                    for name in ("model.py", "architecture.json", "weights.pt", "model.onnx"):
                        if (self.out / name).exists():
                            parent.log_artifact(self.out / name, "best_model")
                    parent.log_metrics({"best_accuracy": best.result.peak_accuracy if best else None,
                                        "best_test_accuracy": model.result.test_accuracy})
                    parent.set_tags({"best_arch": compact_form(model.arch)[:250]})
                    files.update(self._log_model(parent, model))
                files.update(self._plots(result, parent))
                self.timings["total"] = time.perf_counter() - started
                result = replace(result, files=files, timings=dict(self.timings))
                _write_atomically(self.out / "summary.json", json.dumps(result.to_dict(), indent=2, default=str) + "\n")
                parent.log_dict(result.to_dict(), "summary.json")
        finally:
            if getattr(self, "_executor", None) is not None:
                self._executor.close()
                self._executor = None
        return result

    def _log_model(self, parent: TrackedRun, model: TrainedCandidate) -> dict[str, str]:
        """The exported model as an MLflow model, registered (``mlflow.pyfunc.load_model`` loads it)."""
        from tapaskit.space.export import load_standalone
        from tapaskit.workflows.mlflow_model import default_model_name, log_found_model

        ds = self.dataset
        with self._timed("log_model"):
            logged = log_found_model(parent, load_standalone(self.out), ds.x[:8],
                                     registered_name=self.config.register or default_model_name(ds.name),
                                     tags={"architecture": compact_form(model.arch)[:250],
                                           "validation_accuracy": model.result.peak_accuracy,
                                           "test_accuracy": model.result.test_accuracy})
        return {} if logged is None else {"mlflow_model": logged.registry_uri or logged.model_uri}

    def _plots(self, result: SearchResult, parent: TrackedRun) -> dict[str, str]:
        """Search progress, predicted against real accuracy, and accuracy against size with the
        Pareto front: PNGs in ``out_dir/plots`` and on the MLflow run."""
        from tapaskit.evaluation.plots import (
            pareto_figure,
            predicted_vs_real_figure,
            save_figure,
            search_progress_figure,
        )

        files: dict[str, str] = {}
        folder = self.out / "plots"
        p = result.proposals
        batch = max(1, getattr(self.strategy, "batch_size", 32))
        starts = [math.ceil(r.proposals / batch) for r in result.rounds[:-1]]
        best = [r.best_validation_accuracy for r in result.rounds]
        figures = {"search_progress": search_progress_figure(
            p.batch_mean_reward, random_rewards=p.random_last_quarter_mean_reward, round_starts=starts or None,
            round_best=best if len(best) > 1 and None not in best else None,
            title=f"search {result.dataset} · {p.strategy}")}
        ok = [c for c in result.candidates if c.result.ok and c.result.peak_accuracy is not None]
        if len(ok) >= 2:
            figures["predicted_vs_real"] = predicted_vs_real_figure(
                [c.result.peak_accuracy for c in ok], [c.predicted_accuracy for c in ok],
                groups=[f"round {c.round}" for c in ok], title="predicted and real validation accuracy")
            figures["pareto"] = pareto_figure(
                [c.result.peak_accuracy for c in ok], [c.result.params for c in ok], [c.result.flops for c in ok],
                accuracy_label="validation accuracy", title="accuracy against size")
        with self._timed("plots"):
            for name, figure in figures.items():
                path = save_figure(figure, folder / f"{name}.png", run=parent)
                files[f"plot_{name}"] = str(path)
        return files

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

    def _save_state(self) -> None:
        state = {"search_id": self.search_id, "config": asdict(self.config), "fingerprint": self.dataset.fingerprint,
                 "strategy": self.strategy.state_dict() if self.strategy is not None else None,
                 "reward": self.reward.state_dict() if self.reward is not None else None,
                 "rounds": list(self.round_picks)}
        with atomic_write(self.out / STATE_FILE) as partial:  # a kill never leaves half a checkpoint
            torch.save(state, partial)

    def _candidate_path(self, arch: Architecture, stage: str, suffix: str) -> Path:
        name = arch.arch_hash if stage == "full" else f"{arch.arch_hash}.{stage}"
        return self.out / "candidates" / f"{name}{suffix}"

    def _save_candidate(self, trained: TrainedCandidate) -> None:
        """The resume file of one finished training (weights first, then the record that says so)."""
        r = trained.result
        if r.state_dict is not None:
            with atomic_write(self._candidate_path(trained.arch, trained.stage, ".pt")) as partial:
                torch.save(r.state_dict, partial)
        entry = {**r.to_dict(), "predicted": trained.predicted_accuracy, "reward": trained.reward,
                 "rank": trained.rank, "mlflow_run_id": trained.mlflow_run_id, "round": trained.round,
                 "predicted_std": trained.predicted_std}
        _write_atomically(self._candidate_path(trained.arch, trained.stage, ".json"), json.dumps(entry, default=str))

    def _load_candidate(self, cand: Candidate, stage: str) -> TrainedCandidate | None:
        """The finished training of ``cand`` at ``stage`` from a previous run of this search, if readable."""
        path = self._candidate_path(cand.arch, stage, ".json")
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
                test_accuracy=entry.get("test_accuracy"), proxies=ProxyScores.from_dict(entry.get("proxies")))
        except Exception:  # noqa: BLE001 - a damaged resume file: train that candidate again
            return None
        weighted = not stage.startswith("screen")
        if weighted and result.ok and not self._candidate_path(cand.arch, stage, ".pt").is_file():
            return None  # its weights are missing: train again
        return TrainedCandidate(rank=int(entry.get("rank", 0)), arch=cand.arch,
                                predicted_accuracy=float(entry["predicted"]), reward=float(entry["reward"]),
                                result=result, mlflow_run_id=entry.get("mlflow_run_id"),
                                round=int(entry.get("round", 1)), stage=stage,
                                predicted_std=entry.get("predicted_std"))


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


__all__ = ["PRESETS", "PastSearch", "ProposalSummary", "RoundSummary", "Search", "SearchConfig", "SearchEvents",
           "SearchResult", "TrainedCandidate", "resolve_config", "run_search"]
