"""A real search against its two yardsticks, on a real dataset, on this machine. Prints JSON.

Runs, one after the other and with the same schedule for every full training:

1. ``tapas search DATASET --preset PRESET`` (rounds, screening, the predictor refitted between
   rounds), on a fresh LDE copy of the user's default so that repeated runs start equal;
2. random search: as many architectures as the search trained fully, drawn uniformly from the
   same token grammar (the search space) within the same parameter and FLOP budgets, each trained
   with the search's full schedule; the best by validation accuracy;
3. the README's two-conv network (``examples/two_conv.json``) with the same schedule.

Every accuracy it reports as ``test`` is measured once on the dataset's test split (Fashion-MNIST's
official 10,000 ``t10k`` images) after the network was chosen on validation accuracy; the wall time
of each arm includes everything that arm needs (the search's DCN, predictor fits and screening).

    python benchmarks/real_search.py --dataset fashion-mnist --preset cpu --out out/real-search
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tapaskit.datasets import load_dataset
from tapaskit.search.tokens import TokenGrammar
from tapaskit.space.architecture import Architecture
from tapaskit.space.compact import compact_form
from tapaskit.space.shapes import infer_shapes
from tapaskit.store import open_lde
from tapaskit.training import LocalExecutor, TrainingJob
from tapaskit.workflows.search import Search, SearchConfig

ROOT = Path(__file__).resolve().parents[1]


def random_architectures(n: int, input_shape, num_classes: int, max_params: int, max_flops: int,
                         seed: int) -> list[Architecture]:
    """``n`` distinct networks drawn uniformly per token from the search space, within budget."""
    rng, grammar, found = np.random.default_rng(seed), TokenGrammar(), {}
    while len(found) < n:
        arch = grammar.sample(rng, input_shape).architecture()
        summary = infer_shapes(arch, input_shape, num_classes)
        if summary.params <= max_params and summary.flops <= max_flops:
            found.setdefault(arch.arch_hash, arch)
    return list(found.values())


def train_all(archs: list[Architecture], dataset, hparams, seed: int) -> list[dict]:
    jobs = [TrainingJob(key=f"bench/{a.arch_hash}", arch=a, dataset=dataset, hparams=hparams, seed=seed,
                        evaluate_test=True) for a in archs]
    rows = []
    with LocalExecutor() as executor:
        for job, r in executor.run(jobs):
            rows.append({"arch": compact_form(job.arch), "arch_hash": job.arch.arch_hash, "status": r.status.value,
                         "validation": r.peak_accuracy, "test": r.test_accuracy, "params": r.params,
                         "seconds": round(r.seconds, 1)})
    return rows


def best_of(rows: list[dict]) -> dict | None:
    ok = [r for r in rows if r["status"] == "ok"]
    return max(ok, key=lambda r: r["validation"]) if ok else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/real-search")
    parser.add_argument("--skip-search", action="store_true", help="only the two yardsticks")
    parser.add_argument("--skip-yardsticks", action="store_true",
                        help="only the search (the yardsticks depend on the schedule and seed alone)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    report: dict = {"dataset": args.dataset, "preset": args.preset, "seed": args.seed}

    from tapaskit import paths

    open_lde()  # the user's default LDE, filled on first use
    lde = Path(tempfile.mkdtemp()) / "lde.duckdb"
    shutil.copy(paths.default_lde_path(), lde)
    config = SearchConfig(args.dataset, preset=args.preset, seed=args.seed)
    search = Search(config, out_dir=out / "search", force=True, lde=lde)
    c = search.config
    report["config"] = {k: getattr(c, k) for k in ("budget", "top_k", "trainings", "screen", "epochs", "max_train",
                                                   "max_params", "max_flops", "final_epochs")}
    hparams = search.full_hparams()
    ds = search.dataset
    if not args.skip_search:
        started = time.perf_counter()
        result = search.run()
        best = result.model
        report["search"] = {
            "wall_seconds": round(time.perf_counter() - started, 1), "full_trainings": len(result.candidates),
            "screening_trainings": len(result.screened), "best": compact_form(best.arch),
            "validation": best.result.peak_accuracy, "test": best.result.test_accuracy,
            "params": best.result.params,
            "rounds": [{"round": r.round, "predictor_mae": r.predictor_mae,
                        "best_validation": r.best_validation_accuracy} for r in result.rounds],
            "candidates": [{"arch": compact_form(t.arch), "validation": t.result.peak_accuracy,
                            "test": t.result.test_accuracy, "predicted": t.predicted_accuracy}
                           for t in result.candidates],
            "timings": {k: round(v, 1) for k, v in result.timings.items()},
            "regime": search.regime, "first_fit": search.first_fit.to_dict(),
            "guard": {"reference_std": result.proposals.guard_reference_std,
                      "guarded_share": result.proposals.guarded_share},
            "screened": [{"arch": compact_form(t.arch), "stage": t.stage, "validation": t.result.peak_accuracy,
                          "predicted": t.predicted_accuracy} for t in result.screened]}

    report["schedule"] = hparams.to_dict()
    if args.skip_yardsticks:
        return _write(report, out)
    started = time.perf_counter()
    archs = random_architectures(c.trainings, ds.input_shape, ds.num_classes, c.max_params, c.max_flops, args.seed)
    rows = train_all(archs, ds, hparams, args.seed)
    report["random_search"] = {"wall_seconds": round(time.perf_counter() - started, 1), "trainings": len(rows),
                               "best": best_of(rows), "all": rows}

    started = time.perf_counter()
    two_conv = Architecture.from_json((ROOT / "examples" / "two_conv.json").read_text())
    report["two_conv"] = {**train_all([two_conv], ds, hparams, args.seed)[0],
                          "wall_seconds": round(time.perf_counter() - started, 1)}
    return _write(report, out)


def _write(report: dict, out: Path) -> dict:
    print(json.dumps(report, indent=2, default=str))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


if __name__ == "__main__":
    main()
