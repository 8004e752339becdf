"""``tapas search``: the whole TAPAS loop for one dataset.

dataset → DCN (cached in the LDE) → LDE experiments in the DCN window → predictor fitted (cached
for the same experiments and settings) → a strategy proposes ``budget`` architectures scored by
the predictor → the top-K distinct ones are fully trained (one process per GPU when there are
several, in-process otherwise) → results appended to the LDE (source ``search``) → the best
network written to ``out_dir`` with a standalone ``model.py`` → a summary.

Everything is tracked in MLflow: one parent run per search (parameters, the reward curve as a
metric per batch, the summary and the best model as artifacts) with a nested run per full
training; the LDE rows keep their run ids.

Resuming: the strategy's state is checkpointed to ``out_dir/search_state.pt`` after every few
batches, and each finished training to ``out_dir/candidates/``. The same command with
``resume=True`` continues the search from the checkpoint and skips finished trainings; LDE rows
carry the key ``search/<search id>/<arch hash>``, so nothing is written twice.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lde import ExperimentStore

from tapaskit import paths
from tapaskit.architecture import Architecture
from tapaskit.characterization import characterize_dataset
from tapaskit.datasets import Dataset, load_dataset
from tapaskit.errors import InvalidOptionError
from tapaskit.experiments import open_lde, record_training
from tapaskit.model_export import write_model_files
from tapaskit.predictor import DEFAULT_PREDICTOR, DEFAULT_TAU, architecture_frame, seeded_predictor, select_training_set
from tapaskit.predictor.persistence import SavablePredictor
from tapaskit.search import STRATEGIES, Reward
from tapaskit.tracking import Tracker
from tapaskit.trainer import Hyperparameters, TrainResult, resolve_device, train_architecture

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
    """Fill ``None`` fields from the preset and check every value."""
    if config.preset not in PRESETS:
        raise InvalidOptionError(f"preset must be one of {', '.join(PRESETS)}, but got {config.preset!r}")
    if config.strategy not in STRATEGIES:
        raise InvalidOptionError(f"strategy must be one of {', '.join(STRATEGIES)}, but got {config.strategy!r}")
    preset = PRESETS[config.preset]
    filled = replace(config, **{k: v for k, v in preset.items() if getattr(config, k) is None})
    for name in ("budget", "top_k", "epochs", "max_params", "max_flops"):
        if getattr(filled, name) < 1:
            raise InvalidOptionError(f"{name.replace('_', '-')} must be >= 1, but got {getattr(filled, name)}")
    if filled.top_k > filled.budget:
        raise InvalidOptionError(f"top-k ({filled.top_k}) cannot exceed the budget ({filled.budget})")
    if filled.tau < 0:
        raise InvalidOptionError(f"tau must be >= 0, but got {filled.tau}")
    if filled.device is not None:
        resolve_device(filled.device)  # before the probe and the predictor fit, not at the trainings
    return filled


@dataclass
class SearchEvents:
    """Callbacks for a live display; every one is optional."""

    stage: Callable[[str], None] | None = None
    search: Callable[[Any], None] | None = None  # SearchProgress after every batch
    training_started: Callable[[int, int, Architecture], None] | None = None
    training_epoch: Callable[[int, float, float], None] | None = None
    training_done: Callable[[int, int, TrainResult], None] | None = None

    def say(self, text: str) -> None:
        if self.stage:
            self.stage(text)


# ----------------------------------------------------------------------------- predictor fitting
def _frame_key(frame: Any, predictor: str, tau: float | None, params: dict[str, Any]) -> str:
    """Cache key of a fitted predictor: the window's experiments, the predictor and its
    hyperparameters, its members' included (so a toolkit whose defaults changed refits)."""
    ids = np.sort(frame["experiment_id"].to_numpy()) if "experiment_id" in frame else np.arange(len(frame))
    digest = hashlib.sha256(ids.tobytes())
    digest.update(np.ascontiguousarray(frame["peak_accuracy"].to_numpy(dtype=np.float64)).tobytes())
    digest.update(f"{predictor}|{tau}|{json.dumps(params, sort_keys=True, default=str)}".encode())
    return digest.hexdigest()[:20]


def fit_predictor(store: ExperimentStore, dcn: float, *, name: str, tau: float, seed: int,
                  exclude: tuple[str, ...] = ()) -> tuple[Any, dict[str, Any]]:
    """The predictor fitted on the LDE experiments near ``dcn`` (cached in the data home).

    Returns:
        The fitted predictor and a description of the fit (window, counts, seconds, cached).
    """
    selection = select_training_set(store, dcn, tau, exclude=exclude)
    frame = selection.frame
    info = {"predictor": name, "tau_requested": tau, "tau_used": selection.tau,
            "widened": selection.widened, "experiments": len(frame),
            "datasets": sorted(frame["dataset_name"].astype(str).unique().tolist()), "cached": False}
    predictor = seeded_predictor(name, seed)
    cache = None
    if isinstance(predictor, SavablePredictor) and predictor.can_save:
        key = _frame_key(frame, name, selection.tau, predictor.signature())
        cache = paths.data_home() / "predictors" / f"{name}-{key}-{seed}.pt"
    started = time.perf_counter()
    if cache is not None and cache.is_file():
        predictor = type(predictor).load(cache)
        info["cached"] = True
    else:
        predictor.fit(frame, frame["peak_accuracy"].to_numpy())
        if cache is not None:
            predictor.save(cache)
    info["fit_seconds"] = time.perf_counter() - started
    return predictor, info


# ------------------------------------------------------------------------------- full trainings
def _gpu_worker_init(queue: Any) -> None:
    import os

    os.environ["TAPAS_WORKER_DEVICE"] = f"cuda:{queue.get()}"


def _gpu_train(arch_json: str, spec: str, hparams: Hyperparameters, seed: int) -> TrainResult:
    import os

    return train_architecture(Architecture.from_json(arch_json), load_dataset(spec), hparams, seed=seed,
                              device=os.environ["TAPAS_WORKER_DEVICE"], keep_weights=True)


def _train_all(candidates: list[Architecture], dataset: Dataset, hparams: Hyperparameters, seed: int,
               device: str | None, events: SearchEvents) -> list[TrainResult]:
    """Train the candidates: one process per GPU when there are several, else in order here."""
    gpus = torch.cuda.device_count() if device is None else 0
    total = len(candidates)
    if gpus > 1 and total > 1:  # workers reload the dataset by its spec (a name or a path)
        context = get_context("spawn")
        queue = context.Queue()
        for gpu in range(gpus):
            queue.put(gpu)
        with ProcessPoolExecutor(max_workers=min(gpus, total), mp_context=context,
                                 initializer=_gpu_worker_init, initargs=(queue,)) as pool:
            futures = [pool.submit(_gpu_train, a.to_json(), dataset.name, hparams, seed) for a in candidates]
            results = []
            for i, future in enumerate(futures):
                results.append(future.result())
                if events.training_done:
                    events.training_done(i, total, results[-1])
            return results
    results = []
    for i, arch in enumerate(candidates):
        if events.training_started:
            events.training_started(i, total, arch)
        result = train_architecture(arch, dataset, hparams, seed=seed, device=device, keep_weights=True,
                                    progress=events.training_epoch)
        results.append(result)
        if events.training_done:
            events.training_done(i, total, result)
    return results


# -------------------------------------------------------------------------------------- the loop
def _state_matches(state: dict[str, Any], config: SearchConfig, fingerprint: str) -> bool:
    return state.get("config") == asdict(config) and state.get("fingerprint") == fingerprint


def run_search(
    config: SearchConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    lde_path: str | Path | None = None,
    events: SearchEvents | None = None,
) -> dict[str, Any]:
    """Run the TAPAS loop for one dataset and write the best network to ``out_dir``.

    Args:
        config: what to search (see :class:`SearchConfig` and :data:`PRESETS`).
        out_dir: where the best network, the summary and the checkpoints go.
        resume: continue the search checkpointed in ``out_dir`` (same config required).
        lde_path: the LDE; None is the user's default LDE.
        events: callbacks for a live display.

    Returns:
        The summary (also written to ``out_dir/summary.json``).
    """
    events = events or SearchEvents()
    config = resolve_config(config)
    started = time.perf_counter()
    out = Path(out_dir)
    dataset = load_dataset(config.dataset)
    if out.exists() and not out.is_dir():
        raise InvalidOptionError(f"out {out} is a file; give a folder for the search's results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "candidates").mkdir(exist_ok=True)
    state_path = out / STATE_FILE

    state: dict[str, Any] = {}
    if resume and state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        if not _state_matches(state, config, dataset.fingerprint):
            raise InvalidOptionError(
                f"{state_path} belongs to another search (dataset, strategy, seed or budget differ); "
                "rerun without --resume or choose another --out")
    search_id = state.get("search_id") or uuid.uuid4().hex[:12]
    if not resume:  # a fresh search never reuses old checkpoints
        for old in (out / "candidates").glob("*"):
            old.unlink()

    store = open_lde(lde_path)
    events.say("characterizing the dataset")
    characterization = characterize_dataset(dataset, store=store, seed=config.seed)
    dcn = characterization.dcn
    events.say(f"fitting the {config.predictor} predictor on experiments near DCN {dcn:.3f}")
    predictor, fit_info = fit_predictor(store, dcn, name=config.predictor, tau=config.tau, seed=config.seed)

    def score(archs: list[Architecture]) -> np.ndarray:
        frame = architecture_frame(archs, input_shape=dataset.input_shape, num_classes=dataset.num_classes,
                                   dcn=dcn, dataset_name=dataset.name)
        return np.clip(predictor.predict(frame), 0.0, 1.0)

    tracker = Tracker()
    params = {**asdict(config), "fingerprint": dataset.fingerprint, "dcn": dcn, "search_id": search_id,
              "resumed": bool(state)}
    with tracker.run("search", f"search {dataset.name}", params, tags={"search_id": search_id}) as parent:
        reward = Reward(score, input_shape=dataset.input_shape, num_classes=dataset.num_classes,
                        max_params=config.max_params, max_flops=config.max_flops)
        strategy = STRATEGIES[config.strategy](seed=config.seed)
        if state.get("strategy"):
            strategy.load_state_dict(state["strategy"])
            reward.load_state_dict(state["reward"])
        batches = [0]

        def checkpoint(strat: Any, progress: Any) -> None:
            batches[0] += 1
            if events.search:
                events.search(progress)
            if batches[0] % CHECKPOINT_EVERY == 0 or progress.step >= config.budget:
                _save_state(state_path, {"search_id": search_id, "config": asdict(config),
                                         "fingerprint": dataset.fingerprint, "strategy": strat.state_dict(),
                                         "reward": reward.state_dict()})

        events.say(f"searching with {config.strategy} ({config.budget} proposals)")
        result = strategy.run(reward, dataset.input_shape, dataset.num_classes, config.budget, callback=checkpoint)
        _save_state(state_path, {"search_id": search_id, "config": asdict(config),
                                 "fingerprint": dataset.fingerprint, "strategy": strategy.state_dict(),
                                 "reward": reward.state_dict()})
        parent.log_metric_series("batch_mean_reward", [float(r) for r in result.batch_rewards])
        comparison = _compare_with_random(config, reward, dataset, score, result)

        top = result.best(config.top_k)
        hparams = Hyperparameters(epochs=config.epochs)
        trained, added = _trainings(top, dataset, hparams, config, store, out, search_id, tracker,
                                    parent.run_id, events)
        summary = _summary(config, dataset, characterization, fit_info, result, comparison, trained, search_id)
        summary["lde_rows_added"] = added
        best = _best(trained)
        if best is not None:
            arch, res, weights = best
            summary["best"]["files"] = write_model_files(out, arch, dataset.input_shape, dataset.num_classes, weights)
            parent.log_artifact(out / "model.py", "best_model")
            parent.log_artifact(out / "architecture.json", "best_model")
            parent.log_artifact(out / "weights.pt", "best_model")
            parent.log_metrics({"best_accuracy": res["peak_accuracy"]})
        summary["mlflow_run_id"] = parent.run_id
        summary["seconds"] = time.perf_counter() - started
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        parent.log_dict(summary, "summary.json")
    return summary


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a kill never leaves a half-written checkpoint


def _compare_with_random(config: SearchConfig, reward: Reward, dataset: Dataset, score: Callable[..., Any],
                         result: Any) -> dict[str, Any]:
    """Mean reward of the last quarter against random sampling at the same budget."""
    quarter = 0.25
    mine = float(result.mean_reward(last=quarter))
    if config.strategy == "random":
        return {"strategy_last_quarter_mean_reward": mine}
    baseline_reward = Reward(score, input_shape=dataset.input_shape, num_classes=dataset.num_classes,
                             max_params=config.max_params, max_flops=config.max_flops)
    random_result = STRATEGIES["random"](seed=config.seed).run(
        baseline_reward, dataset.input_shape, dataset.num_classes, config.budget)
    theirs = float(random_result.mean_reward(last=quarter))
    return {"strategy_last_quarter_mean_reward": mine, "random_last_quarter_mean_reward": theirs,
            "strategy_beats_random": mine > theirs, "budget": config.budget}


def _trainings(top: list[Any], dataset: Dataset, hparams: Hyperparameters, config: SearchConfig,
               store: ExperimentStore, out: Path, search_id: str, tracker: Tracker, parent_id: str | None,
               events: SearchEvents) -> tuple[list[dict[str, Any]], int]:
    """Fully train the top-K (skipping those a previous run finished) and record each.

    Returns:
        One entry per candidate, and the number of LDE rows this call added.
    """
    done: dict[str, dict[str, Any]] = {}
    for cand in top:
        meta = out / "candidates" / f"{cand.arch.arch_hash}.json"
        if meta.is_file():
            done[cand.arch.arch_hash] = json.loads(meta.read_text())
    todo = [c for c in top if c.arch.arch_hash not in done]
    if todo:
        events.say(f"fully training {len(todo)} of the top {len(top)} candidates ({hparams.epochs} epochs each)")
    results = _train_all([c.arch for c in todo], dataset, hparams, config.seed, config.device, events)
    for cand, res in zip(todo, results):
        with tracker.run("search", f"train {cand.arch.arch_hash}",
                         {"arch_hash": cand.arch.arch_hash, "arch": cand.arch.to_json(), **hparams.to_dict()},
                         parent_run_id=parent_id, tags={"search_id": search_id}) as child:
            child.log_metric_series("val_accuracy", list(res.curve))
            child.log_metrics({"peak_accuracy": res.peak_accuracy, "predicted_accuracy": cand.predicted,
                               "seconds": res.seconds})
            child.set_tags({"status": res.status.value})
        entry = {**res.to_dict(), "predicted": float(cand.predicted), "reward": float(cand.reward),
                 "mlflow_run_id": child.run_id, "arch": cand.arch.to_dict()}
        if res.state_dict is not None:
            torch.save(res.state_dict, out / "candidates" / f"{cand.arch.arch_hash}.pt")
        (out / "candidates" / f"{cand.arch.arch_hash}.json").write_text(json.dumps(entry, default=str))
        done[cand.arch.arch_hash] = entry
    # record every finished training once (a resumed run may find some already in the LDE)
    keys = {c.arch.arch_hash: f"search/{search_id}/{c.arch.arch_hash}" for c in top}
    present = store.has_keys(list(keys.values()))
    added = 0
    for cand in top:
        entry = done[cand.arch.arch_hash]
        if keys[cand.arch.arch_hash] in present:
            continue
        added += record_training(store, dataset, cand.arch, _result_from_entry(entry, dataset), source="search",
                                 key=keys[cand.arch.arch_hash], mlflow_run_id=entry.get("mlflow_run_id"))
    trained = [{**done[c.arch.arch_hash], "out": str(out / "candidates" / f"{c.arch.arch_hash}.pt")} for c in top]
    return trained, added


def _result_from_entry(entry: dict[str, Any], dataset: Dataset) -> TrainResult:
    from tapaskit.trainer import TrainStatus

    return TrainResult(
        status=TrainStatus(entry["status"]), arch_hash=entry["arch_hash"], dataset=dataset.name,
        fingerprint=dataset.fingerprint, curve=tuple(entry["curve"]), train_loss=tuple(entry["train_loss"]),
        peak_accuracy=entry["peak_accuracy"], final_accuracy=entry["final_accuracy"],
        peak_epoch=entry["peak_epoch"], seconds=entry["seconds"], device=entry["device"],
        params=entry["params"], flops=entry["flops"], seed=entry["seed"],
        hparams=Hyperparameters(**entry["hparams"]), message=entry.get("message", ""))


def _best(trained: list[dict[str, Any]]) -> tuple[Architecture, dict[str, Any], dict[str, torch.Tensor]] | None:
    ok = [t for t in trained if t["status"] == "ok" and Path(t["out"]).is_file()]
    if not ok:
        return None
    best = max(ok, key=lambda t: t["peak_accuracy"])
    weights = torch.load(best["out"], weights_only=True)
    return Architecture.from_dict(best["arch"]), best, weights


def _summary(config: SearchConfig, dataset: Dataset, characterization: Any, fit_info: dict[str, Any],
             result: Any, comparison: dict[str, Any], trained: list[dict[str, Any]],
             search_id: str) -> dict[str, Any]:
    ok = [t for t in trained if t["status"] == "ok"]
    best = max(ok, key=lambda t: t["peak_accuracy"]) if ok else None
    return {
        "search_id": search_id,
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint,
        "dcn": characterization.dcn,
        "dcn_cached": characterization.cached,
        "config": asdict(config),
        "predictor_fit": fit_info,
        "search": {"strategy": config.strategy, "proposals": len(result.history), "queries": result.queries,
                   "distinct": result.distinct_count(), "seconds": result.seconds,
                   "best_predicted_reward": float(max(c.reward for c in result.history)),
                   "batch_mean_reward": [round(float(r), 5) for r in result.batch_rewards], **comparison},
        "candidates": [
            {"rank": i + 1, "arch_hash": t["arch_hash"], "predicted_accuracy": t["predicted"],
             "reward": t["reward"], "real_peak_accuracy": t["peak_accuracy"],
             "real_final_accuracy": t["final_accuracy"], "status": t["status"], "params": t["params"],
             "flops": t["flops"], "train_seconds": t["seconds"], "device": t["device"],
             "mlflow_run_id": t.get("mlflow_run_id"), "architecture": t["arch"]}
            for i, t in enumerate(trained)],
        "best": {"arch_hash": best["arch_hash"], "peak_accuracy": best["peak_accuracy"],
                 "predicted_accuracy": best["predicted"]} if best else {"arch_hash": None},
    }


__all__ = ["PRESETS", "SearchConfig", "SearchEvents", "fit_predictor", "resolve_config", "run_search"]
