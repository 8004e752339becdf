"""The embedded default LDE: experiments shipped inside the package.

``default_lde.parquet`` (the open export format of :mod:`lde.io`) holds the seeding campaign's
experiments; ``DATA_CARD.md`` beside it says what they are and how to regenerate them. A fresh
data home fills its LDE from this file on first use; a user's own LDE file is never touched.
"""

from __future__ import annotations

from pathlib import Path

FILENAME = "default_lde.parquet"


def embedded_default_path() -> Path | None:
    """The shipped Parquet file, or None in a checkout where it has not been generated yet."""
    path = Path(__file__).with_name(FILENAME)
    return path if path.is_file() else None
