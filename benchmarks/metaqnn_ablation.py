"""How far predictor variants get on the MetaQNN CIFAR-10 file (scenario A, 50/50 splits).

The issue's target is Kendall tau >= 0.70 on a 50/50 split of the 1,000 MetaQNN networks; TAP gets
about 0.64. This script checks whether the gap is a matter of tuning: it fits TAP variants
(capacity, training length, a ranking loss, averaged members), the registry baselines and several
scikit-learn model families on the flat features, each on the same ``--splits`` random 50/50
splits, and prints one JSON object with the tau of every split and their mean (also written to
``--out``). It reads the CSV by path (it is not part of the repository).

    python benchmarks/metaqnn_ablation.py --csv ../shared/data/metaqnn_cifar10.csv --out out/ablation.json

About 10 minutes on 2 CPU cores (the TAP variants dominate); ``--quick`` runs three variants.
``--learning-curve`` instead fits TAP on 250, 500 and 800 networks of 5 folds (each tested on its
held-out 200) to show how far more data of the same kind would go (about 2.5 minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from bench_output import emit_json  # noqa: E402

from lde import MemoryStore  # noqa: E402 - after the path set-up
from tapaskit.store.metaqnn_import import import_metaqnn  # noqa: E402
from tapaskit.predictor import encode_frame, make_predictor  # noqa: E402
from tapaskit.predictor.features import flat_features  # noqa: E402
from tapaskit.predictor.inputs import check_frame  # noqa: E402
from tapaskit.predictor.metrics import kendall_tau  # noqa: E402

# name -> registry predictor and its hyperparameters
REGISTRY_VARIANTS: dict[str, tuple[str, dict]] = {
    "tap": ("tap", {}),
    "tap, 5 members": ("tap", {"n_members": 5}),
    "tap, lr 1e-3, 3000 steps": ("tap", {"lr": 1e-3, "train_steps": 3000}),
    "tap, rank loss 1.0": ("tap", {"rank_weight": 1.0}),
    "tap, hidden 64, head 64": ("tap", {"hidden_size": 64, "head_size": 64}),
    "tap, 3000 steps": ("tap", {"train_steps": 3000}),
    "tap, dropout 0.1": ("tap", {"dropout": 0.1}),
    "ensemble": ("ensemble", {}),
    "random_forest": ("random_forest", {}),
    "lightgbm": ("lightgbm", {}),
}
QUICK = ("tap", "random_forest", "lightgbm")


def _flat_models(seed: int) -> dict[str, Callable[[], object]]:
    from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    return {
        "flat: extra trees": lambda: ExtraTreesRegressor(500, min_samples_leaf=2, max_features=0.5,
                                                         n_jobs=2, random_state=seed),
        "flat: gradient boosting": lambda: GradientBoostingRegressor(
            n_estimators=400, learning_rate=0.03, max_depth=3, subsample=0.8, random_state=seed),
        "flat: SVR (RBF)": lambda: make_pipeline(StandardScaler(), SVR(C=1.0, epsilon=0.01)),
        "flat: kernel ridge (RBF)": lambda: make_pipeline(
            StandardScaler(), KernelRidge(alpha=0.1, kernel="rbf", gamma=0.02)),
        "flat: Gaussian process": lambda: make_pipeline(StandardScaler(), GaussianProcessRegressor(
            ConstantKernel() * RBF(5.0) + WhiteKernel(), normalize_y=True, random_state=seed)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=Path("../shared/data/metaqnn_cifar10.csv"))
    parser.add_argument("--splits", type=int, default=3, help="random 50/50 splits (seeds 0..n-1)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--learning-curve", action="store_true",
                        help="TAP's tau against the number of training networks instead")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    store = MemoryStore()
    import_metaqnn(store, args.csv)
    frame = check_frame(store.query())
    frame = frame[frame["status"].astype(object) == "ok"].reset_index(drop=True)
    y = frame["peak_accuracy"].to_numpy(dtype=float)
    features = np.nan_to_num(flat_features(encode_frame(frame)))
    n = len(frame)
    splits = []
    for seed in range(args.splits):
        order = np.random.default_rng([seed, 0]).permutation(n)
        splits.append((seed, order[n // 2:], order[: n // 2]))  # train, test

    if args.learning_curve:
        emit_json({"csv": str(args.csv), "experiments": n, "learning_curve": _learning_curve(frame, y)},
              args.out)
        return

    results: dict[str, dict] = {}

    def record(name: str, taus: list[float], started: float) -> None:
        results[name] = {"kendall_tau": [round(t, 4) for t in taus],
                         "kendall_tau_mean": round(float(np.mean(taus)), 4),
                         "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name:32s} {results[name]['kendall_tau_mean']:.3f}", file=sys.stderr, flush=True)

    for name, (registry_name, params) in REGISTRY_VARIANTS.items():
        if args.quick and name not in QUICK:
            continue
        started, taus = time.perf_counter(), []
        for seed, train, test in splits:
            est = make_predictor(registry_name, **params)
            if "seed" in est.get_params():
                est.set_params(seed=seed)
            est.fit(frame.iloc[train], y[train])
            taus.append(kendall_tau(y[test], est.predict(frame.iloc[test])))
        record(name, taus, started)
    if not args.quick:
        for name in _flat_models(0):
            started, taus = time.perf_counter(), []
            for seed, train, test in splits:
                model = _flat_models(seed)[name]().fit(features[train], y[train])
                taus.append(kendall_tau(y[test], model.predict(features[test])))
            record(name, taus, started)

    emit_json({"csv": str(args.csv), "experiments": n, "splits": args.splits, "results": results},
          args.out)


def _learning_curve(frame, y: np.ndarray, sizes: tuple[int, ...] = (250, 500, 800),
                    folds: int = 5) -> dict[str, dict]:
    order = np.random.default_rng(0).permutation(len(frame))
    parts = np.array_split(order, folds)
    curve = {}
    for size in sizes:
        taus = []
        for k in range(folds):
            rest = np.concatenate([parts[j] for j in range(folds) if j != k])[:size]
            est = make_predictor("tap", seed=k).fit(frame.iloc[rest], y[rest])
            taus.append(kendall_tau(y[parts[k]], est.predict(frame.iloc[parts[k]])))
        curve[str(size)] = {"kendall_tau": [round(t, 4) for t in taus],
                            "kendall_tau_mean": round(float(np.mean(taus)), 4)}
        print(f"tap on {size} networks: {curve[str(size)]['kendall_tau_mean']:.3f}",
              file=sys.stderr, flush=True)
    return curve


if __name__ == "__main__":
    main()
