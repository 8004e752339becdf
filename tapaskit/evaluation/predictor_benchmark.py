"""``tapas benchmark predictor``: TAP against its baselines on the same splits of an LDE.

Five scenarios, A to C from Istrate et al. (2019, Sec. 5):

``A`` (per dataset)
    For each dataset, a random split of its experiments (``test_fraction`` held out, seeded);
    every predictor is fitted on the training part. The DCN input is constant within the split.
``B`` (leave one dataset out, no DCN)
    For each dataset, fit on every *other* dataset's experiments with the DCN input dropped
    (``use_dcn=False``) and no DCN filtering; test on the held-out dataset. Needs >= 2 datasets.
``C`` (leave one dataset out, with DCN: the TAPAS setting)
    For each dataset with a DCN, fit on the other datasets' experiments within ``tau`` of its DCN
    (:func:`~tapaskit.predictor.select_training_set`, widened when too few; the ``tau`` used is
    reported) with the DCN as an input; test on the held-out dataset. Needs >= 2 datasets with a
    DCN.
``F`` (leave one dataset *family* out, with DCN)
    As C, but every dataset of the held-out dataset's family
    (:func:`~tapaskit.predictor.holdout.family_of`: the same base dataset before its variant
    spec, or the same recorded lineage) leaves the training set too: in C, holding out
    ``fashion-mnist[n=2000;size=16]`` leaves four other Fashion-MNIST variants of the same images
    in the training set, so "unseen dataset" is not yet unseen. Needs a second family with a DCN.
``R`` (regime transfer, with DCN)
    Every row has a *regime* (:func:`~tapaskit.predictor.holdout.dataset_regimes`): ``large``
    when its input is at least 28x28 px and it was trained on at least 2,000 samples
    (:func:`~tapaskit.predictor.inputs.train_samples`, from the row's ``num_samples`` and the
    ``max_train`` / ``val_fraction`` of its ``extra_hparams``), else ``small``; on the shipped LDE
    that is the default suite (small) against the large suite. Three parts, each reported as a
    scenario of its own:

    - ``R_small_to_large``: each large dataset is predicted by a predictor fitted on small-regime
      rows only (the DCN window around it, as in C, drawn from the small regime);
    - ``R_large_to_small``: the reverse, each small dataset from the large regime's rows;
    - ``R_large_by_family``: scenario F with the large datasets as the held-out targets: both
      regimes in the training set, the held-out dataset's whole family (of either regime) out.

    Needs datasets with a DCN in both regimes (a part whose training regime holds none is skipped
    with a note).

Every predictor is also asked for its uncertainty (``predict(X, return_std=True)``); its
calibration (:func:`~tapaskit.predictor.metrics.calibration_report`: the share of true accuracies
within one and two standard deviations, 68 % and 95 % when calibrated) is reported next to the
other metrics, per dataset, on average and pooled over all test rows of a scenario. Every
scenario is also summarised per family (the mean over the family's held-out datasets).

In B, C and F the report also holds a ``reference`` that is not a predictor: each test network's own
mean chance-corrected accuracy on the training datasets, where it was trained there (the seeding
campaign trains one pool of networks on every dataset). It shows how far the data let one dataset's
results stand for another's: on the default LDE no predictor ranks much better than it, because
the same networks simply rank differently on different datasets.

With ``unseen_architectures`` no test network's architecture is in its training set, which is
what a search meets: the controller proposes networks the LDE has never trained. In A the
training part loses the experiments of the test architectures; in B and C the held-out
dataset's architectures are split into :data:`ARCHITECTURE_FOLDS` groups, and each group is
predicted by a model fitted without any experiment of that group's architectures (so on half of
them), its metrics computed per group and averaged. The same-network reference is undefined
there and left out. On the default LDE it is the harder and more telling figure: the campaign
trained one pool of networks on every dataset, so plain B and C test networks whose results on
neighbouring datasets were in the training set.

:func:`run_proxy_ablation` (``tapas benchmark predictor --ablation-proxies``) runs one predictor
on scenarios C and F (by default) without zero-cost proxies, with each proxy alone and with all
of them, on the same splits, and reports how many rows held proxies; every report's ``lde`` block
counts them too (``rows_with_proxies``).

A scenario the LDE cannot support (e.g. the MetaQNN import: one dataset, no DCN) is reported as
skipped with a note. For each scenario, predictor and held-out dataset the report holds the
metrics of :data:`tapaskit.predictor.METRICS` and their mean over datasets; predicted-vs-real
scatter plots (one per scenario and predictor, as TAPAS Fig. 5) go to ``plot_dir``; with
``track`` the run is logged to MLflow (kind ``benchmark``) with the mean metrics as metrics and
the report and plots as artifacts.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from lde import ExperimentStore

from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor.base import BasePredictor, from_chance_corrected, to_chance_corrected
from tapaskit.predictor.holdout import (
    ARCHITECTURE_FOLDS,
    architecture_keys,
    dataset_families,
    dataset_regimes,
    unseen_architecture_folds,
)
from tapaskit.predictor.inputs import PROXY_COLUMNS
from tapaskit.predictor.metrics import (
    CALIBRATION_METRICS,
    METRICS,
    calibration_report,
    regression_report,
)
from tapaskit.predictor.registry import PREDICTORS, seeded_predictor
from tapaskit.predictor.training_set import (
    DEFAULT_MIN_DATASETS,
    DEFAULT_MIN_EXPERIMENTS,
    DEFAULT_TAU,
    check_min_datasets,
    select_training_set,
)

__all__ = ["ABLATION_VARIANTS", "SCENARIOS", "DEFAULT_BENCHMARK_PREDICTORS", "REGIME_PARTS",
           "run_predictor_benchmark", "run_proxy_ablation"]

SCENARIOS: tuple[str, ...] = ("A", "B", "C", "F", "R")
#: The report entries scenario R is made of (see the module docstring).
REGIME_PARTS: tuple[str, ...] = ("R_small_to_large", "R_large_to_small", "R_large_by_family")
#: The scenarios that leave datasets out and so carry a same-network reference.
_LEAVE_OUT: tuple[str, ...] = ("B", "C", "F", *REGIME_PARTS)
#: The scenarios whose training sets are DCN windows.
_WINDOWED: tuple[str, ...] = ("C", "F", *REGIME_PARTS)
#: Predictors compared when none are named: every registered one.
DEFAULT_BENCHMARK_PREDICTORS: tuple[str, ...] = tuple(PREDICTORS)
TARGET = "peak_accuracy"
#: Fewest experiments a dataset needs in scenario A (two to fit on, two to rank).
MIN_SPLIT_EXPERIMENTS = 4

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class _Task:
    """One train/test split of a scenario."""

    dataset: str
    train: pd.DataFrame
    test: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def _dataset_keys(frame: pd.DataFrame) -> pd.Series:
    """A readable, unique key per dataset: its name, plus the fingerprint when names repeat."""
    pairs = frame[["dataset_name", "dataset_fingerprint"]].astype(str).drop_duplicates()
    repeated = set(pairs["dataset_name"][pairs["dataset_name"].duplicated()])
    names = {
        fp: f"{name} ({fp[:8]})" if name in repeated else name
        for name, fp in zip(pairs["dataset_name"], pairs["dataset_fingerprint"])
    }
    return frame["dataset_fingerprint"].astype(str).map(names)


def _predictor_factories(predictors: Sequence[str] | Mapping[str, BasePredictor] | None,
                         seed: int) -> dict[str, Callable[[bool], BasePredictor]]:
    def configured(template: BasePredictor) -> Callable[[bool], BasePredictor]:
        def build(use_dcn: bool) -> BasePredictor:
            est = clone(template)
            params = est.get_params()
            if "use_dcn" in params:
                est.set_params(use_dcn=use_dcn)
            return est
        return build

    if predictors is None:
        predictors = DEFAULT_BENCHMARK_PREDICTORS
    if isinstance(predictors, str):
        predictors = (predictors,)
    if isinstance(predictors, Mapping):
        items = dict(predictors)
    else:
        items = {name: seeded_predictor(name, seed) for name in predictors}
    if not items:
        raise InvalidOptionError("predictors must name at least one predictor, but got none")
    return {name: configured(est) for name, est in items.items()}


def _scenario_a(frame: pd.DataFrame, test_fraction: float, seed: int
                ) -> tuple[list[_Task], str | None]:
    tasks, small = [], []
    for index, (key, part) in enumerate(frame.groupby("_dataset", sort=True)):
        n = len(part)
        if n < MIN_SPLIT_EXPERIMENTS:
            small.append(key)
            continue
        rng = np.random.default_rng([seed, index])
        n_test = min(max(2, int(round(test_fraction * n))), n - 2)
        order = rng.permutation(n)
        tasks.append(_Task(key, part.iloc[order[n_test:]], part.iloc[order[:n_test]],
                           {"n_train": n - n_test, "n_test": n_test}))
    note = (f"skipped datasets with fewer than {MIN_SPLIT_EXPERIMENTS} experiments: "
            f"{', '.join(small)}") if small else None
    return tasks, note


def _scenario_b(frame: pd.DataFrame) -> tuple[list[_Task], str | None]:
    keys = sorted(frame["_dataset"].unique())
    if len(keys) < 2:
        return [], f"needs at least 2 datasets, but the LDE has {len(keys)}"
    tasks = []
    for key in keys:
        held = frame["_dataset"] == key
        tasks.append(_Task(key, frame[~held], frame[held],
                           {"n_train": int((~held).sum()), "n_test": int(held.sum())}))
    return tasks, None


def _windowed_tasks(frame: pd.DataFrame, targets: Sequence[str], tau: float, min_experiments: int,
                    min_datasets: int, kept_out: Callable[[str], pd.Series],
                    describe: Callable[[str, pd.Series], dict[str, Any]] | None = None) -> list[_Task]:
    """One task per held-out dataset in ``targets``: its rows are the test set, and the training
    set is the DCN window around its DCN over the rows neither held out nor ``kept_out(key)``
    (a boolean mask of the frame's rows). ``describe(key, kept_out)`` adds fields to its info."""
    tasks = []
    for key in targets:
        held = frame["_dataset"] == key
        out = kept_out(key) | held
        target = frame[held]
        dcn = float(target["dcn"].iloc[0])
        selection = select_training_set(frame[~out], dcn, tau, min_experiments=min_experiments,
                                        min_datasets=min_datasets)
        tasks.append(_Task(key, selection.frame, target, {
            "n_train": len(selection.frame), "n_test": int(held.sum()), "dcn": dcn,
            "tau_used": selection.tau, "widened": selection.widened,
            "train_datasets": int(selection.frame["_dataset"].nunique()),
            **(describe(key, out & ~held) if describe is not None else {}),
        }))
    return tasks


def _with_dcn_keys(frame: pd.DataFrame) -> list[str]:
    return sorted(frame.loc[frame["dcn"].notna(), "_dataset"].unique())


def _scenario_c(frame: pd.DataFrame, tau: float, min_experiments: int, min_datasets: int
                ) -> tuple[list[_Task], str | None]:
    keys = _with_dcn_keys(frame)
    if len(keys) < 2:
        return [], (f"needs at least 2 datasets with a DCN, but the LDE has {len(keys)} "
                    "(compute DCNs with `tapas characterize`)")
    nothing = pd.Series(False, index=frame.index)
    return _windowed_tasks(frame, keys, tau, min_experiments, min_datasets, lambda key: nothing), None


def _family_kept_out(frame: pd.DataFrame) -> tuple[Callable[[str], pd.Series],
                                                   Callable[[str, pd.Series], dict[str, Any]]]:
    """The rows of a held-out dataset's family, and the fields describing what left with it."""
    families = frame.drop_duplicates("_dataset").set_index("_dataset")["_family"]

    def kept_out(key: str) -> pd.Series:
        return frame["_family"] == families[key]

    def describe(key: str, out: pd.Series) -> dict[str, Any]:
        return {"family": families[key], "family_left_out": int(frame.loc[out, "_dataset"].nunique())}

    return kept_out, describe


def _scenario_f(frame: pd.DataFrame, tau: float, min_experiments: int, min_datasets: int
                ) -> tuple[list[_Task], str | None]:
    keys = _with_dcn_keys(frame)
    families = frame[frame["dcn"].notna()].drop_duplicates("_dataset")["_family"]
    if families.nunique() < 2:
        return [], (f"needs datasets with a DCN from at least 2 families, but the LDE has "
                    f"{families.nunique()} ({', '.join(sorted(families.unique())) or 'none'})")
    kept_out, describe = _family_kept_out(frame)
    return _windowed_tasks(frame, keys, tau, min_experiments, min_datasets, kept_out, describe), None


def _scenario_r(frame: pd.DataFrame, tau: float, min_experiments: int, min_datasets: int
                ) -> dict[str, tuple[list[_Task], str | None]]:
    """The three parts of scenario R (see the module docstring), by report key."""
    keys = _with_dcn_keys(frame)
    regime_of = frame.drop_duplicates("_dataset").set_index("_dataset")["_regime"]
    by_regime = {regime: [k for k in keys if regime_of[k] == regime] for regime in ("small", "large")}
    counts = ", ".join(f"{len(v)} {r}" for r, v in by_regime.items())
    out: dict[str, tuple[list[_Task], str | None]] = {}
    for part, source, target in (("R_small_to_large", "small", "large"),
                                 ("R_large_to_small", "large", "small")):
        if not by_regime[source] or not by_regime[target]:
            out[part] = [], (f"needs datasets with a DCN in both regimes (large: input >= 28x28 px "
                             f"and >= 2,000 training samples), but the LDE has {counts}")
            continue
        other = frame["_regime"] != source
        out[part] = _windowed_tasks(frame, by_regime[target], tau, min_experiments, min_datasets,
                                    lambda key, other=other: other,
                                    lambda key, _out: {"regime": target, "train_regime": source}), None
    families = frame[frame["dcn"].notna()].drop_duplicates("_dataset")["_family"]
    if not by_regime["large"] or families.nunique() < 2:
        out["R_large_by_family"] = [], (f"needs large-regime datasets with a DCN and a second family, "
                                        f"but the LDE has {counts} datasets with a DCN from "
                                        f"{families.nunique()} families")
    else:
        kept_out, describe = _family_kept_out(frame)
        out["R_large_by_family"] = _windowed_tasks(frame, by_regime["large"], tau, min_experiments,
                                                   min_datasets, kept_out, describe), None
    return out


def _splits(task: _Task, scenario: str, unseen_architectures: bool, seed: int
            ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The (train, test) pairs a task is scored on: itself, or its unseen-architecture folds."""
    if not unseen_architectures:
        return [(task.train, task.test)]
    if scenario == "A":
        seen = set(architecture_keys(task.test))
        return [(task.train[~architecture_keys(task.train).isin(seen)], task.test)]
    return unseen_architecture_folds(task.train, task.test, seed=seed)


def _same_network_reference(task: _Task) -> tuple[dict[str, float], float] | None:
    """Metrics of predicting every test network by its mean chance-corrected accuracy on the
    training datasets, over the test networks trained there, and the share of them; ``None``
    when fewer than two were."""
    train, test = task.train, task.test
    if "arch_hash" not in train.columns or "arch_hash" not in test.columns or len(train) == 0:
        return None
    kappa = to_chance_corrected(train[TARGET].to_numpy(dtype=float), train)
    by_network = pd.Series(kappa).groupby(train["arch_hash"].astype(str).to_numpy()).mean()
    hashes = test["arch_hash"].astype(str)
    covered = hashes.isin(by_network.index).to_numpy()
    if covered.sum() < 2:
        return None
    known = test[covered]
    predicted = from_chance_corrected(by_network.loc[hashes[covered]].to_numpy(), known)
    return regression_report(known[TARGET].to_numpy(dtype=float), predicted), float(covered.mean())


def _reference(tasks: list[_Task]) -> dict[str, Any] | None:
    per_dataset: dict[str, dict[str, float]] = {}
    for task in tasks:
        result = _same_network_reference(task)
        if result is not None:
            metrics, coverage = result
            per_dataset[task.dataset] = {**metrics, "coverage": coverage}
    if not per_dataset:
        return None
    summary: dict[str, Any] = {
        "name": "same_networks",
        "description": "each test network's mean chance-corrected accuracy on the training "
                       "datasets where it was trained there (not a predictor)",
    }
    summary.update({f"{m}_mean": _mean([d[m] for d in per_dataset.values()])
                    for m in (*METRICS, "coverage")})
    summary["per_dataset"] = per_dataset
    return summary


def _predict_with_std(est: BasePredictor, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The prediction and its standard deviation (NaN for a predictor without one)."""
    try:
        mean, std = est.predict(test, return_std=True)
    except NotImplementedError:
        mean = est.predict(test)
        std = np.full(len(mean), np.nan)
    return np.asarray(mean, dtype=float), np.asarray(std, dtype=float)


def _per_family(per_dataset: Mapping[str, Mapping[str, float]], families: Mapping[str, str]
                ) -> dict[str, dict[str, float]]:
    """Each family's mean of every metric over its held-out datasets, and their number."""
    out: dict[str, dict[str, float]] = {}
    for family in sorted({families[d] for d in per_dataset}):
        members = [m for d, m in per_dataset.items() if families[d] == family]
        out[family] = {metric: _mean([m[metric] for m in members]) for metric in members[0]}
        out[family]["datasets"] = len(members)
    return out


def _side_by_side(scenarios: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per predictor, the headline figures of every scenario next to each other."""
    keys = ("kendall_tau_mean", "mae_mean", "top10_precision_mean", "coverage_1sigma_mean",
            "coverage_2sigma_mean")
    out: dict[str, dict[str, Any]] = {}
    for scenario, entry in scenarios.items():
        for name, summary in entry.get("predictors", {}).items():
            out.setdefault(name, {})[scenario] = {
                **{key: summary.get(key) for key in keys},
                "per_family_kendall_tau": {family: values.get("kendall_tau") for family, values
                                           in summary.get("per_family", {}).items()},
            }
    return out


def _finite(value: Any) -> Any:
    """NaN and infinities become None so that the report is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _scatter(path: Path, scenario: str, name: str, points: list[tuple[str, np.ndarray, np.ndarray]],
             summary: Mapping[str, Any]) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for dataset, real, predicted in points:
        ax.scatter(real, predicted, s=9, alpha=0.7, label=dataset)
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
    everything = np.concatenate([np.concatenate([r, p]) for _, r, p in points])
    low, high = float(everything.min()), float(everything.max())
    pad = 0.03 + 0.05 * (high - low)
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("real accuracy")
    ax.set_ylabel("predicted accuracy")
    tau, mae = summary.get("kendall_tau_mean"), summary.get("mae_mean")
    ax.set_title(f"scenario {scenario}, {name}: tau {tau:.3f}, MAE {mae:.3f}"
                 if tau is not None and mae is not None and math.isfinite(tau)
                 and math.isfinite(mae) else f"scenario {scenario}, {name}")
    if len(points) <= 15:
        ax.legend(fontsize=6, loc="upper left", markerscale=1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _proxy_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows holding each zero-cost proxy column, and rows holding any (``"any"``)."""
    present = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce").notna()
                            if c in frame.columns else pd.Series(False, index=frame.index)
                            for c in PROXY_COLUMNS})
    return {**{c: int(present[c].sum()) for c in PROXY_COLUMNS},
            "any": int(present.any(axis=1).sum()) if len(present.columns) else 0}


def _check_reachable_min_datasets(frame: pd.DataFrame, min_datasets: int) -> None:
    """Refuse a ``min_datasets`` that no DCN window of scenario C can hold, before any fit."""
    with_dcn = int(frame.loc[frame["dcn"].notna(), "_dataset"].nunique())
    most = max(with_dcn - 1, 0)  # the held-out dataset never trains its own predictor
    if min_datasets > most:
        raise InvalidOptionError(
            f"min_datasets must be at most {most} (scenario C fits on the datasets with a DCN "
            f"other than the held-out one, and the LDE has {with_dcn} datasets with a DCN, "
            f"{int(frame['_dataset'].nunique())} in all), but got {min_datasets}"
        )


def run_predictor_benchmark(
    store: ExperimentStore | pd.DataFrame,
    *,
    scenarios: Sequence[str] = SCENARIOS,
    predictors: Sequence[str] | Mapping[str, BasePredictor] | None = None,
    tau: float = DEFAULT_TAU,
    test_fraction: float = 0.5,
    seed: int = 0,
    min_experiments: int = DEFAULT_MIN_EXPERIMENTS,
    min_datasets: int | None = None,
    unseen_architectures: bool = False,
    plot_dir: str | Path | None = None,
    track: bool = True,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Compare predictors on scenarios A, B, C, F and R of an LDE.

    Args:
        store: the LDE (its ok experiments are used), or an experiment frame.
        scenarios: any of ``"A"``, ``"B"``, ``"C"``, ``"F"``, ``"R"`` (a string such as ``"AC"``
            or ``"A,C"`` works too). ``"R"`` is reported as the three entries of
            :data:`REGIME_PARTS`.
        predictors: registry names (default: every registered predictor), or a mapping of
            names to unfitted estimators (cloned per split; ``use_dcn`` is set per scenario).
        tau: DCN window half-width of scenarios C, F and R.
        test_fraction: share of each dataset held out in scenario A, in (0, 1).
        seed: seeds the splits of scenario A and every predictor.
        min_experiments: scenarios C, F and R widen the DCN window until it holds this many
            experiments
        min_datasets: ... and this many datasets. ``None``: :data:`DEFAULT_MIN_DATASETS`, or
            as many as there are when the LDE has fewer. A number given must be reachable: at
            most the datasets with a DCN besides the held-out one (checked before any fit).
        unseen_architectures: keep every test network's architecture out of its training set
            (see the module docstring).
        plot_dir: where the scatter plots go (created); ``None``: no plots unless ``track``,
            which then writes them to a temporary folder for MLflow.
        track: log an MLflow run (kind ``benchmark``).
        progress: called as ``progress(done, total, label)`` after each fit.

    Returns:
        ``{"scenarios": {S: {"predictors": {name: {"<metric>_mean": ..., "fit_seconds": ...,
        "calibration_pooled": {...}, "per_dataset": {dataset: {metric: ...}},
        "per_family": {family: {metric: ..., "datasets": n}}}}, "datasets": {dataset:
        {"n_train", "n_test", ...}}, "skipped": bool, "note": str | None}}, "summary": {name:
        {S: {headline figures}}}, "families": {family: [datasets]}, "regimes": {regime:
        [datasets]}, "lde": {..., "rows_with_proxies": {column: rows}}, "config": {...},
        "plots": [...], "mlflow_run_id": ..., "seconds": ...}`` with metrics from
        :data:`tapaskit.predictor.METRICS` and
        :data:`~tapaskit.predictor.metrics.CALIBRATION_METRICS`; undefined values are ``None``.

    Raises:
        InvalidOptionError: an unknown scenario or predictor, ``test_fraction`` outside (0, 1),
            a ``min_datasets`` below 1 or, with scenario C, above what the LDE can give.
        DataError: the LDE holds no ok experiment.
    """
    started = time.perf_counter()
    if isinstance(scenarios, str):  # "AC", "A,C" and "a c" all mean A and C
        scenarios = [c for c in scenarios.upper() if c not in ", "]
    wanted = list(dict.fromkeys(str(s).upper() for s in scenarios))
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown or not wanted:
        raise InvalidOptionError(
            f"scenarios must be among {', '.join(SCENARIOS)}, but got {list(scenarios)!r}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise InvalidOptionError(f"test_fraction must be in (0, 1), but got {test_fraction!r}")
    explicit_min_datasets = min_datasets is not None
    min_datasets = check_min_datasets(DEFAULT_MIN_DATASETS if min_datasets is None else min_datasets)
    factories = _predictor_factories(predictors, seed)
    if plot_dir is not None:  # a folder that cannot be made fails now, not after minutes of fits
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
    frame = store.query() if isinstance(store, ExperimentStore) else store
    if isinstance(frame, pd.DataFrame) and "status" in frame.columns:
        frame = frame[frame["status"].astype(object) == "ok"]
    frame = frame[frame[TARGET].notna()].copy() if len(frame) else frame
    if len(frame) == 0:
        raise DataError("the LDE holds no ok experiment to benchmark predictors on")
    frame["_dataset"] = _dataset_keys(frame)
    frame["_family"] = dataset_families(frame).to_numpy()
    frame["_regime"] = dataset_regimes(frame).to_numpy()
    if explicit_min_datasets and "C" in wanted:
        _check_reachable_min_datasets(frame, min_datasets)

    planned: dict[str, tuple[list[_Task], str | None]] = {}
    for scenario in wanted:
        if scenario == "A":
            planned[scenario] = _scenario_a(frame, test_fraction, seed)
        elif scenario == "B":
            planned[scenario] = _scenario_b(frame)
        elif scenario == "C":
            planned[scenario] = _scenario_c(frame, tau, min_experiments, min_datasets)
        elif scenario == "F":
            planned[scenario] = _scenario_f(frame, tau, min_experiments, min_datasets)
        else:
            planned.update(_scenario_r(frame, tau, min_experiments, min_datasets))
    splits = {(scenario, task.dataset): _splits(task, scenario, unseen_architectures, seed)
              for scenario, (tasks, _) in planned.items() for task in tasks}
    total = sum(len(pairs) for pairs in splits.values()) * len(factories)
    done = 0

    report: dict[str, Any] = {"scenarios": {}}
    families = dict(zip(frame["_dataset"], frame["_family"]))
    scatter_points: dict[tuple[str, str], list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for scenario, (tasks, note) in planned.items():
        entry: dict[str, Any] = {"skipped": not tasks, "note": note, "predictors": {},
                                 "datasets": {t.dataset: t.info for t in tasks}}
        use_dcn = scenario != "B"
        for name, build in factories.items():
            per_dataset: dict[str, dict[str, float]] = {}
            pooled: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            fit_seconds = 0.0
            for task in tasks:
                reports, reals, predictions, stds = [], [], [], []
                for train, test in splits[(scenario, task.dataset)]:
                    est = build(use_dcn)
                    tick = time.perf_counter()
                    est.fit(train, train[TARGET])
                    fit_seconds += time.perf_counter() - tick
                    mean, std = _predict_with_std(est, test)
                    predictions.append(mean)
                    stds.append(std)
                    reals.append(test[TARGET].to_numpy(dtype=float))
                    reports.append(regression_report(reals[-1], predictions[-1]))
                    done += 1
                    if progress is not None:
                        progress(done, total, f"{scenario} {name} {task.dataset}")
                if not reports:
                    continue
                real, predicted, std = (np.concatenate(x) for x in (reals, predictions, stds))
                per_dataset[task.dataset] = {m: _mean([r[m] for r in reports]) for m in METRICS}
                per_dataset[task.dataset].update(calibration_report(real, predicted, std))
                pooled.append((real, predicted, std))
                scatter_points.setdefault((scenario, name), []).append(
                    (task.dataset, real, predicted))
            if not per_dataset:
                continue
            summary = {f"{m}_mean": _mean([d[m] for d in per_dataset.values()])
                       for m in (*METRICS, *CALIBRATION_METRICS)}
            summary["fit_seconds"] = fit_seconds
            summary["calibration_pooled"] = calibration_report(
                *(np.concatenate([p[i] for p in pooled]) for i in range(3)))
            summary["per_dataset"] = per_dataset
            summary["per_family"] = _per_family(per_dataset, families)
            entry["predictors"][name] = summary
        if scenario in _LEAVE_OUT and not unseen_architectures:
            entry["reference"] = _reference(tasks)
        report["scenarios"][scenario] = entry
    report["summary"] = _side_by_side(report["scenarios"])
    report["families"] = {family: sorted(k for k, f in families.items() if f == family)
                          for family in sorted(set(families.values()))}
    regimes = dict(zip(frame["_dataset"], frame["_regime"]))
    report["regimes"] = {regime: sorted(k for k, r in regimes.items() if r == regime)
                         for regime in sorted(set(regimes.values()))}

    per = frame.groupby("_dataset")
    report["lde"] = {
        "experiments": int(len(frame)),
        "datasets": int(frame["_dataset"].nunique()),
        "datasets_with_dcn": int(frame.loc[frame["dcn"].notna(), "_dataset"].nunique()),
        "architectures": int(frame["arch_hash"].nunique()) if "arch_hash" in frame else None,
        "per_dataset": {
            key: {"experiments": int(len(part)),
                  "dcn": None if part["dcn"].isna().all() else float(part["dcn"].iloc[0]),
                  "accuracy_mean": float(part[TARGET].mean())}
            for key, part in per
        },
        "rows_with_proxies": _proxy_counts(frame),
    }
    report["config"] = {"scenarios": wanted, "predictors": list(factories), "tau": tau,
                        "test_fraction": test_fraction, "seed": seed,
                        "min_experiments": min_experiments, "min_datasets": min_datasets,
                        "unseen_architectures": unseen_architectures,
                        "architecture_folds": ARCHITECTURE_FOLDS if unseen_architectures else None}

    with tempfile.TemporaryDirectory() as scratch:
        out_dir = Path(plot_dir) if plot_dir is not None else (Path(scratch) if track else None)
        plots: list[Path] = []
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for (scenario, name), points in scatter_points.items():
                summary = report["scenarios"][scenario]["predictors"][name]
                plots.append(_scatter(out_dir / f"predictor_{scenario}_{name}.png", scenario,
                                      name, points, summary))
        report["plots"] = [str(p) for p in plots] if plot_dir is not None else []
        report["seconds"] = time.perf_counter() - started
        report = _finite(report)
        report["mlflow_run_id"] = _track(report, plots) if track else None
    return report


#: The variants of :func:`run_proxy_ablation`: no proxies, each proxy alone, all of them.
ABLATION_VARIANTS: dict[str, tuple[str, ...]] = {
    "none": (),
    **{column.removeprefix("proxy_"): (column,) for column in PROXY_COLUMNS},
    "all": PROXY_COLUMNS,
}


def run_proxy_ablation(
    store: ExperimentStore | pd.DataFrame,
    *,
    predictor: str = "ensemble",
    scenarios: Sequence[str] = ("C", "F"),
    variants: Sequence[str] | None = None,
    tau: float = DEFAULT_TAU,
    seed: int = 0,
    min_experiments: int = DEFAULT_MIN_EXPERIMENTS,
    min_datasets: int | None = None,
    unseen_architectures: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """What the zero-cost proxies are worth: one predictor with no proxies, each proxy alone and
    all of them, on the same splits (``tapas benchmark predictor --ablation-proxies``).

    Args:
        store: the LDE, or an experiment frame (its ``proxy_*`` columns are the proxies).
        predictor: a registry name of a predictor with a ``proxies`` hyperparameter (the default
            ensemble, TAP, LightGBM, the random forest).
        scenarios: scenarios to run (default C and F).
        variants: keys of :data:`ABLATION_VARIANTS` (default all of them, in its order).
        tau, seed, min_experiments, min_datasets, unseen_architectures, progress: as
            :func:`run_predictor_benchmark`.

    Returns:
        ``{"table": {variant: {scenario: {"kendall_tau_mean", "mae_mean",
        "top10_precision_mean"}}}, "rows_with_proxies": {column: rows, "any": rows},
        "experiments": rows, "benchmark": the full report of run_predictor_benchmark,
        "config": {...}}``.

    Raises:
        InvalidOptionError: an unknown variant, or a predictor without a ``proxies``
            hyperparameter.
    """
    names = list(ABLATION_VARIANTS) if variants is None else list(variants)
    unknown = [v for v in names if v not in ABLATION_VARIANTS]
    if unknown or not names:
        raise InvalidOptionError(
            f"variants must be among {', '.join(ABLATION_VARIANTS)}, but got {unknown or names!r}")
    estimators: dict[str, BasePredictor] = {}
    for variant in names:
        est = seeded_predictor(predictor, seed)
        if "proxies" not in est.get_params(deep=False):
            raise InvalidOptionError(
                f"the proxy ablation needs a predictor that reads proxies (ensemble, tap, lightgbm, "
                f"random_forest), but got {predictor!r}")
        estimators[variant] = est.set_params(proxies=ABLATION_VARIANTS[variant])
    report = run_predictor_benchmark(
        store, scenarios=scenarios, predictors=estimators, tau=tau, seed=seed,
        min_experiments=min_experiments, min_datasets=min_datasets,
        unseen_architectures=unseen_architectures, track=False, progress=progress)
    keys = ("kendall_tau_mean", "mae_mean", "top10_precision_mean")
    table = {variant: {scenario: {key: entry["predictors"].get(variant, {}).get(key) for key in keys}
                       for scenario, entry in report["scenarios"].items() if not entry["skipped"]}
             for variant in names}
    return {"table": table, "rows_with_proxies": report["lde"]["rows_with_proxies"],
            "experiments": report["lde"]["experiments"], "benchmark": report,
            "config": {"predictor": predictor, "variants": names, **report["config"]}}


def _track(report: dict[str, Any], plots: list[Path]) -> str | None:
    from tapaskit.tracking import Tracker

    config = report["config"]
    params = {**config, "experiments": report["lde"]["experiments"],
              "datasets": report["lde"]["datasets"]}
    with Tracker().run("benchmark", "predictor", params) as run:
        metrics = {}
        for scenario, entry in report["scenarios"].items():
            for name, summary in entry["predictors"].items():
                for metric in (*METRICS, *CALIBRATION_METRICS):
                    metrics[f"{scenario}.{name}.{metric}_mean"] = summary[f"{metric}_mean"]
            reference = entry.get("reference")
            if reference:
                for metric in METRICS:
                    metrics[f"{scenario}.reference.{metric}_mean"] = reference[f"{metric}_mean"]
        run.log_metrics(metrics)
        run.log_dict(report, "predictor_benchmark.json")
        for path in plots:
            run.log_artifact(path, "plots")
        return run.run_id
