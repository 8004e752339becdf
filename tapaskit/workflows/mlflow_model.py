"""The found network as an MLflow model: logged on a run, registered in the model registry.

:func:`log_found_model` logs a trained ``nn.Module`` with ``mlflow.pytorch.log_model`` (a
signature and an input example, torch's ``pt2`` graph format, so loading needs torch and MLflow but
not tapaskit) and, given a name, registers it, so that ``mlflow.pyfunc.load_model("models:/NAME/1")``
and ``mlflow models serve -m models:/NAME/1 --env-manager local`` work. The standalone ``model.py``,
``weights.pt`` and ``model.onnx`` (:mod:`tapaskit.space.export`) stay the files a user copies.

The default store is a SQLite database (:func:`tapaskit.paths.tracking_uri`), which holds a model
registry; a tracking server given by ``MLFLOW_TRACKING_URI`` holds its own.

MLflow is imported on first use, as everywhere in tapaskit.
"""

from __future__ import annotations

import copy
import io
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapaskit import paths
from tapaskit.errors import InvalidOptionError
from tapaskit.tracking import TrackedRun

#: Where the model sits among the run's artifacts (and the logged model's name).
MODEL_NAME = "model"
#: Rows of the example batch kept as the model's input example (at least 2: torch.export makes a
#: size-1 batch axis a constant).
EXAMPLE_ROWS = 2
_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def default_model_name(dataset: str) -> str:
    """The registered-model name a search on ``dataset`` uses when none is given.

    ``tapaskit-`` and the dataset's name in lower case, other characters than letters, digits,
    ``.``, ``_`` and ``-`` replaced by ``-`` (a dataset given as a path keeps its last part):
    ``"Fashion MNIST"`` -> ``"tapaskit-fashion-mnist"``.
    """
    stem = dataset.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    slug = _NAME_CHARS.sub("-", stem.lower()).strip("-.") or "dataset"
    return f"tapaskit-{slug}"


def check_model_name(name: str) -> str:
    """``name`` when it can name a registered model (``--register NAME``).

    Raises:
        InvalidOptionError: empty, over 256 characters, or with a ``/``, ``:`` or ``%`` (which would
            break ``models:/NAME/VERSION`` URIs).
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 256 or any(c in name for c in "/:%"):
        raise InvalidOptionError(
            "a registered model name must be 1-256 characters without '/', ':' or '%', "
            f"but got {name!r}")
    return name


@dataclass(frozen=True)
class LoggedFoundModel:
    """Where a found model went.

    Attributes:
        model_uri: the logged model's URI (``models:/m-...``), loadable with ``mlflow.pyfunc.load_model``.
        run_id: the run it was logged on.
        registered_name: the registry name, or None when it was not registered.
        version: the registered version (1 for a new name), or None.
    """

    model_uri: str
    run_id: str
    registered_name: str | None = None
    version: int | None = None

    @property
    def registry_uri(self) -> str | None:
        """``models:/NAME/VERSION`` when registered."""
        if self.registered_name is None or self.version is None:
            return None
        return f"models:/{self.registered_name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"model_uri": self.model_uri, "run_id": self.run_id, "registered_name": self.registered_name,
                "version": self.version, "registry_uri": self.registry_uri}


@contextmanager
def _fluent_store(uri: str, experiment_id: str | None = None) -> Iterator[None]:
    """MLflow's global tracking and registry URIs set to ``uri`` for the block, then restored.

    ``mlflow.pytorch.log_model`` only speaks the global ("fluent") API; ``experiment_id`` is the
    experiment its logged model goes to (``MLFLOW_EXPERIMENT_ID``). Setting the URIs also sets
    the environment variables ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI`` (MLflow does that for
    its subprocesses), so both are put back too: a user's own ``MLFLOW_TRACKING_URI`` survives.
    Not thread-safe: the driver logs from one thread.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")}
    old_tracking, old_registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        if experiment_id is not None:  # the experiment fluent calls default to
            os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_id
        yield
    finally:
        tracking_utils.set_tracking_uri(old_tracking)  # None is accepted: back to "not set"
        registry_utils._registry_uri = old_registry
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _example_batch(example: np.ndarray) -> np.ndarray:
    batch = np.array(example, dtype=np.float32)  # a writable copy: datasets hand out read-only arrays
    if batch.ndim == 3:  # one image (C, H, W)
        batch = batch[None]
    if batch.ndim != 4 or len(batch) == 0:
        raise InvalidOptionError(f"the example batch must be (B, C, H, W) images, but got shape {batch.shape}")
    batch = batch[:EXAMPLE_ROWS]
    if len(batch) < EXAMPLE_ROWS:
        batch = np.concatenate([batch] * EXAMPLE_ROWS)[:EXAMPLE_ROWS]
    return batch  # (EXAMPLE_ROWS, C, H, W)


def _pip_requirements() -> list[str]:
    """What loading the ``pt2`` model needs; given so that MLflow does not infer it in a subprocess."""
    import mlflow
    import torch

    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
            f"numpy=={np.__version__}"]


def log_found_model(
    run: TrackedRun | str,
    model: Any,
    example: np.ndarray,
    *,
    registered_name: str | None = None,
    tracking_uri: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> LoggedFoundModel | None:
    """Log ``model`` on ``run`` as an MLflow model and register it under ``registered_name``.

    Args:
        run: the run to log on: a :class:`~tapaskit.tracking.TrackedRun` (its store is used) or
            a run id (then ``tracking_uri``, default :func:`tapaskit.paths.tracking_uri`).
        model: the trained ``torch.nn.Module`` taking ``(B, C, H, W)`` float32 images in the data's
            units (with its input standardisation) and returning ``(B, classes)`` logits. A CPU
            copy in eval mode is logged; ``model`` itself is not changed.
        example: a batch of input images ``(B, C, H, W)`` (or one image ``(C, H, W)``); its first
            :data:`EXAMPLE_ROWS` rows become the input example, and with the model's outputs, the
            signature (batch axis ``-1``).
        registered_name: register the model under this name (a new version when it exists; see
            :func:`default_model_name`); None logs without registering.
        tracking_uri: the store, when ``run`` is a run id.
        tags: set on the logged model and on the registered version (e.g. the architecture's
            compact form, its validation accuracy).

    Returns:
        Where the model went; None when tracking is off for ``run``, or when MLflow failed: that is
        one warning line on stderr, never an exception, as for all tracking.

    Raises:
        InvalidOptionError: ``example`` is not a batch of images, or ``registered_name`` is not a
            usable name (checked before anything is logged).
    """
    if isinstance(run, TrackedRun):
        run_id, uri = run.run_id, run.tracking_uri or tracking_uri
        if not run.active:
            return None
    else:
        run_id, uri = run, tracking_uri
    if run_id is None:
        return None
    if registered_name is not None:
        check_model_name(registered_name)
    batch = _example_batch(example)
    try:
        return _log(run_id, uri or paths.tracking_uri(), model, batch, registered_name, dict(tags or {}))
    except Exception as exc:  # noqa: BLE001 - tracking never costs the search its result
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        sys.stderr.write(f"warning: could not log the found model to MLflow ({reason}); "
                         "the model files in the output folder are unaffected\n")
        return None


def _log(run_id: str, uri: str, model: Any, batch: np.ndarray, registered_name: str | None,
         tags: dict[str, Any]) -> LoggedFoundModel:
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    from tapaskit.tracking import quiet_mlflow

    quiet_mlflow()
    net = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(batch)).numpy()  # (EXAMPLE_ROWS, classes)
    signature = infer_signature(batch, logits)  # tensor specs, batch axis -1
    str_tags = {k: str(v) for k, v in tags.items()}
    # the logged model belongs to the run's experiment, whose artifacts live in the data home: left to
    # MLflow, it would go to the default experiment, whose artifacts land in ./mlruns of the caller
    experiment_id = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id).info.experiment_id
    # MLflow prints "Successfully registered model ..." lines to stderr; the caller reports instead
    with _fluent_store(uri, experiment_id), redirect_stderr(io.StringIO()):
        info = mlflow.pytorch.log_model(
            net, name=MODEL_NAME, run_id=run_id, signature=signature, input_example=batch,
            registered_model_name=registered_name, serialization_format="pt2",
            pip_requirements=_pip_requirements(), tags=str_tags or None,
        )
        version = info.registered_model_version
        if registered_name is not None and version is not None and str_tags:
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            for key, value in str_tags.items():
                client.set_model_version_tag(registered_name, str(version), key, value)
    return LoggedFoundModel(model_uri=info.model_uri, run_id=run_id, registered_name=registered_name,
                       version=int(version) if version is not None else None)
