"""MLflow tracking: every characterize, train, benchmark and search is a run.

Runs go to the toolkit's tracking store (a SQLite file in the data home, or
``$MLFLOW_TRACKING_URI`` when set), one MLflow experiment per kind of command
(``tapas/characterize``, ``tapas/train``, ``tapas/search``, ``tapas/benchmark``). Searches hold
nested runs for their full trainings (``parent_run_id``). ``tapas ui`` shows them all.

The explicit ``MlflowClient`` API is used instead of MLflow's global "active run" so that worker
processes and nested runs never depend on hidden global state. Set ``TAPAS_TRACKING=off`` to
disable tracking (runs then have ``run_id`` None and log nothing).

Tracking never costs a result: the store is created (and migrated) once, under a file lock, so
two commands starting together on a fresh data home do not race; and any failure of MLflow itself
is one warning line on stderr, after which that run logs nothing more while the work goes on (its
LDE row is written all the same).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tapaskit import paths

#: MLflow 3's experiment-kind tag, and the kind of tapaskit's experiments: model training.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
EXPERIMENT_PREFIX = "tapas/"
KINDS = ("characterize", "train", "search", "benchmark")


def tracking_enabled() -> bool:
    """False when ``TAPAS_TRACKING`` is set to off/0/false."""
    return os.environ.get("TAPAS_TRACKING", "on").lower() not in {"off", "0", "false", "no"}


def quiet_mlflow() -> None:
    """MLflow, Alembic and SQLAlchemy log warnings only (call after importing mlflow)."""
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _flat_params(params: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[key] = text[:6000]  # MLflow's limit on a param value
    return out


def _warn(what: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    sys.stderr.write(f"warning: MLflow tracking failed while {what} ({reason}); the work goes on untracked\n")


def _is_local(uri: str) -> bool:
    """A store in a local file (SQLite, or a folder), not a tracking server."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock held while a local store is created or migrated (POSIX; elsewhere none)."""
    if os.name != "posix" or not _is_local(uri):
        yield
        return
    import fcntl

    lock = paths.data_home() / ".mlflow-store.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class TrackedRun:
    """One MLflow run. Methods are no-ops when tracking is off (``run_id`` is None), and after a
    failure of MLflow (one warning, then silence)."""

    def __init__(self, client: Any | None, run_id: str | None, tracking_uri: str | None = None) -> None:
        self._client = client
        self.run_id = run_id
        #: the store the run lives in (for MLflow's fluent API, e.g. logging a model)
        self.tracking_uri = tracking_uri

    @property
    def active(self) -> bool:
        """True while the run logs: tracking on, and no MLflow failure so far."""
        return self._client is not None and self.run_id is not None

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self._client is None:
            return
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - tracking must never cost the work its result
            _warn(what, exc)
            self._client = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        if self._client is None or not params:
            return
        from mlflow.entities import Param

        self._call("logging parameters", self._client.log_batch, self.run_id,
                   params=[Param(k, v) for k, v in _flat_params(params).items()])

    def log_metrics(self, metrics: Mapping[str, float | None], step: int | None = None) -> None:
        if self._client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items() if v is not None]
        if batch:
            self._call("logging metrics", self._client.log_batch, self.run_id, metrics=batch)

    def log_metric_series(self, name: str, values: list[float]) -> None:
        """A curve as one metric with a step per value."""
        if self._client is None or not values:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, float(v), now, step) for step, v in enumerate(values)]
        for start in range(0, len(metrics), 1000):  # log_batch takes at most 1000 metrics
            if self._client is not None:
                self._call("logging a curve", self._client.log_batch, self.run_id, metrics=metrics[start:start + 1000])

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        if self._client is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / artifact_file
            path.write_text(json.dumps(obj, indent=2, default=str))
            self._call(f"logging {artifact_file}", self._client.log_artifact, self.run_id, str(path))

    def log_dataset(self, name: str, digest: str, source: str, profile: Mapping[str, Any], *,
                    context: str = "training") -> None:
        """Record the run's dataset as an MLflow input (the UI's Dataset column): its name, content
        fingerprint, where it came from and its shape (``profile``)."""
        if self._client is None:
            return
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(name=name[:500], digest=digest, source_type="tapaskit", source=source[:1000] or name,
                          profile=json.dumps(dict(profile), default=str))
        self._call("logging the dataset", self._client.log_inputs, self.run_id,
                   [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        if self._client is None:
            return
        local_path = Path(local_path)
        log = self._client.log_artifacts if local_path.is_dir() else self._client.log_artifact
        self._call(f"logging {local_path.name}", log, self.run_id, str(local_path), artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """A matplotlib figure as an image artifact (``artifact_file`` such as ``plots/progress.png``)."""
        if self._client is None:
            return
        self._call(f"logging {artifact_file}", self._client.log_figure, self.run_id, figure, artifact_file)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self._client is None:
            return
        for key, value in tags.items():
            if self._client is not None:
                self._call("setting tags", self._client.set_tag, self.run_id, key, str(value))

    def end(self, status: str) -> None:
        """Mark the run ended (FINISHED, FAILED or KILLED)."""
        if self._client is not None:
            self._call("ending the run", self._client.set_terminated, self.run_id, status=status)


class Tracker:
    """Creates runs in the toolkit's tracking store."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.enabled = tracking_enabled()
        self.tracking_uri = tracking_uri or paths.tracking_uri()
        self._client: Any | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            quiet_mlflow()  # after the import: importing mlflow configures its loggers
            with _store_lock(self.tracking_uri):  # a fresh store is created and migrated once
                client = MlflowClient(tracking_uri=self.tracking_uri)
                client.search_experiments(max_results=1)
            self._client = client
        return self._client

    def experiment_id(self, kind: str) -> str:
        """The experiment ``tapas/<kind>``, created when missing, marked for MLflow 3's model-training
        view (its UI otherwise opens an experiment without runs on the GenAI pages)."""
        name = EXPERIMENT_PREFIX + kind
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.tags.get(EXPERIMENT_KIND_TAG) is None:  # made by an earlier version
                self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
            return found.experiment_id
        location = None  # a tracking server decides where artifacts go; a local store keeps them in the data home
        if _is_local(self.tracking_uri):
            location = (paths.artifact_root() / kind).as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location,
                                                 tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
        except Exception:  # another process created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def start(
        self,
        kind: str,
        run_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> TrackedRun:
        """Open a run now (its clock starts); the caller ends it with :meth:`TrackedRun.end`.

        For work whose start and end are events (a training in a worker), where :meth:`run`'s
        ``with`` block does not fit.
        """
        if not self.enabled:
            return TrackedRun(None, None)
        all_tags = {"tapas.kind": kind, "mlflow.runName": run_name, **(tags or {})}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        try:
            created = self.client.create_run(
                self.experiment_id(kind), run_name=run_name,
                tags={k: str(v) for k, v in all_tags.items()})
            run = TrackedRun(self.client, created.info.run_id, self.tracking_uri)
        except Exception as exc:  # noqa: BLE001 - no store, a locked or broken one: work untracked
            _warn(f"opening the run {run_name!r}", exc)
            run = TrackedRun(None, None)
        run.log_params(params or {})
        return run

    @contextmanager
    def run(
        self,
        kind: str,
        run_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> Iterator[TrackedRun]:
        """A run that ends FINISHED, or FAILED/KILLED when the block raises."""
        run = self.start(kind, run_name, params, tags=tags, parent_run_id=parent_run_id)
        try:
            yield run
        except KeyboardInterrupt:
            run.end("KILLED")
            raise
        except BaseException:
            run.end("FAILED")
            raise
        run.end("FINISHED")

    def runs(self, kind: str) -> list[Any]:
        """All runs of one kind, newest first (for tests and reports)."""
        found = self.client.get_experiment_by_name(EXPERIMENT_PREFIX + kind)
        if found is None:
            return []
        return list(self.client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"]))
