"""The user's default LDE, and :func:`open_lde`, the one way every workflow opens a store.

The default LDE is a DuckDB file in the data home (:func:`tapaskit.paths.default_lde_path`). Its
first use fills it from the embedded default LDE shipped in ``lde/default/`` (every suite's file:
the small-input default suite and the large, native-resolution one): all at once or not at all,
safe when two first commands start side by side.
"""

from __future__ import annotations

import os
from pathlib import Path

from lde import DuckDBStore, ExperimentStore
from lde.default import embedded_default_paths
from lde.io import import_experiments

from tapaskit import paths

__all__ = ["open_lde"]


def open_lde(lde: ExperimentStore | str | Path | None = None, *, read_only: bool = False) -> ExperimentStore:
    """The one entry point to an LDE, as Optuna's ``get_storage`` takes nothing, a string or a storage.

    Args:
        lde: ``None`` for the user's default LDE in the data home; a path (``str`` or ``Path``) of a
            DuckDB file, opened as it is (created empty when missing, never filled or overwritten);
            or an open :class:`~lde.ExperimentStore` (a DuckDB or an in-memory store), returned as it is.
        read_only: open the file without write access.

    Returns:
        The store. The first use of the default file fills it from the embedded default LDE, so a
        fresh install can predict and search at once.

    Example:
        >>> import tapaskit
        >>> store = tapaskit.open_lde()          # the default LDE, filled on first use
        >>> store.stats()["experiments"] > 0
        True
    """
    if isinstance(lde, ExperimentStore):
        return lde
    if lde is not None:
        return DuckDBStore(Path(lde), read_only=read_only)
    default = paths.default_lde_path()
    embedded = embedded_default_paths()
    _remove_abandoned_fills(default)
    if not default.exists() and embedded:
        _fill_default(default, embedded)
    return DuckDBStore(default, read_only=read_only and default.exists())


def _fill_default(default: Path, embedded: tuple[Path, ...]) -> None:
    """Create the default LDE filled from every embedded file, all at once or not at all.

    The imports go to a file of this process's own, linked into place only when all are complete: two
    first commands run side by side both see the whole default LDE (the later link finds the file
    there and drops its copy), and a first use killed during the import leaves no half-filled LDE
    behind, so the next one fills it again.
    """
    default.parent.mkdir(parents=True, exist_ok=True)
    partial = default.with_name(f".{default.name}.{os.getpid()}.filling")
    try:
        store = DuckDBStore(partial)
        for path in embedded:  # the suites share architectures; an import adds only what is new
            import_experiments(store, path)
        store.close()
        try:
            os.link(partial, default)
        except FileExistsError:
            pass  # another process filled it first; its copy is the same
        except OSError:  # a file system without hard links: a plain rename, if still absent
            if not default.exists():
                os.replace(partial, default)
    finally:
        for leftover in (partial, partial.with_name(partial.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _remove_abandoned_fills(default: Path) -> None:
    """Delete the private files of fills whose process is gone (killed by SIGKILL or a power cut).

    A fill cleans up after itself on any exception; only a process that could run no code at all
    leaves its ``.<name>.<pid>.filling`` (and ``.wal``) behind. Files of live processes stay.
    """
    if os.name != "posix" or not default.parent.is_dir():
        return  # os.kill(pid, 0) is the liveness probe used here; on Windows it would kill
    for leftover in default.parent.glob(f".{default.name}.*.filling*"):
        pid = leftover.name[len(default.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not paths.process_alive(int(pid)):
            leftover.unlink(missing_ok=True)
