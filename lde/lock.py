"""Taking turns on one DuckDB file: bounded waiting for the file lock.

DuckDB lets one process at a time open a file for writing (and refuses readers meanwhile); a second
process's ``connect`` fails at once with an ``IOException`` about a lock. The LDE therefore attaches the
file for one operation at a time and, when the file is busy, retries with jittered exponential back-off
until a deadline, then raises :class:`~lde.errors.LDELockedError`. Within one process, operations on
the same file are serialised by a lock per path, so threads never race each other for the file.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from pathlib import Path

import duckdb

from lde.errors import InvalidArgumentError, LDEFileError, LDELockedError

__all__ = ["LOCK_TIMEOUT_ENV", "DEFAULT_LOCK_TIMEOUT", "attach", "path_lock", "resolve_lock_timeout"]

#: Environment variable that sets the lock timeout (seconds) when the caller passes none.
LOCK_TIMEOUT_ENV = "TAPAS_LDE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0

_FIRST_DELAY = 0.002
_MAX_DELAY = 0.1  # short: a writer's operation takes milliseconds, polling slowly wastes turns

_path_locks: dict[Path, threading.RLock] = {}
_path_locks_guard = threading.Lock()


def resolve_lock_timeout(lock_timeout: float | None) -> float:
    """The lock timeout to use: the argument, else ``$TAPAS_LDE_LOCK_TIMEOUT``, else 30 s.

    Raises:
        InvalidArgumentError: A negative, non-finite or non-numeric value.
    """
    origin = "lock_timeout"
    if lock_timeout is None:
        raw = os.environ.get(LOCK_TIMEOUT_ENV)
        if raw is None or not raw.strip():
            return DEFAULT_LOCK_TIMEOUT
        origin = LOCK_TIMEOUT_ENV
        try:
            lock_timeout = float(raw)
        except ValueError:
            raise InvalidArgumentError(
                f"{LOCK_TIMEOUT_ENV} must be a number of seconds >= 0, but got {raw!r}"
            ) from None
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) or not (
        math.isfinite(lock_timeout) and lock_timeout >= 0
    ):
        raise InvalidArgumentError(
            f"{origin} must be a number of seconds >= 0, but got {lock_timeout!r}"
        )
    return float(lock_timeout)


def path_lock(path: Path) -> threading.RLock:
    """The in-process lock that serialises operations on ``path``."""
    with _path_locks_guard:
        return _path_locks.setdefault(path, threading.RLock())


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def attach(engine: duckdb.DuckDBPyConnection, path: Path, alias: str, *, read_only: bool,
           timeout: float) -> None:
    """Attach ``path`` to ``engine`` as ``alias``, waiting up to ``timeout`` s while it is busy.

    Raises:
        LDELockedError: The file stayed locked by another process past the timeout.
        LDEFileError: The file is not a DuckDB database (corrupt, foreign, a directory...).
    """
    literal = "'" + str(path).replace("'", "''") + "'"
    statement = f"ATTACH {literal} AS {alias}" + (" (READ_ONLY)" if read_only else "")
    deadline = time.monotonic() + timeout
    delay = _FIRST_DELAY
    jitter = random.Random()  # only spreads retries of competing processes; not reproducible data
    while True:
        try:
            engine.execute(statement)
            return
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise LDEFileError(_file_error_message(path, exc)) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LDELockedError(
                    f"LDE file {path} is locked by another process (waited {timeout:g} s); retry "
                    f"when it finishes or raise {LOCK_TIMEOUT_ENV}"
                ) from None
            time.sleep(min(remaining, delay * jitter.uniform(0.5, 1.5)))
            delay = min(delay * 2, _MAX_DELAY)
        except duckdb.Error as exc:
            raise LDEFileError(_file_error_message(path, exc)) from None


def _file_error_message(path: Path, exc: duckdb.Error) -> str:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not a valid DuckDB database file" in detail:
        return f"{path} is not an LDE file (not a DuckDB database); point to another file"
    return f"cannot open LDE file {path}: {detail}"
