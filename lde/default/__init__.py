"""The embedded default LDE: experiments shipped inside the package.

Two Parquet files (the open export format of :mod:`lde.io`), one per seeding-campaign suite:

- ``default_lde.parquet``: the ``default`` suite, small inputs (at most 16x16), 6 epochs;
- ``large_lde.parquet``: the ``large`` suite, the regime users search in (28x28 and 32x32
  inputs, about 3,000 training samples, 8 epochs), on a subset of the same architectures.

``DATA_CARD.md`` beside them says what they are and how to regenerate them. A fresh data home
fills its LDE from all of them on first use; a user's own LDE file is never touched.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FILENAME", "FILENAMES", "embedded_default_path", "embedded_default_paths", "embedded_rows"]

#: The default suite's file.
FILENAME = "default_lde.parquet"
#: Every shipped file, in the order a first use imports them.
FILENAMES: tuple[str, ...] = (FILENAME, "large_lde.parquet")


def embedded_default_path() -> Path | None:
    """The default suite's shipped file, or None in a checkout where it has not been generated yet.

    A fresh data home is filled from :func:`embedded_default_paths`, of which this is the first.
    """
    path = Path(__file__).with_name(FILENAME)
    return path if path.is_file() else None


def embedded_default_paths() -> tuple[Path, ...]:
    """Every shipped file that exists, in :data:`FILENAMES` order (empty when none was generated)."""
    here = Path(__file__).parent
    return tuple(here / name for name in FILENAMES if (here / name).is_file())


def embedded_rows() -> int:
    """Experiments a fresh data home's LDE holds once filled: the rows of every shipped file that
    carry an experiment (a dataset or architecture without one travels as a row with no status)."""
    import pyarrow.parquet as pq

    return sum(len(status) - status.null_count
               for status in (pq.read_table(path, columns=["status"]).column("status")
                              for path in embedded_default_paths()))
