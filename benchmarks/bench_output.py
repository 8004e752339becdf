"""The one way every benchmark script reports: indented JSON on stdout, and the same text in
``--out`` when given (its folder is created). Imported by the scripts beside it, which run as
files (``python benchmarks/<name>.py``), so this folder is on ``sys.path``."""

from __future__ import annotations

import json
from pathlib import Path


def emit_json(report: dict, out: str | Path | None) -> None:
    """Print ``report`` as indented JSON and write the same text to ``out`` unless it is ``None``."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
