"""The ``tapas`` command line: a thin Typer layer over tapaskit.

Every command parses its options, calls one public function of tapaskit and prints the result
as a table (default) or JSON (``--json``). Errors a user can cause end as one line on stderr and
exit code 1; progress goes to stderr so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="tapas",
    help="tapaskit: train-less accuracy prediction (TAPAS) and architecture search for CNNs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
lde_app = typer.Typer(help="The lifelong database of experiments (LDE): stats, query, import, export, delete.",
                      no_args_is_help=True)
benchmark_app = typer.Typer(help="Benchmarks that print JSON: predictor quality, search quality.",
                            no_args_is_help=True)
app.add_typer(lde_app, name="lde")
app.add_typer(benchmark_app, name="benchmark")

# In a pipe or a log a sentence stays one line, and tables get 200 columns instead of rich's 80 (which
# cut dataset and predictor names short); a terminal, or COLUMNS when set, keeps its own width.
_PIPE_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
out = Console(soft_wrap=True, width=_PIPE_WIDTH)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed (default: the global --seed or 0).")]
LdeOpt = Annotated[Optional[Path], typer.Option("--lde", help="LDE file to use instead of the one in the data home.")]
# where trainings run (train, search, lde seed); see docs/scale.md
ExecutorOpt = Annotated[str, typer.Option("--executor", help="Where trainings run: local (this machine) or ray (a Ray cluster).")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Trainings at once (default: local 1, or one per GPU; ray: fill the cluster).")]
RayAddressOpt = Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster to join (host:port or auto; default: $RAY_ADDRESS, else a local Ray is started).")]
GpusPerTrialOpt = Annotated[Optional[float], typer.Option("--gpus-per-trial", help="Ray: GPUs per training, fractions allowed (default: 1 when the cluster has GPUs).")]
CpusPerTrialOpt = Annotated[float, typer.Option("--cpus-per-trial", help="Ray: CPUs (and torch threads) per training.")]
TrialTimeoutOpt = Annotated[Optional[float], typer.Option("--trial-timeout", help="Ray: seconds after which a training is cancelled and recorded failed.")]
MaxRetriesOpt = Annotated[int, typer.Option("--max-retries", help="Reruns of a training whose worker process died.")]
RayDataOpt = Annotated[str, typer.Option("--ray-data", help="Ray: how datasets reach the workers: object-store (sent once) or path (each task loads it by its path or name, which every node must see).")]


def _executor(kind: str, workers: int | None, device: str | None, ray_address: str | None,
              gpus_per_trial: float | None, cpus_per_trial: float, trial_timeout: float | None,
              max_retries: int, ray_data: str) -> Any:
    from tapaskit.training import make_executor

    return make_executor(kind, workers=workers, device=device, ray_address=ray_address,
                         gpus_per_trial=gpus_per_trial, cpus_per_trial=cpus_per_trial,
                         trial_timeout=trial_timeout, max_retries=max_retries, ray_data=ray_data)


class Globals:
    """Options given before the command (``tapas --json --seed 3 COMMAND``)."""

    json: bool = False
    seed: int = 0
    lde: Path | None = None


G = Globals()


@app.callback()
def _global_options(
    json_: JsonOpt = False,
    seed: Annotated[int, typer.Option("--seed", help="Default seed for every command.")] = 0,
    home: Annotated[Optional[Path], typer.Option(
        "--home", help="Data home (LDE, MLflow store). Default: $TAPAS_HOME or the user data dir.")] = None,
    lde: LdeOpt = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=lambda v: _print_version(v),
                                          help="Print tapaskit's version and exit.")] = False,
) -> None:
    """tapaskit: characterize datasets, predict accuracy without training, and search CNNs.

    Examples:

        tapas datasets

        tapas train digits --arch '[C(32,3,1), P(2,2), C(64,3,1), GAP(10), SM(10)]' --epochs 3

        tapas characterize fashion-mnist --json

        tapas search digits --preset quick --out ./best
    """
    G.json, G.seed, G.lde = json_, seed, lde
    if home is not None:
        os.environ["TAPAS_HOME"] = str(home)


def _print_version(value: bool) -> None:
    if value:
        from tapaskit import __version__

        out.print(f"tapaskit {__version__}", highlight=False)
        raise typer.Exit()


def _json_mode(flag: bool) -> bool:
    return flag or G.json


def _seed(value: int | None) -> int:
    return G.seed if value is None else value


def _lde_path(value: Path | None) -> Path | None:
    return value if value is not None else G.lde


def _emit(as_json: bool, data: Any, render: Callable[[], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        render()


class _LazyProgress:
    """A rich progress display on stderr that appears with its first task, so that a command
    refusing its input before any work prints its one error line and no empty display."""

    def __init__(self) -> None:
        self._progress: Any = None

    def add_task(self, description: str, **kwargs: Any) -> Any:
        if self._progress is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                      console=err, transient=False)
            self._progress.start()
        return self._progress.add_task(description, **kwargs)

    def update(self, task: Any, **kwargs: Any) -> None:
        self._progress.update(task, **kwargs)

    def remove_task(self, task: Any) -> None:
        self._progress.remove_task(task)

    def bar(self, description: str) -> Callable[..., None]:
        """An updater of one bar that is added at its first update (``completed=, total=, info=``)."""
        tasks: list[Any] = []

        def update(**fields: Any) -> None:
            if not tasks:
                tasks.append(self.add_task(description, total=fields.get("total"), info=""))
            self.update(tasks[0], **fields)

        return update

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class _LineProgress(_LazyProgress):
    """The same interface in plain lines, for stderr in a pipe or a log: a line when a task passes a
    quarter of its total and when it ends, one per update for tasks without a total (a training's
    epochs), instead of bars that a file would hold cut off or not at all."""

    def __init__(self) -> None:
        self._tasks: dict[int, dict[str, Any]] = {}

    def add_task(self, description: str, **kwargs: Any) -> Any:
        task = len(self._tasks)
        self._tasks[task] = {"description": description, "total": kwargs.get("total"), "completed": 0,
                             "info": kwargs.get("info", ""), "quarter": 0}
        return task

    def update(self, task: Any, **kwargs: Any) -> None:
        state = self._tasks[task]
        before = state["completed"]
        state.update({k: v for k, v in kwargs.items() if k in ("total", "completed", "info")})
        total, done = state["total"], state["completed"]
        if total:
            quarter = min(4, int(4 * done / total))
            if quarter > state["quarter"]:
                state["quarter"] = quarter
                err.print(f"{state['description']}: {done}/{total} {state['info']}".rstrip(), highlight=False,
                          markup=False)
        elif done != before:
            err.print(f"{state['description']}: {done} {state['info']}".rstrip(), highlight=False, markup=False)

    def remove_task(self, task: Any) -> None:
        self._tasks.pop(task, None)

    def stop(self) -> None:
        pass


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress display on stderr (shown from its first task on; plain lines when stderr is not a
    terminal), or None when disabled (``--json``)."""
    if not enabled:
        yield None
        return
    progress = _LazyProgress() if err.is_terminal else _LineProgress()
    try:
        yield progress
    finally:
        progress.stop()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    from rich.markup import escape  # dataset specs like name[n=5000] are not markup

    for row in rows:
        table.add_row(*["" if v is None else (f"{v:.4f}" if isinstance(v, float) else escape(str(v))) for v in row])
    out.print(table)


# ---------------------------------------------------------------------------------------- datasets
@app.command("datasets")
def datasets_command(json_: JsonOpt = False) -> None:
    """List the built-in datasets, whether each is available offline here, and why not.

    Any built-in also takes a variant spec, e.g. `fashion-mnist[classes=0,6;n=2000;noise=0.3]`,
    and user data is given by path (image folder, .npz, IDX .gz, CSV).

    Examples:

        tapas datasets

        tapas datasets --json
    """
    from tapaskit.datasets import list_builtin

    infos = list_builtin()
    data = [
        {"name": i.name, "classes": i.num_classes, "shape": list(i.input_shape), "samples": i.num_samples,
         "available": i.available, "reason": i.reason, "description": i.description}
        for i in infos
    ]
    _emit(_json_mode(json_), data, lambda: _table(
        "Built-in datasets", ["name", "classes", "shape (C,H,W)", "samples", "available", "note"],
        [[d["name"], d["classes"], "x".join(map(str, d["shape"])), d["samples"],
          "yes" if d["available"] else "no", d["reason"] or d["description"]] for d in data]))


# ------------------------------------------------------------------------------------------- train
@app.command("train")
def train_command(
    dataset: Annotated[str, typer.Argument(help="Built-in name, variant spec or path to user data.")],
    arch: Annotated[str, typer.Option("--arch", help="Architecture: JSON file, JSON string or MetaQNN string.")],
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle cosine schedule).")] = 3e-3,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 64,
    optimizer: Annotated[str, typer.Option(help="adam, adamw or sgd.")] = "adam",
    weight_decay: Annotated[float, typer.Option(help="Weight decay.")] = 0.0,
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu (default: cuda when present).")] = None,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Append the result to the LDE.")] = True,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
    gpus_per_trial: GpusPerTrialOpt = None,
    cpus_per_trial: CpusPerTrialOpt = 1.0,
    trial_timeout: TrialTimeoutOpt = None,
    max_retries: MaxRetriesOpt = 1,
    ray_data: RayDataOpt = "object-store",
    seed: SeedOpt = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Train one architecture on a dataset for real and report its validation learning curve.

    The result (curve, peak/final accuracy, seconds, device, params, FLOPs, status) is logged to
    MLflow and appended to the LDE (source `train`).

    Examples:

        tapas train digits --arch '[C(32,3,1), C(64,3,2), GAP(10), SM(10)]' --epochs 3

        tapas train 'fashion-mnist[n=5000]' --arch net.json --epochs 2 --json
    """
    from tapaskit.training.trainer import Hyperparameters
    from tapaskit.workflows.train import run_training

    as_json = _json_mode(json_)
    hparams = Hyperparameters(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                              weight_decay=weight_decay)
    with _progress(not as_json) as progress:
        callback = None
        if progress is not None:
            bar = progress.bar("training")

            def callback(epoch: int, loss: float, acc: float) -> None:
                bar(completed=epoch, total=epochs, info=f"loss {loss:.3f}  val acc {acc:.4f}")

        with _executor(executor, workers, device, ray_address, gpus_per_trial, cpus_per_trial, trial_timeout,
                       max_retries, ray_data) as runner:
            result, run_id = run_training(dataset, arch, hparams, seed=_seed(seed), device=device,
                                          lde=_lde_path(lde), record=record, progress=callback, executor=runner)
    data = {**result.to_dict(), "mlflow_run_id": run_id}
    _emit(as_json, data, lambda: _table(
        f"{result.dataset}: {result.status.value}", ["field", "value"],
        [["peak val accuracy", result.peak_accuracy], ["final val accuracy", result.final_accuracy],
         ["curve", ", ".join(f"{a:.3f}" for a in result.curve)], ["params", result.params],
         ["FLOPs", result.flops], ["seconds", round(result.seconds, 2)], ["device", result.device],
         ["message", result.message]]))
    if not result.ok:
        raise typer.Exit(2)


# ------------------------------------------------------------------------------------ characterize
@app.command("characterize")
def characterize_command(
    dataset: Annotated[str, typer.Argument(help="Built-in name, variant spec or path to user data.")],
    probe: Annotated[Optional[str], typer.Option(help="Probe net: mlp (default), convnet-bn or linear.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute even if the LDE holds this DCN.")] = False,
    seed: SeedOpt = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Compute a dataset's DCN (dataset characterization number, higher = easier) with a probe net.

    The probe trains a few epochs on a bounded stratified subsample, so the cost does not grow with
    the dataset. The DCN is stored on the dataset's LDE row; the same content, probe and seed is
    answered from there at once (`cached: true`).

    Examples:

        tapas characterize digits

        tapas characterize 'fashion-mnist[classes=1,8]' --json

        tapas characterize ./my_images --probe mlp --no-cache
    """
    from probenets import DEFAULT_PROBE

    from tapaskit.workflows.characterize import characterize_dataset

    as_json = _json_mode(json_)
    with _progress(not as_json) as progress:
        callback = None
        if progress is not None:
            bar = progress.bar("probe net")

            def callback(epoch: int, epochs: int, acc: float) -> None:
                bar(completed=epoch, total=epochs, info=f"train loss {acc:.4f}")

        result = characterize_dataset(dataset, probe=probe or DEFAULT_PROBE, seed=_seed(seed), use_cache=not no_cache,
                                      lde=_lde_path(lde), progress=callback)
    _emit(as_json, result.to_dict(), lambda: _table(
        f"{result.dataset}", ["field", "value"],
        [["DCN", result.dcn], ["probe accuracy", result.probe_accuracy], ["classes", result.num_classes],
         ["samples", result.num_samples], ["probe", f"{result.probe} v{result.probe_version}"],
         ["seconds", round(result.seconds, 2)], ["cached", result.cached],
         ["fingerprint", result.fingerprint]]))


# --------------------------------------------------------------------------------------------- lde
def _open_store(lde: Path | None, *, existing: bool = False) -> Any:
    """The LDE of a command. ``existing``: the command only reads it, so a named file must be there
    (a mistyped ``--lde`` is an error, not a new empty LDE)."""
    from tapaskit.errors import InvalidOptionError
    from tapaskit.store import open_lde

    path = _lde_path(lde)
    if existing and path is not None and not path.exists():
        raise InvalidOptionError(
            f"no LDE file at {path}; check the --lde path, or create that LDE first "
            f"(`tapas lde import FILE --lde {path}` or `tapas lde seed --lde {path}`)"
        )
    return open_lde(path)


@lde_app.command("path")
def lde_path_command(lde: LdeOpt = None, json_: JsonOpt = False) -> None:
    """Print the LDE file in use (the data home's, unless `--lde` names another).

    Examples:

        tapas lde path
    """
    from tapaskit import paths

    path = _lde_path(lde) or paths.default_lde_path()
    if Path(path).is_dir():
        from tapaskit.errors import InvalidOptionError

        raise InvalidOptionError(f"{path} is a folder; --lde names an LDE file, e.g. {Path(path) / 'lde.duckdb'}")
    _emit(_json_mode(json_), {"path": str(path), "exists": Path(path).exists()},
          lambda: out.print(str(path), highlight=False))


@lde_app.command("stats")
def lde_stats_command(lde: LdeOpt = None, json_: JsonOpt = False) -> None:
    """Summarise the LDE: datasets with their DCN, input shape (C×H×W) and epochs, experiments,
    architectures, and how many ok experiments have zero-cost proxies.

    A fresh data home already holds the embedded default LDE.

    Examples:

        tapas lde stats

        tapas lde stats --lde /tmp/m.duckdb --json
    """
    stats = _open_store(lde, existing=True).stats()

    def render() -> None:
        coverage = stats.get("proxy_coverage")
        out.print(f"datasets {stats['datasets']}  experiments {stats['experiments']} "
                  f"(ok {stats['ok_experiments']})  architectures {stats['architectures']}  "
                  f"DCN {_fmt(stats['dcn_min'])} .. {_fmt(stats['dcn_max'])}  "
                  f"proxies {stats.get('ok_with_proxies', 0)}/{stats['ok_experiments']} ok experiments"
                  f"{'' if coverage is None else f' ({coverage:.0%})'}", highlight=False)
        _table("Datasets", ["name", "DCN", "input", "epochs", "experiments", "ok", "ok with proxies",
                            "mean peak acc"],
               [[d["name"], d["dcn"], "×".join(str(s) for s in d.get("input_shape", [])),
                 ",".join(str(e) for e in d.get("epochs", [])), d["experiments"], d["ok_experiments"],
                 d.get("ok_with_proxies"), d.get("peak_accuracy_mean")]
                for d in stats["per_dataset"]])

    _emit(_json_mode(json_), stats, render)


def _sortable_columns(frame: Any) -> list[str]:
    """The columns of a query's frame that ``--sort`` can order by: all but those holding lists
    (the learning curve)."""
    def holds_lists(name: str) -> bool:
        if str(frame[name].dtype).startswith("list"):  # pyarrow list<...>
            return True
        values = frame[name].dropna()
        return len(values) > 0 and hasattr(values.iloc[0], "__len__") and not isinstance(values.iloc[0], str)

    return [name for name in frame.columns if not holds_lists(name)]


@lde_app.command("query")
def lde_query_command(
    dcn: Annotated[Optional[float], typer.Option(help="Centre of the DCN window.")] = None,
    tau: Annotated[float, typer.Option(help="Half-width of the DCN window.")] = 0.05,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", help="Keep only these datasets (name or fingerprint).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Leave out these datasets.")] = None,
    status: Annotated[str, typer.Option(help="ok, failed, diverged, oom or all.")] = "ok",
    source: Annotated[Optional[str], typer.Option(help="seed, search, train, import or benchmark.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (0 = all).")] = 20,
    sort: Annotated[Optional[str], typer.Option(
        "--sort", metavar="COLUMN",
        help="Order rows by this column (e.g. peak_accuracy, params, flops, dcn, created_at); "
             "a leading '-' (--sort=-params) or --desc sorts in descending order.")] = None,
    desc: Annotated[bool, typer.Option("--desc", help="Sort in descending order (with --sort).")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write all matching rows to .csv or .parquet.")] = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Experiments whose dataset DCN lies within [dcn - tau, dcn + tau] (or all, without --dcn).

    Examples:

        tapas lde query --dcn 0.6 --tau 0.05

        tapas lde query --dataset digits --sort peak_accuracy --desc --limit 5

        tapas lde query --sort=-flops --limit 10 --json

        tapas lde query --status all --source search -o runs.parquet
    """
    from tapaskit.checks import check_int
    from tapaskit.errors import InvalidOptionError

    check_int("limit", limit, 0)
    if output is not None and output.suffix not in (".csv", ".parquet"):
        raise InvalidOptionError(f"--output must end in .csv or .parquet, but got {output.name!r}")
    if desc and sort is None:
        raise InvalidOptionError("--desc orders by the --sort column; add --sort COLUMN")
    sort_column = None
    if sort is not None:
        sort_column, desc = (sort[1:], True) if sort.startswith("-") else (sort, desc)
        sort_column = sort_column.strip()
    frame = _open_store(lde, existing=True).query(
        dcn, tau if dcn is not None else None, datasets=dataset or None, exclude_datasets=exclude or (),
        status=None if status == "all" else status, source=source)
    if sort_column is not None:
        sortable = _sortable_columns(frame)
        if sort_column not in sortable:
            raise InvalidOptionError(f"--sort must name one of the columns {', '.join(sortable)}, "
                                     f"but got {sort_column!r}")
        # stable: rows that tie keep the store's order; missing values last either way
        frame = frame.sort_values(sort_column, ascending=not desc, kind="mergesort", na_position="last",
                                  ignore_index=True)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)  # as `lde export` does
        (frame.to_parquet if output.suffix == ".parquet" else frame.to_csv)(output, index=False)
    shown = frame if limit == 0 else frame.head(limit)
    columns = ["experiment_id", "dataset_name", "dcn", "arch_hash", "depth", "params",
               "peak_accuracy", "status", "source"]
    if sort_column is not None and sort_column not in columns:
        columns.append(sort_column)  # the order is visible
    if _json_mode(json_):
        sys.stdout.write(json.dumps({"matched": len(frame), "rows": json.loads(
            shown.to_json(orient="records", date_format="iso", default_handler=str))}, indent=2) + "\n")
        return
    out.print(f"{len(frame)} experiments match", highlight=False)
    _table("Experiments", columns, shown[columns].values.tolist())


@lde_app.command("import")
def lde_import_command(
    path: Annotated[Path, typer.Argument(help="File to import.")],
    format: Annotated[Optional[str], typer.Option(
        "--format", help="parquet, csv (the open LDE format) or metaqnn; default from the suffix.")] = None,
    dcn: Annotated[Optional[float], typer.Option(help="metaqnn only: the dataset's DCN, if known.")] = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Import experiments: the open LDE format (Parquet/CSV) or MetaQNN's CSV layout.

    Every row is validated before anything is written; a bad file changes nothing.

    Examples:

        tapas lde import ../shared/data/metaqnn_cifar10.csv --format metaqnn --lde /tmp/m.duckdb

        tapas lde import backup.parquet
    """
    from tapaskit.errors import InvalidOptionError

    if not path.exists():
        raise InvalidOptionError(f"no such file: {path}")
    if format not in (None, "parquet", "csv", "metaqnn"):
        raise InvalidOptionError(f"format must be one of parquet, csv, metaqnn, but got {format!r}")
    if dcn is not None and format != "metaqnn":
        raise InvalidOptionError("--dcn applies to --format metaqnn only (the open format has a dcn column)")
    import dataclasses

    target = _lde_path(lde)
    created = target is not None and not target.exists()
    store = _open_store(lde)
    try:
        if format == "metaqnn":
            from tapaskit.store.metaqnn_import import import_metaqnn

            report = import_metaqnn(store, path, dcn=dcn)
        else:
            from lde.io import import_experiments

            from tapaskit.store import check_architecture_record

            report = import_experiments(store, path, format=format, check_architecture=check_architecture_record)
    except BaseException:
        if created:  # a refused import into a new --lde leaves no empty LDE behind
            store.close()
            for leftover in (target, target.with_name(target.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    data: dict[str, Any] = {**dataclasses.asdict(report), "path": str(report.path),
                            "lde": str(getattr(store, "path", ""))}
    line = (f"imported {data['inserted']} of {data['experiments']} experiments from {path} "
            f"({data['format']}; {data['skipped']} already stored) into {data['lde']}")
    _emit(_json_mode(json_), data, lambda: out.print(line, highlight=False))


@lde_app.command("export")
def lde_export_command(
    path: Annotated[Path, typer.Argument(help="Target file (.parquet or .csv).")],
    format: Annotated[Optional[str], typer.Option("--format", help="parquet or csv; default from the suffix.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Export every experiment in the open format: one row per experiment, architecture as JSON.

    Examples:

        tapas lde export backup.parquet

        tapas lde export runs.csv --lde /tmp/m.duckdb
    """
    from lde.io import export_experiments

    rows = export_experiments(_open_store(lde, existing=True), path, format=format, overwrite=force)
    _emit(_json_mode(json_), {"exported": rows, "path": str(path)},
          lambda: out.print(f"exported {rows} experiments to {path}", highlight=False))


@lde_app.command("delete")
def lde_delete_command(
    key: Annotated[Optional[list[str]], typer.Option("--key", help="Idempotency key of an experiment (repeat for several).")] = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="seed, search, train, import or benchmark (repeat for several).")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", help="Dataset name or fingerprint (repeat for several).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Delete experiments, e.g. the bad rows of an import: those that match every filter given
    (a repeated filter matches any of its values). Any status counts.

    Prints how many experiments match and asks before deleting them, unless `--yes`. Their datasets
    and architectures stay; their keys are free again, so a corrected file can be imported anew.

    Examples:

        tapas lde delete --source import --dataset cifar10

        tapas lde delete --key campaign/17 --yes --lde /tmp/m.duckdb --json
    """
    from tapaskit.errors import InvalidOptionError

    if not (key or source or dataset):
        raise InvalidOptionError("lde delete needs at least one of --key, --source, --dataset "
                                 "(given together, an experiment must match all of them)")
    store = _open_store(lde, existing=True)
    frame = store.query(status=None, source=source or None, datasets=dataset or None)
    if key:
        frame = frame[frame["key"].isin(key)]
    ids = [int(i) for i in frame["experiment_id"]]
    where = getattr(store, "path", "the LDE")
    if ids and not yes:
        # Asked on stderr by hand: typer.confirm echoes a space to stdout, which --json keeps clean.
        sys.stderr.write(f"{len(ids)} experiments match in {where}; delete them? [y/N]: ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:  # no terminal to answer on (stdin closed)
            sys.stderr.write("\n")
            raise InvalidOptionError(f"{len(ids)} experiments match, and no answer came to the "
                                     "confirmation; pass --yes to delete without asking")
        if answer.strip().lower() not in ("y", "yes"):
            err.print("nothing deleted", highlight=False)
            raise typer.Exit(1)
    deleted = store.delete_experiments(ids)
    line = (f"deleted {deleted} experiments from {where}" if ids
            else "no experiment matches; nothing deleted")
    _emit(_json_mode(json_), {"deleted": deleted}, lambda: out.print(line, highlight=False))


@lde_app.command("proxies")
def lde_proxies_command(
    limit: Annotated[Optional[int], typer.Option(help="Compute at most this many pairs (default: all); rerun for the rest.")] = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Compute the zero-cost proxies (synflow, snip, grad_norm, jacob_cov, naswot) that the LDE's
    ok experiments lack, one per (architecture, dataset) pair, and store them.

    Each dataset is loaded by the name the LDE recorded; pairs whose dataset cannot be loaded any
    more (moved user data, imported MetaQNN rows) are skipped and counted. Resumable: results are
    written in small batches, so rerun the same command after an interruption. A few tens of
    milliseconds per pair on a CPU (docs/proxies.md).

    Examples:

        tapas lde proxies

        tapas lde proxies --lde /tmp/m.duckdb --limit 100 --json
    """
    from tapaskit.workflows.proxies import backfill_proxies

    as_json = _json_mode(json_)
    store = _open_store(lde, existing=True)
    with _progress(not as_json) as progress:
        bar = progress.bar("zero-cost proxies") if progress is not None else None

        def on_pair(done: int, total: int, dataset: str) -> None:
            if bar is not None:
                bar(completed=done, total=total, info=dataset[:40])

        report = backfill_proxies(store, limit=limit, progress=on_pair)
    data = report.to_dict()

    def render() -> None:
        out.print(f"computed the proxies of {report.computed} of {report.missing} pairs in {report.seconds:.1f} s "
                  f"({report.remaining} still missing: {report.unloadable} with a dataset that cannot be loaded, "
                  f"{report.invalid} with an architecture invalid for its dataset) in {data['lde'] or 'the LDE'}",
                  highlight=False)
        for name, reason in report.unloadable_datasets.items():
            out.print(f"skipped {name}: {reason}", highlight=False, markup=False)

    _emit(as_json, data, render)


@lde_app.command("seed")
def lde_seed_command(
    suite: Annotated[str, typer.Option(help="Dataset suite: default (13 datasets, at most 16x16, 6 epochs), large (8 datasets at native 28x28/32x32, 3,000 training samples, 8 epochs) or mini.")] = "default",
    archs: Annotated[Optional[int], typer.Option(help="Architectures in the shared pool (default: the shipped campaign's: 300 for default, 36 for large, the first networks of the default pool that fit).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per training (default: the suite's schedule: 6 for default, 8 for large).")] = None,
    executor: ExecutorOpt = "local",
    workers: Annotated[int, typer.Option("--workers", help="Trainings at once.")] = 2,
    ray_address: RayAddressOpt = None,
    gpus_per_trial: GpusPerTrialOpt = None,
    cpus_per_trial: CpusPerTrialOpt = 1.0,
    trial_timeout: TrialTimeoutOpt = None,
    max_retries: MaxRetriesOpt = 1,
    ray_data: RayDataOpt = "object-store",
    ship: Annotated[Optional[Path], typer.Option(help="Also export the result to this Parquet file and write its data card beside it.")] = None,
    seed: SeedOpt = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run the seeding campaign: characterise a suite of datasets and train a shared pool of
    architectures on each, writing every result to the LDE. Resumable: rerun the same command
    after an interruption and it continues without duplicates.

    Examples:

        tapas lde seed --lde campaign.duckdb

        tapas lde seed --suite large --workers 1 --lde campaign-large.duckdb

        tapas lde seed --suite mini --archs 5 --epochs 1 --lde /tmp/mini.duckdb
    """
    from tapaskit.workflows.campaign import plan_campaign, regeneration_command, run_campaign, ship_campaign

    as_json = _json_mode(json_)
    plan = (plan_campaign(suite, epochs=epochs, seed=_seed(seed)) if archs is None
            else plan_campaign(suite, archs=archs, epochs=epochs, seed=_seed(seed)))
    store = _open_store(lde)
    with _progress(not as_json) as progress:
        state: dict[str, Any] = {}

        def on_stage(name: str, total: int) -> None:
            if progress is None:
                return
            if name == "training" or name == "characterizing datasets":
                state["task"] = progress.add_task(name, total=total, info="")
            elif "task" in state:
                progress.update(state["task"], advance=1, info=name)

        def on_result(result: Any) -> None:
            if progress is not None:
                progress.update(state["task"], advance=1,
                                info=f"{result.dataset[:28]} {result.status.value} {result.peak_accuracy or 0:.3f}")

        with _executor(executor, workers, None, ray_address, gpus_per_trial, cpus_per_trial, trial_timeout,
                       max_retries, ray_data) as runner:
            report = run_campaign(plan, store, executor=runner, on_stage=on_stage, on_result=on_result)
    data = report.to_dict()
    data["command"] = regeneration_command(suite, len(plan.architectures), plan.hparams.epochs,
                                           plan.seed, workers)
    if ship is not None:
        data["shipped"] = ship_campaign(plan, store, ship, command=data["command"], report=report)
    _emit(as_json, data, lambda: out.print(json.dumps(data, indent=2, default=str), highlight=False))


# ------------------------------------------------------------------------------------------ search
@app.command("search")
def search_command(
    dataset: Annotated[str, typer.Argument(help="Built-in name, variant spec or path to user data.")],
    preset: Annotated[str, typer.Option(help="quick, cpu, default or thorough (sets the options below; cpu: "
                                        "full-size datasets on a 2-core CPU).")] = "default",
    strategy: Annotated[str, typer.Option(help="reinforce, random or evolution.")] = "reinforce",
    budget: Annotated[Optional[int], typer.Option(help="Architectures proposed and scored by the predictor.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Candidates fully trained per round.")] = None,
    trainings: Annotated[Optional[int], typer.Option(help="Full trainings in all, spent in rounds of --top-k; the predictor refits on them between rounds.")] = None,
    screen: Annotated[Optional[int], typer.Option(help="Screen F x top-k candidates on short schedules first, keeping the best third per rung (0: off).")] = None,
    acquisition: Annotated[str, typer.Option(help="How a round picks: ucb (prediction + spread), ei (expected improvement) or greedy.")] = "ucb",
    epochs: Annotated[Optional[int], typer.Option(help="Epochs of each full training.")] = None,
    max_train: Annotated[Optional[int], typer.Option("--max-train", help="Training samples of a full training (0: all).")] = None,
    final_epochs: Annotated[Optional[int], typer.Option("--final-epochs", help="Train the best network again for this many epochs; that is the exported model (0: off).")] = None,
    register: Annotated[Optional[str], typer.Option(help="Model-registry name of the found model (default: tapaskit-DATASET).")] = None,
    blind_spot: Annotated[float, typer.Option("--blind-spot", help="Reward lost per unit of predictor spread beyond that of the networks it was fitted on (0: off).")] = 1.0,
    max_params: Annotated[Optional[int], typer.Option("--max-params", help="Penalise networks with more parameters.")] = None,
    max_flops: Annotated[Optional[int], typer.Option("--max-flops", help="Penalise networks with more FLOPs per sample.")] = None,
    predictor: Annotated[Optional[str], typer.Option(help="Predictor used as reward (default: the toolkit's best).")] = None,
    tau: Annotated[float, typer.Option(help="DCN window half-width for the predictor's experiments.")] = 0.05,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the best model, summary and checkpoints.")] = Path("tapas-search"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search checkpointed in --out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace another search's results in --out.")] = False,
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu for full trainings (default: cuda when present).")] = None,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
    gpus_per_trial: GpusPerTrialOpt = None,
    cpus_per_trial: CpusPerTrialOpt = 1.0,
    trial_timeout: TrialTimeoutOpt = None,
    max_retries: MaxRetriesOpt = 1,
    ray_data: RayDataOpt = "object-store",
    seed: SeedOpt = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Search a CNN for DATASET: DCN → LDE experiments → TAP → controller → rounds of top-K trained.

    The predictor (fitted in seconds on LDE experiments of datasets with a similar DCN) scores
    every proposal; only the best (by prediction and its uncertainty) are trained, --top-k per
    round, until --trainings are spent; the predictor refits on each round's results. Validation
    accuracy picks; test accuracy (the official test set when there is one) is measured once per
    full training. Results go to the LDE and MLflow; `--out` gets `architecture.json`,
    `weights.pt`, a standalone `model.py` and `summary.json`.

    Examples:

        tapas search digits --preset quick --out ./best

        tapas search fashion-mnist --preset cpu --out ./fashion

        tapas search 'fashion-mnist[n=10000]' --strategy evolution --budget 5000 --top-k 3

        tapas search ./my_images --max-params 200000 --resume --out ./run1
    """
    from tapaskit.predictor import DEFAULT_PREDICTOR
    from tapaskit.space.compact import compact_form
    from tapaskit.workflows.search import Search, SearchConfig, SearchEvents

    as_json = _json_mode(json_)
    config = SearchConfig(
        dataset=dataset, strategy=strategy, preset=preset, budget=budget, top_k=top_k, epochs=epochs,
        max_params=max_params, max_flops=max_flops, predictor=predictor or DEFAULT_PREDICTOR, tau=tau,
        seed=_seed(seed), device=device, trainings=trainings, screen=screen, acquisition=acquisition,
        max_train=max_train, final_epochs=final_epochs, register=register, blind_spot=blind_spot)
    # options, the dataset, the LDE and a resume checkpoint are checked here, before any output or work
    search_run = Search(config, out_dir=out_dir, resume=resume, force=force, lde=_lde_path(lde))
    search_run.executor = _executor(executor, workers, device, ray_address, gpus_per_trial, cpus_per_trial,
                                    trial_timeout, max_retries, ray_data)
    with _progress(not as_json) as progress:
        if progress is not None:
            tasks: dict[str, Any] = {}

            def stage(text: str) -> None:
                err.print(f"[bold]·[/] {text}", highlight=False)
                if "stage" in tasks:
                    progress.remove_task(tasks.pop("stage"))
                if text.startswith(("fitting", "refitting")):  # up to a minute without other output
                    tasks["stage"] = progress.add_task("fitting the predictor", total=None, info="")

            def search(p: Any) -> None:
                if "stage" in tasks:
                    progress.remove_task(tasks.pop("stage"))
                if "search" not in tasks:
                    tasks["search"] = progress.add_task("search", total=p.budget, info="")
                progress.update(tasks["search"], completed=p.step, total=p.budget,  # grows round by round
                                info=f"batch reward {p.batch_mean:.3f}  best {p.best_reward:.3f}")

            def started(i: int, total: int, arch: Any) -> None:
                if arch.arch_hash in tasks:  # trained before at a screening rung: a fresh bar
                    progress.remove_task(tasks[arch.arch_hash])
                tasks[arch.arch_hash] = progress.add_task(f"train {i + 1}/{total} {arch.arch_hash}", total=None,
                                                          info="")

            def epoch(arch: Any, e: int, loss: float, acc: float) -> None:
                progress.update(tasks[arch.arch_hash], completed=e, info=f"epoch {e}, val acc {acc:.4f}")

            search_run.events = SearchEvents(stage=stage, search=search, training_started=started,
                                             training_epoch=epoch)
        try:
            result = search_run.run()
        except KeyboardInterrupt:
            err.print(f"interrupted: every finished training is kept (LDE and {out_dir}/candidates); "
                      f"rerun the same command with --resume to continue", highlight=False)
            raise typer.Exit(130) from None
        finally:
            search_run.executor.close()

    def render() -> None:
        p, fit = result.proposals, result.predictor_fit
        window = (f"DCN window widened from tau {fit.tau_requested:g} to {fit.tau_used:.3g}, "
                  f"too few datasets or experiments within {fit.tau_requested:g}" if fit.widened
                  else f"tau {fit.tau_used:.3g}")
        out.print(f"DCN {result.dcn:.3f}; predictor {fit.predictor} on {fit.experiments} "
                  f"experiments of {len(fit.datasets)} datasets ({window}); "
                  f"{p.proposals} proposals in {p.seconds:.1f}s", highlight=False)
        if len(result.rounds) > 1 or result.screened:
            _table("Rounds", ["round", "proposals", "predictor fitted on", "screened", "trained",
                              "predictor error (MAE)", "best validation so far"],
                   [[r.round, r.proposals, f"{r.predictor_fit.experiments} experiments"
                     + (f" ({r.predictor_fit.target_experiments} of this dataset)" if r.predictor_fit.target_experiments
                        else ""), r.screened, r.trained, r.predictor_mae, r.best_validation_accuracy]
                    for r in result.rounds])
        _table("Candidates, fully trained", ["round", "arch", "predicted", "validation", "test", "params", "status"],
               [[c.round, compact_form(c.arch), c.predicted_accuracy, c.result.peak_accuracy, c.result.test_accuracy,
                 c.result.params, c.result.status.value] for c in result.candidates])
        best, model = result.best, result.model
        if best is not None:
            test = "" if best.result.test_accuracy is None else f", test {best.result.test_accuracy:.4f}"
            out.print(f"best {compact_form(best.arch)} ({best.arch.arch_hash}): validation "
                      f"{best.result.peak_accuracy:.4f}{test} (chosen on validation; test seen once)", highlight=False)
        if model is not None and model is not best:
            test = "" if model.result.test_accuracy is None else f", test {model.result.test_accuracy:.4f}"
            out.print(f"final training, {model.result.hparams.epochs} epochs: validation "
                      f"{model.result.peak_accuracy:.4f}{test}", highlight=False)
        if model is not None:
            out.print(f"model → {out_dir}", highlight=False)
        if result.mlflow_run_id:
            out.print(f"MLflow run {result.mlflow_run_id} (tapas ui; past searches: tapas searches)", highlight=False)

    _emit(as_json, result.to_dict(), render)


@app.command("searches")
def searches_command(
    limit: Annotated[int, typer.Option(help="Searches to list, newest first.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """List past searches from the tracking store: dataset, when, how they ended, the best network's
    validation and test accuracy, the MLflow run and the output folder.

    Examples:

        tapas searches

        tapas searches --limit 5 --json
    """
    import dataclasses

    from tapaskit.workflows.search import past_searches

    found = past_searches(limit)
    _emit(_json_mode(json_), [dataclasses.asdict(s) for s in found], lambda: _table(
        "Searches, newest first", ["started (UTC)", "dataset", "strategy", "status", "best validation", "test",
                                   "MLflow run", "folder"],
        [[s.started, s.dataset, s.strategy, s.status, s.best_validation_accuracy, s.best_test_accuracy,
          s.mlflow_run_id, s.out_dir] for s in found]))


# -------------------------------------------------------------------------------------- benchmarks
@benchmark_app.command("predictor")
def benchmark_predictor_command(
    scenario: Annotated[str, typer.Option(help="A (split within a dataset), B (leave one out), "
                                          "C (leave one out + DCN window, TAPAS), F (leave the "
                                          "dataset's whole family out + DCN window), R (regime "
                                          "transfer: small->large, large->small, large held out "
                                          "by family), a list such as C,F, or all.")] = "all",
    predictors: Annotated[Optional[str], typer.Option(help="Comma-separated names (default: all registered).")] = None,
    tau: Annotated[float, typer.Option(help="DCN window half-width of scenario C.")] = 0.05,
    min_datasets: Annotated[Optional[int], typer.Option(help="Scenario C widens the DCN window until it holds this many datasets (default: 6).")] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of each dataset held out in scenario A.")] = 0.5,
    unseen_architectures: Annotated[bool, typer.Option("--unseen-architectures", help="Keep every test network's architecture out of its training set, as in a search (B and C: two folds of architectures).")] = False,
    ablation_proxies: Annotated[bool, typer.Option("--ablation-proxies", help="Instead: Kendall tau of one predictor (--predictors, default ensemble) with no zero-cost proxies, each proxy alone and all of them (scenarios C and F unless --scenario names others).")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Directory for predicted-vs-real scatter PNGs.")] = None,
    seed: SeedOpt = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Benchmark TAP against LightGBM, random forest, dataset-mean and parameter-count baselines.

    Reports MSE, MAE, Kendall tau, Spearman rho, R² and top-10 % precision per held-out dataset, per
    dataset family and on average, the calibration of each predictor's uncertainty (share of true
    accuracies within ±1σ and ±2σ), writes scatter plots and logs an MLflow run.

    Examples:

        tapas benchmark predictor --scenario C

        tapas benchmark predictor --lde /tmp/m.duckdb --scenario A --json

        tapas benchmark predictor --predictors tap,lightgbm --plot plots/

        tapas benchmark predictor --scenario C --unseen-architectures

        tapas benchmark predictor --scenario C,F --predictors ensemble

        tapas benchmark predictor --scenario R --predictors ensemble

        tapas benchmark predictor --ablation-proxies
    """
    from tapaskit.evaluation.predictor_benchmark import SCENARIOS, run_predictor_benchmark

    as_json = _json_mode(json_)
    scenarios = list(SCENARIOS) if scenario.lower() == "all" else [s.strip().upper() for s in scenario.split(",")]
    names = [p.strip() for p in predictors.split(",")] if predictors is not None else None
    store = _open_store(lde, existing=True)
    if ablation_proxies:
        _proxy_ablation(store, ["C", "F"] if scenario.lower() == "all" else scenarios, names, tau,
                        min_datasets, unseen_architectures, _seed(seed), as_json)
        return
    with _progress(not as_json) as progress:
        callback = _fits_callback(progress)

        report = run_predictor_benchmark(store, scenarios=scenarios, predictors=names, tau=tau,
                                         min_datasets=min_datasets, test_fraction=test_fraction,
                                         unseen_architectures=unseen_architectures, seed=_seed(seed), plot_dir=plot,
                                         progress=callback)

    def render() -> None:
        if report["config"].get("unseen_architectures"):
            out.print(f"unseen architectures: test networks kept out of training "
                      f"({report['config']['architecture_folds']} folds in B and C)", highlight=False)
        for name, block in report["scenarios"].items():
            if block.get("skipped"):
                out.print(f"scenario {name}: skipped ({block.get('note')})", highlight=False)
                continue
            _table(f"Scenario {name}", ["predictor", "Kendall tau", "Spearman rho", "MAE", "MSE", "R²", "top-10 % prec.",
                                        "within ±1σ", "within ±2σ"],
                   [[p, m.get("kendall_tau_mean"), m.get("spearman_rho_mean"), m.get("mae_mean"), m.get("mse_mean"),
                     m.get("r2_mean"), m.get("top10_precision_mean"), m.get("coverage_1sigma_mean"),
                     m.get("coverage_2sigma_mean")] for p, m in block["predictors"].items()])
            if name in ("C", "F") or name.startswith("R_"):
                out.print(f"  {_window_note(block['datasets'], report['config'])}", highlight=False)
            ref = block.get("reference")
            if ref:
                out.print(f"  reference, not a predictor (each test network's own accuracy on the training datasets, "
                          f"{ref['coverage_mean']:.0%} of them covered): Kendall tau {ref['kendall_tau_mean']:.3f}, "
                          f"MAE {ref['mae_mean']:.3f}", highlight=False)
        ran = [name for name, block in report["scenarios"].items() if not block.get("skipped")]
        if len(ran) > 1:
            _table("Kendall tau / MAE side by side", ["predictor", *ran],
                   [[p, *(f"{s['kendall_tau_mean']:.3f} / {s['mae_mean']:.3f}" if s.get("kendall_tau_mean") is not None
                          and s.get("mae_mean") is not None else "-" for s in (row.get(n, {}) for n in ran))]
                    for p, row in report["summary"].items()])
            families = report.get("families", {})
            if any(len(members) > 1 for members in families.values()):
                _table("Kendall tau per dataset family (mean over its held-out datasets)",
                       ["family", "datasets", "predictor", *ran],
                       [[family, len(families[family]), p,
                         *(row.get(n, {}).get("per_family_kendall_tau", {}).get(family) for n in ran)]
                        for family in families for p, row in report["summary"].items()])
        if report["plots"]:
            out.print(f"scatter plots: {Path(report['plots'][0]).parent}", highlight=False)
        if report.get("mlflow_run_id"):
            out.print(f"MLflow run {report['mlflow_run_id']} (tapas ui)", highlight=False)

    _emit(as_json, report, render)


def _fits_callback(progress: Any) -> Any:
    """A ``(done, total, label)`` callback that moves a "fits" bar, or None without a display."""
    if progress is None:
        return None
    bar = progress.bar("fits")

    def callback(done: int, total: int, label: str) -> None:
        bar(completed=done, total=total, info=label)

    return callback


def _proxy_ablation(store: Any, scenarios: list[str], names: Optional[list[str]], tau: float,
                    min_datasets: Optional[int], unseen_architectures: bool, seed: int, as_json: bool) -> None:
    """`tapas benchmark predictor --ablation-proxies`: one predictor without, with each and with
    all zero-cost proxies."""
    from tapaskit.errors import InvalidOptionError
    from tapaskit.evaluation.predictor_benchmark import run_proxy_ablation

    if names is not None and len(names) != 1:
        raise InvalidOptionError(f"--ablation-proxies takes one predictor, but got {', '.join(names)}")
    with _progress(not as_json) as progress:
        callback = _fits_callback(progress)

        result = run_proxy_ablation(store, predictor=names[0] if names else "ensemble", scenarios=scenarios,
                                    tau=tau, seed=seed, min_datasets=min_datasets,
                                    unseen_architectures=unseen_architectures, progress=callback)

    def render() -> None:
        counts = result["rows_with_proxies"]
        each = ", ".join(f"{k.removeprefix('proxy_')} {v}" for k, v in counts.items() if k != "any")
        out.print(f"rows with proxies: {counts['any']} of {result['experiments']} ({each})", highlight=False)
        ran = sorted({s for row in result["table"].values() for s in row})
        _table(f"Proxy ablation: {result['config']['predictor']}, Kendall tau / MAE", ["proxies", *ran],
               [[variant, *(f"{row[s]['kendall_tau_mean']:.3f} / {row[s]['mae_mean']:.3f}"
                            if row.get(s, {}).get("kendall_tau_mean") is not None else "-" for s in ran)]
                for variant, row in result["table"].items()])

    _emit(as_json, result, render)


def _window_note(datasets: dict[str, dict[str, Any]], config: dict[str, Any]) -> str:
    """One sentence on scenario C's DCN windows: how many had to widen, and to what."""
    widened = [info["tau_used"] for info in datasets.values() if info.get("widened")]
    asked = f"DCN window tau {config['tau']:g}"
    if not widened:
        return f"{asked} for each of the {len(datasets)} held-out datasets"
    span = f"{min(widened):.3g}" if min(widened) == max(widened) else f"{min(widened):.3g}-{max(widened):.3g}"
    return (f"{asked}, widened for {len(widened)} of {len(datasets)} held-out datasets to tau {span} "
            f"to hold {config['min_datasets']} datasets and {config['min_experiments']} experiments")


@benchmark_app.command("search")
def benchmark_search_command(
    predictor: Annotated[Optional[str], typer.Option(help="Predictor that picks and refits (default: the toolkit's best).")] = None,
    trainings: Annotated[int, typer.Option(help="Full trainings per simulated search (the curves run to it).")] = 20,
    top_k: Annotated[int, typer.Option("--top-k", help="Trainings per round of the rounds method; the predictor refits after each round.")] = 5,
    seeds: Annotated[int, typer.Option(help="Simulated searches per held-out dataset (seeds --seed, --seed + 1, ...).")] = 5,
    holdout: Annotated[str, typer.Option(help="What leaves the training set with a held-out dataset: its family (scenario F) or the dataset alone (C).")] = "family",
    target_weight: Annotated[int, typer.Option(help="Times a refit repeats each trained network of the held-out dataset.")] = 10,
    acquisition: Annotated[str, typer.Option(help="Acquisition rule of the rounds: ucb, ei or greedy.")] = "ucb",
    beta: Annotated[float, typer.Option(help="Weight of the predictor's spread in ucb.")] = 1.0,
    picks: Annotated[int, typer.Option(help="The one-pass figure of earlier versions: best of the first fit's top picks.")] = 5,
    tau: Annotated[float, typer.Option(help="DCN window half-width.")] = 0.05,
    unseen_architectures: Annotated[bool, typer.Option("--unseen-architectures", help="Search pools of architectures the predictor never saw, as in a search (two folds per dataset).")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Directory for the PNG of the curves.")] = None,
    seed: SeedOpt = None,
    lde: LdeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Simulate the search on each held-out dataset's trained pool and report the best true accuracy
    found after 1, 2, 5, 10 and 20 trainings, as a percentile of the pool, for the one-pass top-K,
    rounds with acquisition and refits, random picks and regularized evolution; and the sample
    efficiency of the rounds against random picks. Logs an MLflow run with the curves' PNG.

    Examples:

        tapas benchmark search

        tapas benchmark search --predictor lightgbm --seeds 2 --json

        tapas benchmark search --unseen-architectures --plot plots/
    """
    from tapaskit.evaluation.search_benchmark import METHOD_LABELS, run_sample_efficiency
    from tapaskit.predictor import DEFAULT_PREDICTOR

    as_json = _json_mode(json_)
    store = _open_store(lde, existing=True)
    with _progress(not as_json) as progress:
        callback = None
        if progress is not None:
            bar = progress.bar("simulated searches")

            def callback(label: str, i: int, total: int) -> None:
                bar(completed=i, total=total, info=label)

        report = run_sample_efficiency(
            store, predictor=predictor or DEFAULT_PREDICTOR, trainings=trainings, top_k=top_k, seeds=seeds,
            seed=_seed(seed), holdout=holdout, unseen_architectures=unseen_architectures,
            target_weight=target_weight, acquisition=acquisition, beta=beta, picks=picks, tau=tau,
            plot_dir=plot, progress=callback)

    def render() -> None:
        _table(f"Best true accuracy after n trainings, percentile of the pool (median of {report.runs} runs, "
               f"{report.datasets} held-out datasets)", ["method", *(f"n={n}" for n in report.checkpoints)],
               [[METHOD_LABELS[m], *row.values()] for m, row in report.curves.items()])
        for what, eff in (("at the budget", report.efficiency_at_budget),
                          ("at the 99th percentile", report.efficiency_at_99th)):
            rounds = "not reached" if eff.rounds_trainings is None else f"{eff.rounds_trainings} trainings"
            ratio = "-" if eff.ratio is None else f"{eff.ratio:.1f}x"
            out.print(f"sample efficiency {what} ({eff.target_percentile:.1f}): rounds {rounds}, random "
                      f"{eff.random_trainings} -> {ratio}", highlight=False)
        out.print(f"one-pass top {report.config['picks']}: {report.config['predictor']} "
                  f"{report.tap_best_percentile_mean:.1f}, random {report.random_best_percentile_mean:.1f} "
                  f"(mean over datasets)", highlight=False)
        if report.plot:
            out.print(f"curves: {report.plot}", highlight=False)
        if report.mlflow_run_id:
            out.print(f"MLflow run {report.mlflow_run_id} (tapas ui)", highlight=False)

    _emit(as_json, report.to_dict(), render)


# ---------------------------------------------------------------------------------------------- ui
@app.command("ui")
def ui_command(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps the UI to this machine.")] = "127.0.0.1",
    json_: JsonOpt = False,
) -> None:
    """Start the MLflow UI against the toolkit's tracking store; print its address once it answers.

    Runs from characterize, train, benchmark and search are all there (experiments `tapas/...`);
    the address printed opens the searches. Stop it with Ctrl-C.

    Examples:

        tapas ui

        tapas ui --port 5050
    """
    import contextlib
    import signal
    import subprocess
    import time
    import urllib.request

    from tapaskit import paths
    from tapaskit.tracking import Tracker

    _check_port_free(port, host)
    uri = paths.tracking_uri()
    ids = {kind: Tracker(uri).experiment_id(kind)  # so the UI lists them all at once
           for kind in ("characterize", "train", "search", "benchmark")}
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    # One server process and no job runner: MLflow 3 otherwise starts about ten job-consumer
    # processes at launch, which cost a 2-core machine a minute before the first page.
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host,
               "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # own process group, so stopping tapas (Ctrl-C or SIGTERM) stops the server and its workers too
    log = paths.data_home() / "mlflow-ui.log"  # the server's own log, kept out of the terminal
    with open(log, "w") as handle:
        process = subprocess.Popen(command, start_new_session=True, env=env, stdout=handle, stderr=handle)

    def stop(*_: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while process.poll() is None:  # the address is printed when it answers, not before
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        if process.poll() is not None:
            from tapaskit.errors import InvalidOptionError

            detail = log.read_text(errors="replace").strip().splitlines()
            raise InvalidOptionError(f"the MLflow server stopped at start ({detail[-1] if detail else 'no message'}; "
                                     f"its log: {log})")
        url = f"{base}/#/experiments/{ids['search']}/runs?workflowType=machine_learning"  # the model-training view
        if _json_mode(json_):
            sys.stdout.write(json.dumps({"url": base, "searches": url, "tracking_uri": uri}) + "\n")
        else:
            err.print(f"MLflow UI on {url}  (store: {uri}); Ctrl-C stops it", highlight=False)
        sys.stdout.flush()
        code = process.wait()
    except KeyboardInterrupt:
        stop()
        code = process.wait()
    if code not in (0, -15):
        raise typer.Exit(code)


def _check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """One line instead of the server's traceback or log when the UI could not listen on ``port``."""
    import socket

    from tapaskit.errors import InvalidOptionError

    if not 1 <= port <= 65535:
        raise InvalidOptionError(f"port must be in 1..65535, but got {port}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidOptionError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                                     "is a UI already running there? Pick another with --port") from None


_INTERRUPTED = ("interrupted: every finished result is kept in the LDE; rerun the same command to "
                "continue (lde seed and keyed imports skip what is stored; search: add --resume)\n")


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    """A warning as the user reads it: one line, as the command's own ``warning:`` lines are
    (an unreadable cache entry that is refitted, a library's notice), without Python's source line."""
    text = " ".join(str(message).split())
    return f"warning: {text}\n"


def main() -> None:
    """Entry point of the ``tapas`` console script."""
    import warnings

    shown_as, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        _run_app()
    finally:  # called in-process (tests, scripts), the caller's format comes back
        warnings.formatwarning = shown_as


def _run_app() -> None:
    """Run the app; a user's error is one line and exit code 1, Ctrl-C one line and 130."""
    from tapaskit.errors import USER_ERRORS

    try:
        app()
    except USER_ERRORS as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except OSError as exc:  # the file system refused: a file where a folder goes, no permission, disk full
        where = f"{exc.filename}: " if exc.filename else ""
        reason = ("a file is in the way where a folder is needed" if isinstance(exc, FileExistsError)
                  else exc.strerror or str(exc))
        sys.stderr.write(f"error: {where}{reason}\n")
        sys.exit(1)
    except SystemExit as exc:
        # Typer turns Ctrl-C into exit code 130 without a word, with the KeyboardInterrupt as the
        # cause of its Exit; a command that explains its own interruption (search) raises its Exit
        # without that cause.
        if isinstance(getattr(exc.__context__, "__cause__", None), KeyboardInterrupt):
            sys.stderr.write(_INTERRUPTED)
        raise
    except KeyboardInterrupt:
        sys.stderr.write(_INTERRUPTED)
        sys.exit(130)


if __name__ == "__main__":
    main()
