"""``tapas benchmark search``: how many trainings does the search need on a dataset it has never seen?

Each dataset of the LDE with a trained pool is held out in turn. Its pool's measured accuracies
answer the "trainings", so a whole search can be simulated on it, and the simulation refits the
predictor for real between rounds. The training set of a held-out dataset is the DCN window
(:func:`~tapaskit.predictor.select_training_set`, widened when too small) over the *other*
datasets' experiments; by default every dataset of the same family leaves it too (``holdout="family"``,
scenario F: ``fashion-mnist[n=2000;size=16]`` is not predicted from ``fashion-mnist[n=4500]``; the
family, :func:`~tapaskit.predictor.holdout.family_of`, is the name before ``[`` or a recorded
lineage). ``holdout="dataset"`` leaves only the dataset itself out (scenario C, the protocol of
earlier versions).

Four ways to spend ``trainings`` full trainings on the pool (:data:`METHODS`):

- ``one_pass`` (a): rank the pool once by the first fit and train the top ``n`` (the one-pass search
  of earlier versions; on a finite pool the exhaustive ranking is what every strategy that
  maximises the same predictor converges to);
- ``rounds`` (b): rounds of ``top_k``; each round picks ``top_k`` untrained networks by the
  acquisition rule (upper confidence bound by default, from ``predict(X, return_std=True)``) and
  the diversity rule (:mod:`tapaskit.search.acquisition`), "trains" them, and the predictor
  refits with the held-out dataset's trained rows added, each repeated ``target_weight`` times
  (:func:`~tapaskit.predictor.cache.weight_target_rows`);
- ``random`` (c): uniform picks without replacement; its curve is the exact expectation
  (:func:`expected_best_percentile`), not a draw;
- ``evolution`` (d): regularized evolution (Real et al. 2019) on the pool: the first
  :data:`EVOLUTION_POPULATION` trainings are random, then each training is a child of the best of
  :data:`EVOLUTION_SAMPLE` members drawn from the population (the last
  :data:`EVOLUTION_POPULATION` trained); on a finite pool a mutation is one of the
  :data:`MUTATION_NEIGHBOURS` untrained networks nearest to the parent in layer-token edit
  distance (:func:`~tapaskit.space.compact.token_distance`), drawn at random.

The score after ``n`` trainings is the best true accuracy trained so far as a percentile of the
pool (100 = the pool's best). Curves are medians over every (held-out dataset, seed) run, seeds
changing the predictor's seed, the draws of evolution and the architecture folds; with
``unseen_architectures`` the pool is split into two folds of architectures, each searched with a
predictor that never saw an experiment of them (what a search's proposals are to the LDE).

**Sample efficiency** (:class:`SampleEfficiency`): the trainings random picks need, in expectation,
to reach the percentile that the rounds reach with ``n`` trainings, divided by ``n``: once at the
budget (``n = trainings``, target = the rounds' median there) and once at the 99th percentile
(``n`` = the first number of trainings at which the rounds' median curve reaches 99).

The one-pass figures of earlier versions (``tap_best_percentile_mean``: the top ``picks`` of the first
fit; ``random_best_percentile_mean``) come from the same first fits; :func:`run_search_benchmark`
still measures them alone (scenario C, one fit per held-out dataset).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lde import ExperimentStore

from tapaskit.checks import check_choice, check_int, check_number
from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor import (
    DEFAULT_PREDICTOR,
    DEFAULT_TAU,
    make_predictor,
    seeded_predictor,
    select_training_set,
    unseen_architecture_folds,
)
from tapaskit.predictor.cache import TARGET_WEIGHT, weight_target_rows
from tapaskit.predictor.holdout import dataset_families
from tapaskit.search.acquisition import ACQUISITIONS, DEFAULT_BETA, acquisition_scores, select_diverse
from tapaskit.space.architecture import Architecture
from tapaskit.space.compact import layer_tokens, token_distance
from tapaskit.tracking import Tracker

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tapaskit.predictor.base import BasePredictor

__all__ = [
    "CHECKPOINTS", "EFFICIENCY_PERCENTILE", "EVOLUTION_POPULATION", "EVOLUTION_SAMPLE", "HOLDOUTS", "METHODS",
    "METHOD_LABELS", "MUTATION_NEIGHBOURS", "SampleEfficiency", "SampleEfficiencyReport",
    "expected_best_percentile", "percentile_of", "random_picks_percentile", "run_sample_efficiency",
    "run_search_benchmark", "sample_efficiency_figure",
]

#: The numbers of trainings after which the curves are reported (those up to the budget, and the budget).
CHECKPOINTS: tuple[int, ...] = (1, 2, 5, 10, 20)
#: The ways to spend the trainings, in the order of the issue: (a), (b), (c), (d).
METHODS: tuple[str, ...] = ("one_pass", "rounds", "random", "evolution")
METHOD_LABELS: dict[str, str] = {
    "one_pass": "(a) one-pass top-K", "rounds": "(b) rounds with acquisition",
    "random": "(c) random picks (expectation)", "evolution": "(d) regularized evolution",
}
#: What leaves the training set with a held-out dataset: its family (scenario F) or itself (C).
HOLDOUTS: tuple[str, ...] = ("family", "dataset")
#: Regularized evolution on a pool: population P (also its random start), tournament size S, and
#: how many of the parent's nearest untrained networks a mutation draws from. S/P as in Real et
#: al. (25 of 100), scaled to a budget of 20 trainings.
EVOLUTION_POPULATION = 5
EVOLUTION_SAMPLE = 2
MUTATION_NEIGHBOURS = 5
#: The percentile of the second sample-efficiency figure.
EFFICIENCY_PERCENTILE = 99.0


def percentile_of(pool: np.ndarray, value: float) -> float:
    """Share of the pool (in %) whose accuracy is at most ``value``."""
    return float(np.mean(pool <= value) * 100.0)


def _pool_percentiles(pool: np.ndarray) -> np.ndarray:
    """:func:`percentile_of` of every network of the pool (ties share the higher one)."""
    return np.searchsorted(np.sort(pool), pool, side="right") / len(pool) * 100.0


def random_picks_percentile(pool: np.ndarray, picks: int, rng: np.random.Generator, draws: int = 2000) -> float:
    """Expected percentile of the best of ``picks`` random pool networks (Monte Carlo)."""
    ranks = _pool_percentiles(pool)
    choice = np.argsort(rng.random((draws, len(pool))), axis=1)[:, :picks]
    return float(ranks[choice].max(axis=1).mean())


def expected_best_percentile(pool: np.ndarray, picks: int | None = None) -> np.ndarray:
    """The exact expected percentile of the best of ``n`` uniform picks without replacement, for
    ``n = 1 .. picks`` (default: the whole pool).

    With the pool's percentiles sorted, ``p_1 <= ... <= p_P``, the best of ``n`` picks is at most
    the ``m``-th with probability ``F_n(m) = C(m, n) / C(P, n) = prod_{i<n} (m - i) / (P - i)``, so
    the expectation is ``sum_m p_m (F_n(m) - F_n(m - 1))``.

    Returns:
        A float array of shape ``(picks,)``; entry ``n - 1`` is the expectation for ``n`` picks.
    """
    p = np.sort(_pool_percentiles(np.asarray(pool, dtype=np.float64)))
    size = len(p)
    picks = size if picks is None else min(int(picks), size)
    i = np.arange(picks)[:, None]  # (picks, 1)
    m = np.arange(size + 1)[None, :]  # (1, P + 1): m = 0 .. P
    below = np.cumprod(np.maximum(m - i, 0) / (size - i), axis=0)  # (picks, P + 1): F_n(m), row n - 1
    return np.minimum(np.diff(below, axis=1) @ p, 100.0)


@dataclass(frozen=True)
class SampleEfficiency:
    """How many trainings random picks need, in expectation, to do what the rounds did.

    Attributes:
        target_percentile: the percentile to reach.
        rounds_trainings: the trainings the rounds (median curve) needed to reach it; ``None``
            when they did not within the budget.
        random_trainings: the trainings random picks need (median over runs of the expectation).
        ratio: ``random_trainings / rounds_trainings``; ``None`` with ``rounds_trainings``.
    """

    target_percentile: float
    rounds_trainings: int | None
    random_trainings: int
    ratio: float | None


@dataclass(frozen=True)
class SampleEfficiencyReport:
    """What ``tapas benchmark search`` measured; :meth:`to_dict` is its ``--json``.

    Attributes:
        config: the options the benchmark ran with.
        checkpoints: the numbers of trainings of the curves.
        curves: per method (:data:`METHODS`), the median best percentile after each checkpoint.
        curves_mean: the same, means.
        efficiency_at_budget: random against rounds at ``trainings`` (the rounds' percentile there).
        efficiency_at_99th: random against rounds at the 99th percentile.
        per_dataset: per held-out dataset: its DCN, pool, window, and curves (medians over seeds).
        runs: the simulated searches ((dataset, seed[, fold]) pairs).
        fits: predictor fits done, and their seconds in ``fit_seconds``.
        tap_best_percentile_mean: the one-pass figure of earlier versions: the best of the first
            fit's top ``picks``, mean over datasets (each the mean of its runs);
        random_best_percentile_mean: the same for ``picks`` random picks;
        tap_at_or_above_95th: held-out datasets whose one-pass figure is >= 95.
        plot: the PNG of the curves (``None`` without ``plot_dir``).
        mlflow_run_id: the MLflow run (``None`` when not tracked).
    """

    config: dict[str, Any]
    checkpoints: tuple[int, ...]
    curves: dict[str, dict[int, float]]
    curves_mean: dict[str, dict[int, float]]
    efficiency_at_budget: SampleEfficiency
    efficiency_at_99th: SampleEfficiency
    per_dataset: dict[str, dict[str, Any]]
    runs: int
    fits: int
    fit_seconds: float
    tap_best_percentile_mean: float
    random_best_percentile_mean: float
    tap_at_or_above_95th: int
    seconds: float
    plot: str | None = None
    mlflow_run_id: str | None = None

    @property
    def datasets(self) -> int:
        return len(self.per_dataset)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (checkpoint keys become strings in JSON)."""
        out = asdict(self)
        out["checkpoints"] = list(self.checkpoints)
        out["datasets"] = self.datasets
        # the flat keys of earlier versions, kept for readers of their JSON
        out.update({key: self.config[key] for key in ("predictor", "picks", "tau", "unseen_architectures")})
        return out


@dataclass(frozen=True)
class _Pool:
    """A held-out dataset's trained networks (or one fold of them), ready to be "trained"."""

    frame: pd.DataFrame  # positional index 0..P-1
    truth: np.ndarray  # (P,) measured accuracies
    percentiles: np.ndarray  # (P,) each network's percentile of the pool
    archs: list[Architecture]
    tokens: list[tuple[str, ...]]


@dataclass(frozen=True)
class _Run:
    """One simulated search: the curves of every method on one pool with one seed."""

    dataset: str
    curves: dict[str, np.ndarray]  # method -> (trainings,) best percentile after n = 1.. trainings
    random_full: np.ndarray  # (P,) random's expectation for n = 1 .. P
    picks_best_accuracy: float  # the one-pass figures of earlier versions
    picks_percentile: float
    random_picks_percentile: float
    pool_best_accuracy: float
    pool: int
    train_experiments: int


def _make_pool(frame: pd.DataFrame, parsed: dict[str, Architecture]) -> _Pool:
    frame = frame.reset_index(drop=True)
    truth = frame["peak_accuracy"].to_numpy(dtype=np.float64)
    archs = []
    for text in frame["arch_json"].astype(str):
        if text not in parsed:
            parsed[text] = Architecture.from_json(text)
        archs.append(parsed[text])
    return _Pool(frame, truth, _pool_percentiles(truth), archs, [layer_tokens(a) for a in archs])


def _predict(model: BasePredictor, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """``(mean, std)``; ``std`` is ``None`` for a predictor without a spread (acquisition then ranks
    by the mean)."""
    try:
        mean, std = model.predict(frame, return_std=True)
    except (TypeError, NotImplementedError):
        return np.asarray(model.predict(frame), dtype=np.float64), None
    return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def _curve(pool: _Pool, order: Sequence[int], trainings: int) -> np.ndarray:
    """Best percentile after each of ``trainings`` trainings in ``order`` (a pool trained to the
    last network stays at its best, 100)."""
    best = np.maximum.accumulate(pool.percentiles[np.asarray(order[:trainings], dtype=int)])
    return np.concatenate([best, np.full(trainings - len(best), best[-1])])


def _rounds_order(pool: _Pool, train: pd.DataFrame, first: tuple[np.ndarray, np.ndarray | None],
                  fit: Callable[[pd.DataFrame], BasePredictor], *, trainings: int, top_k: int,
                  target_weight: int, acquisition: str, beta: float) -> list[int]:
    """The networks method (b) trains, in order: rounds of ``top_k``, a refit after each but the last."""
    mean, std = first
    free = np.arange(len(pool.truth))
    order: list[int] = []
    while True:
        best = float(pool.truth[order].max()) if order else None
        scores = acquisition_scores(mean, std, rule=acquisition, beta=beta, best=best)
        chosen = select_diverse([pool.archs[i] for i in free], scores, min(top_k, trainings - len(order), len(free)))
        order.extend(int(free[j]) for j in chosen)
        free = np.setdiff1d(free, order)
        if len(order) >= trainings or len(free) == 0:
            return order
        model = fit(weight_target_rows(train, pool.frame.iloc[order], target_weight))
        mean, std = _predict(model, pool.frame.iloc[free])


def _evolution_order(pool: _Pool, trainings: int, rng: np.random.Generator) -> list[int]:
    """The networks regularized evolution trains on the pool, in order (see the module docstring)."""
    size = len(pool.truth)
    trainings = min(trainings, size)
    order = [int(i) for i in rng.choice(size, size=min(EVOLUTION_POPULATION, trainings), replace=False)]
    population = deque(order, maxlen=EVOLUTION_POPULATION)  # appending drops the oldest
    while len(order) < trainings:
        drawn = rng.choice(len(population), size=min(EVOLUTION_SAMPLE, len(population)), replace=False)
        parent = max((population[int(i)] for i in drawn), key=lambda j: pool.truth[j])
        free = np.setdiff1d(np.arange(size), order)
        shuffled = free[rng.permutation(len(free))]  # ties of distance fall at random
        distance = np.array([token_distance(pool.tokens[parent], pool.tokens[j]) for j in shuffled])
        nearest = shuffled[np.argsort(distance, kind="stable")[:MUTATION_NEIGHBOURS]]
        child = int(rng.choice(nearest))
        order.append(child)
        population.append(child)
    return order


def _simulate(name: str, train: pd.DataFrame, pool: _Pool, fit: Callable[[pd.DataFrame], BasePredictor], *,
              trainings: int, top_k: int, picks: int, target_weight: int, acquisition: str, beta: float,
              rng: np.random.Generator) -> _Run:
    """Every method on one pool: one first fit shared by (a) and (b), then (b)'s refits."""
    first = _predict(fit(train), pool.frame)
    one_pass = [int(i) for i in np.argsort(-first[0], kind="stable")[:max(trainings, picks)]]
    orders = {
        "one_pass": one_pass,
        "rounds": _rounds_order(pool, train, first, fit, trainings=trainings, top_k=top_k,
                                target_weight=target_weight, acquisition=acquisition, beta=beta),
        "evolution": _evolution_order(pool, trainings, rng),
    }
    random_full = expected_best_percentile(pool.truth)
    curves = {method: _curve(pool, orders[method], trainings) for method in ("one_pass", "rounds", "evolution")}
    curves["random"] = np.concatenate([random_full, np.full(max(0, trainings - len(random_full)), 100.0)])[:trainings]
    picked = float(pool.truth[one_pass[:picks]].max())
    return _Run(dataset=name, curves=curves, random_full=random_full, picks_best_accuracy=picked,
                picks_percentile=percentile_of(pool.truth, picked),
                random_picks_percentile=float(random_full[min(picks, len(random_full)) - 1]),
                pool_best_accuracy=float(pool.truth.max()), pool=len(pool.truth), train_experiments=len(train))


def _first_reaching(curve: np.ndarray, target: float) -> int | None:
    """The first ``n`` (1-based) at which ``curve`` reaches ``target``; ``None`` if it never does."""
    hit = np.flatnonzero(curve >= target - 1e-9)
    return int(hit[0]) + 1 if len(hit) else None


def _efficiency(rounds: np.ndarray, random: np.ndarray, target: float, rounds_trainings: int | None
                ) -> SampleEfficiency:
    needed = _first_reaching(random, target)
    needed = len(random) if needed is None else needed  # the whole largest pool reaches 100
    return SampleEfficiency(target_percentile=float(target), rounds_trainings=rounds_trainings,
                            random_trainings=needed,
                            ratio=None if rounds_trainings is None else needed / rounds_trainings)


def sample_efficiency_figure(curves: dict[str, np.ndarray], random_full: np.ndarray, *,
                             efficiency: SampleEfficiency | None = None, title: str | None = None) -> Figure:
    """The curves: best percentile of the pool against trainings for every method, and random
    picks' expectation out to the whole pool with the rounds' figure to reach.

    Args:
        curves: per method, the median best percentile after ``n = 1 .. trainings``.
        random_full: random's median expectation for ``n = 1 .. P``.
        efficiency: drawn on the second panel (the rounds' percentile and what random needs).
        title: the figure's title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tapaskit.evaluation.plots import series_styles

    figure = Figure(figsize=(10.5, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    styles = dict(zip(METHODS, series_styles(len(METHODS))))
    for method in METHODS:
        if method not in curves:
            continue
        values = np.asarray(curves[method], dtype=float)
        color, marker = styles[method]
        left.plot(np.arange(1, len(values) + 1), values, color=color, marker=marker, markersize=4,
                  linewidth=1.4, label=METHOD_LABELS[method])
    left.set_xscale("log")
    ticks = [c for c in CHECKPOINTS if c <= max(len(v) for v in curves.values())]
    left.set_xticks(ticks, [str(t) for t in ticks])
    left.set_xlabel("trainings (log scale)")
    left.set_ylabel("best true accuracy, percentile of the pool (median)")
    left.set_title("best network found after n trainings", fontsize=10)
    left.legend(fontsize=7, loc="lower right")
    n = np.arange(1, len(random_full) + 1)
    right.plot(n, random_full, color=styles["random"][0], linewidth=1.4, label=METHOD_LABELS["random"])
    right.set_xscale("log")
    right.axhline(EFFICIENCY_PERCENTILE, color="grey", linestyle="-", linewidth=0.5)
    if efficiency is not None:
        right.axhline(efficiency.target_percentile, color="black", linestyle="--", linewidth=0.8,
                      label=f"rounds: {efficiency.target_percentile:.1f} in {efficiency.rounds_trainings}")
        right.axvline(efficiency.random_trainings, color="grey", linestyle=":", linewidth=0.8,
                      label=f"random needs {efficiency.random_trainings}"
                            + (f" ({efficiency.ratio:.1f}x)" if efficiency.ratio is not None else ""))
    right.set_xlabel("trainings (log scale)")
    right.set_ylabel("percentile of the pool")
    right.set_title("what random picks need", fontsize=10)
    right.legend(fontsize=7, loc="lower right")
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _medians(values: list[np.ndarray], reducer: Callable[..., np.ndarray] = np.median) -> np.ndarray:
    """Pointwise ``reducer`` of curves of unequal length (a shorter one is padded with 100: its
    whole pool was picked)."""
    width = max(len(v) for v in values)
    stack = np.full((len(values), width), 100.0)
    for row, v in zip(stack, values):
        row[:len(v)] = v
    return reducer(stack, axis=0)


def run_sample_efficiency(
    store: ExperimentStore,
    *,
    predictor: str = DEFAULT_PREDICTOR,
    tau: float = DEFAULT_TAU,
    trainings: int = 20,
    top_k: int = 5,
    seeds: int = 5,
    seed: int = 0,
    holdout: str = "family",
    unseen_architectures: bool = False,
    target_weight: int = TARGET_WEIGHT,
    acquisition: str = "ucb",
    beta: float = DEFAULT_BETA,
    picks: int = 5,
    min_pool: int = 20,
    plot_dir: str | Path | None = None,
    track: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> SampleEfficiencyReport:
    """Simulate the search on every held-out dataset's trained pool; see the module docstring.

    Args:
        store: the LDE.
        predictor: a registry name.
        tau: half-width of the DCN window.
        trainings: the budget of full trainings per simulated search.
        top_k: trainings per round of method (b) (a refit after each round but the last).
        seeds: runs per held-out dataset, with seeds ``seed, seed + 1, ...``.
        seed: the first seed.
        holdout: ``family`` (scenario F) or ``dataset`` (scenario C).
        unseen_architectures: search pools of architectures the predictor never saw (two folds).
        target_weight: how often a refit repeats each trained row of the held-out dataset.
        acquisition: ``ucb``, ``ei`` or ``greedy`` (:mod:`tapaskit.search.acquisition`).
        beta: the weight of the spread for ``ucb``.
        picks: the one-pass figure of earlier versions is the best of the top ``picks``.
        min_pool: datasets with fewer trained networks are not held out (they still train).
        plot_dir: where the PNG of the curves goes (created); ``None``: none on disk.
        track: log an MLflow run (the report, its figures and the PNG).
        progress: called with ``(label, done, total)`` before each run.

    Returns:
        A :class:`SampleEfficiencyReport`.

    Raises:
        DataError: fewer than 2 datasets with a DCN and at least ``min_pool`` experiments, or a
            held-out dataset that leaves no training experiments.
        InvalidOptionError: an option out of range, ``picks`` or ``trainings`` above every pool,
            an unknown predictor, holdout or acquisition rule.
    """
    trainings, top_k, seeds = check_int("trainings", trainings), check_int("top_k", top_k), check_int("seeds", seeds)
    picks, min_pool = check_int("picks", picks), check_int("min_pool", min_pool)
    target_weight = check_int("target_weight", target_weight)
    check_number("tau", tau, 0.0)
    check_number("beta", beta, 0.0)
    check_choice("holdout", holdout, HOLDOUTS)
    check_choice("acquisition", acquisition, ACQUISITIONS)
    make_predictor(predictor)  # an unknown name fails before any fit
    if plot_dir is not None:  # a folder that cannot be made fails now, not after an hour of fits
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frame, held_out = _held_out_pools(store, min_pool, picks=picks, trainings=trainings)
    families = dataset_families(frame)
    plans = []
    for fingerprint in held_out:
        pool = frame[frame["dataset_fingerprint"] == fingerprint]
        name = str(pool["dataset_name"].iloc[0])
        leaves = (families == families.loc[pool.index[0]] if holdout == "family"
                  else frame["dataset_fingerprint"] == fingerprint)
        others = frame[~leaves.to_numpy()]
        if others.empty:
            raise DataError(f"holding out the {holdout} of {name} leaves no experiment to train the predictor on; "
                            "use holdout 'dataset' or an LDE with another family")
        plans.append((name, pool, others))

    parsed: dict[str, Architecture] = {}
    runs: list[_Run] = []
    fit_count, fit_seconds = 0, 0.0

    def fit_with(run_seed: int) -> Callable[[pd.DataFrame], BasePredictor]:
        def fit(train: pd.DataFrame) -> BasePredictor:
            nonlocal fit_count, fit_seconds
            began = time.perf_counter()
            model = seeded_predictor(predictor, run_seed).fit(train, train["peak_accuracy"].to_numpy())
            fit_count += 1
            fit_seconds += time.perf_counter() - began
            return model
        return fit

    windows: dict[str, tuple[float, float | None]] = {}
    total = len(plans) * seeds
    for d, (name, pool_frame, others) in enumerate(plans):
        dcn = float(pool_frame["dcn"].iloc[0])
        selection = select_training_set(others, dcn, tau)
        windows[name] = (dcn, selection.tau)
        for s in range(seeds):
            run_seed = seed + s
            if progress:
                progress(f"{name} · seed {run_seed}", d * seeds + s, total)
            pairs = (unseen_architecture_folds(selection.frame, pool_frame, seed=run_seed)
                     if unseen_architectures else [(selection.frame, pool_frame)])
            for f, (train, part) in enumerate(pairs):
                runs.append(_simulate(name, train, _make_pool(part, parsed), fit_with(run_seed),
                                      trainings=trainings, top_k=top_k, picks=picks, target_weight=target_weight,
                                      acquisition=acquisition, beta=beta,
                                      rng=np.random.default_rng([run_seed, d, f])))
    if progress:
        progress("done", total, total)

    checkpoints = tuple(sorted({c for c in CHECKPOINTS if c <= trainings} | {trainings}))
    median_curves = {m: _medians([r.curves[m] for r in runs]) for m in METHODS}
    mean_curves = {m: _medians([r.curves[m] for r in runs], np.mean) for m in METHODS}
    random_full = _medians([r.random_full for r in runs])

    def table(curves: dict[str, np.ndarray]) -> dict[str, dict[int, float]]:
        return {m: {n: float(curves[m][n - 1]) for n in checkpoints} for m in METHODS}

    at_budget = _efficiency(median_curves["rounds"], random_full, float(median_curves["rounds"][-1]), trainings)
    at_99th = _efficiency(median_curves["rounds"], random_full, EFFICIENCY_PERCENTILE,
                          _first_reaching(median_curves["rounds"], EFFICIENCY_PERCENTILE))
    per_dataset: dict[str, dict[str, Any]] = {}
    for name, (dcn, tau_used) in windows.items():
        mine = [r for r in runs if r.dataset == name]
        per_dataset[name] = {
            "dcn": dcn, "tau_used": tau_used, "runs": len(mine),
            "pool": int(np.mean([r.pool for r in mine])),
            "train_experiments": int(np.mean([r.train_experiments for r in mine])),
            "curves": table({m: _medians([r.curves[m] for r in mine]) for m in METHODS}),
            "tap_best_true_accuracy": float(np.mean([r.picks_best_accuracy for r in mine])),
            "pool_best_accuracy": float(np.mean([r.pool_best_accuracy for r in mine])),
            "tap_best_percentile": float(np.mean([r.picks_percentile for r in mine])),
            "random_best_percentile": float(np.mean([r.random_picks_percentile for r in mine])),
        }
    tap = [d["tap_best_percentile"] for d in per_dataset.values()]
    config = {"predictor": predictor, "tau": tau, "trainings": trainings, "top_k": top_k, "seeds": seeds,
              "seed": seed, "holdout": holdout, "unseen_architectures": unseen_architectures,
              "target_weight": target_weight, "acquisition": acquisition, "beta": beta, "picks": picks,
              "min_pool": min_pool, "evolution": {"population": EVOLUTION_POPULATION, "sample": EVOLUTION_SAMPLE,
                                                  "mutation_neighbours": MUTATION_NEIGHBOURS}}
    report = SampleEfficiencyReport(
        config=config, checkpoints=checkpoints, curves=table(median_curves), curves_mean=table(mean_curves),
        efficiency_at_budget=at_budget, efficiency_at_99th=at_99th, per_dataset=per_dataset, runs=len(runs),
        fits=fit_count, fit_seconds=fit_seconds, tap_best_percentile_mean=float(np.mean(tap)),
        random_best_percentile_mean=float(np.mean([d["random_best_percentile"] for d in per_dataset.values()])),
        tap_at_or_above_95th=int(sum(p >= 95 for p in tap)), seconds=time.perf_counter() - started)
    title = (f"benchmark search · {predictor} · holdout {holdout}"
             + (" · unseen architectures" if unseen_architectures else "") + f" · {len(runs)} runs")
    figure = sample_efficiency_figure(median_curves, random_full, efficiency=at_budget, title=title)
    plot = Path(plot_dir) / "search_sample_efficiency.png" if plot_dir is not None else None
    if plot is not None:
        from tapaskit.evaluation.plots import save_figure

        save_figure(figure, plot)
        report = replace(report, plot=str(plot))
    if track:
        report = replace(report, mlflow_run_id=_track(report, figure))
    return report


def _track(report: SampleEfficiencyReport, figure: Figure) -> str | None:
    from tapaskit.evaluation.plots import save_figure

    params = {key: value for key, value in report.config.items() if key != "evolution"}
    with Tracker().run("benchmark", "benchmark search", params) as run:
        metrics: dict[str, float | None] = {f"{m}_at_{n}": v for m, row in report.curves.items()
                                            for n, v in row.items()}
        metrics.update({"efficiency_at_budget": report.efficiency_at_budget.ratio,
                        "efficiency_at_99th": report.efficiency_at_99th.ratio,
                        "tap_best_percentile_mean": report.tap_best_percentile_mean,
                        "random_best_percentile_mean": report.random_best_percentile_mean})
        run.log_metrics(metrics)
        run.log_dict(report.to_dict(), "search_benchmark.json")
        save_figure(figure, run=run, artifact_file="plots/search_sample_efficiency.png")
    return run.run_id


def _held_out_pools(store: ExperimentStore, min_pool: int, *, picks: int, trainings: int | None = None
                    ) -> tuple[pd.DataFrame, list[str]]:
    """The LDE's ok experiments with a DCN and the fingerprints of the datasets to hold out."""
    frame = store.query()
    frame = frame[frame["dcn"].notna() & frame["peak_accuracy"].notna()]
    if "status" in frame.columns:
        frame = frame[frame["status"].astype(str) == "ok"]
    sizes = frame.groupby("dataset_fingerprint").size()
    held_out = [fp for fp, n in sizes.items() if n >= min_pool]
    if len(held_out) < 2:
        raise DataError(f"the search benchmark needs >= 2 datasets with a DCN and >= {min_pool} "
                        f"experiments each, but the LDE has {len(held_out)}")
    largest = max(held_out, key=lambda fp: sizes[fp])
    name = frame.loc[frame["dataset_fingerprint"] == largest, "dataset_name"].iloc[0]
    for option, value in (("picks", picks), ("trainings", trainings)):
        if value is not None and value > sizes[largest]:  # the whole pool every time: refuse before any fit
            raise InvalidOptionError(
                f"{option} must be at most the largest pool, the {sizes[largest]} trained networks of "
                f"{name}, but got {value}")
    return frame, held_out


def _pick(predictor: str, seed: int, train: Any, pool: Any, picks: int,
          rng: np.random.Generator) -> dict[str, float]:
    """Fit on ``train``, pick the ``picks`` best-predicted networks of ``pool``, score them."""
    model = seeded_predictor(predictor, seed)
    model.fit(train, train["peak_accuracy"].to_numpy())
    truth = pool["peak_accuracy"].to_numpy(dtype=float)
    predicted = np.asarray(model.predict(pool), dtype=float)
    best = float(truth[np.argsort(-predicted, kind="stable")[:picks]].max())
    return {"pool": len(pool), "train_experiments": len(train), "tap_best_true_accuracy": best,
            "pool_best_accuracy": float(truth.max()),
            "tap_best_percentile": percentile_of(truth, best),
            "random_best_percentile": random_picks_percentile(truth, picks, rng)}


def run_search_benchmark(
    store: ExperimentStore,
    *,
    predictor: str = DEFAULT_PREDICTOR,
    tau: float = DEFAULT_TAU,
    picks: int = 5,
    min_pool: int = 20,
    seed: int = 0,
    unseen_architectures: bool = False,
    track: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The one-pass pick quality alone (the benchmark of earlier versions), one fit per dataset.

    For each dataset of the LDE (held out in turn, as in predictor scenario C): the predictor is
    fitted on the other datasets' experiments in the DCN window, picks the ``picks`` pool networks
    it predicts best, and the score is the best true accuracy among them as a percentile of the
    pool, against ``picks`` random picks (Monte Carlo). :func:`run_sample_efficiency` measures the
    same from the same kind of fit, and the whole loop after it.

    Args:
        unseen_architectures: pick from pools of architectures the predictor never saw.

    Returns:
        ``{"per_dataset": {name: {...}}, "tap_best_percentile_mean", "random_best_percentile_mean", ...}``.

    Raises:
        DataError: fewer than 2 datasets with a DCN and at least ``min_pool`` experiments.
        InvalidOptionError: ``picks`` or ``min_pool`` below 1, ``picks`` above every pool, or a
            negative ``tau``.
    """
    picks, min_pool = check_int("picks", picks), check_int("min_pool", min_pool)
    check_number("tau", tau, 0.0)
    make_predictor(predictor)  # an unknown name fails before any fit
    started = time.perf_counter()
    frame, held_out = _held_out_pools(store, min_pool, picks=picks)
    rng = np.random.default_rng(seed)
    per_dataset: dict[str, dict[str, Any]] = {}
    for i, fingerprint in enumerate(held_out):
        pool = frame[frame["dataset_fingerprint"] == fingerprint]
        name = str(pool["dataset_name"].iloc[0])
        if progress:
            progress(name, i, len(held_out))
        others = frame[frame["dataset_fingerprint"] != fingerprint]
        dcn = float(pool["dcn"].iloc[0])
        selection = select_training_set(others, dcn, tau)
        pairs = (unseen_architecture_folds(selection.frame, pool, seed=seed)
                 if unseen_architectures else [(selection.frame, pool)])
        folds = [_pick(predictor, seed, train, part, picks, rng) for train, part in pairs]
        per_dataset[name] = {
            "dcn": dcn, "pool": int(np.mean([f["pool"] for f in folds])), "tau_used": selection.tau,
            "train_experiments": int(np.mean([f["train_experiments"] for f in folds])),
            **{key: float(np.mean([f[key] for f in folds]))
               for key in ("tap_best_true_accuracy", "pool_best_accuracy", "tap_best_percentile",
                           "random_best_percentile")},
        }
    tap = [d["tap_best_percentile"] for d in per_dataset.values()]
    rand = [d["random_best_percentile"] for d in per_dataset.values()]
    report = {
        "predictor": predictor, "picks": picks, "tau": tau, "datasets": len(per_dataset),
        "unseen_architectures": unseen_architectures,
        "tap_best_percentile_mean": float(np.mean(tap)), "random_best_percentile_mean": float(np.mean(rand)),
        "tap_at_or_above_95th": int(sum(p >= 95 for p in tap)),
        "per_dataset": per_dataset, "seconds": time.perf_counter() - started,
    }
    if track:
        with Tracker().run("benchmark", "benchmark search", {"predictor": predictor, "picks": picks, "tau": tau,
                                                              "seed": seed,
                                                              "unseen_architectures": unseen_architectures}) as run:
            run.log_metrics({"tap_best_percentile_mean": report["tap_best_percentile_mean"],
                             "random_best_percentile_mean": report["random_best_percentile_mean"]})
            run.log_dict(report, "search_benchmark.json")
        report["mlflow_run_id"] = run.run_id
    return report

