"""Where tapaskit keeps its files (the data home, the default LDE, the MLflow store), and how it
writes them: :func:`atomic_write`, so that a kill never leaves a half-written file behind."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

HOME_ENV = "TAPAS_HOME"


def data_home() -> Path:
    """The data directory: ``$TAPAS_HOME`` when set, else the platform's user data dir."""
    root = os.environ.get(HOME_ENV) or platformdirs.user_data_dir("tapaskit", appauthor=False)
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_lde_path() -> Path:
    """The user's LDE file inside the data home."""
    return data_home() / "lde.duckdb"


def tracking_uri() -> str:
    """The MLflow tracking URI: ``$MLFLOW_TRACKING_URI`` wins, else a SQLite file in the data home."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{data_home() / 'mlflow.db'}"


def artifact_root() -> Path:
    """Where MLflow artifacts of the default store go."""
    return data_home() / "mlartifacts"


def _sweep_abandoned(path: Path) -> None:
    """Remove the temporary files of ``path`` left by writers that were killed (their process is gone)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        pid = stale.name[len(path.name) + 2:-len(".partial")]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            stale.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX: ``os.kill(pid, 0)``), the probe that tells a killed
    writer's leftover files from those of a live one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists but belongs to another user
        return True
    return True


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """A private temporary path beside ``path`` to write to, renamed onto ``path`` when the block
    ends without error and removed otherwise: readers see the old file or the whole new one."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    _sweep_abandoned(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
