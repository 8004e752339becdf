"""The README's Python example runs as written on a fresh data home."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_python_example_runs_on_a_fresh_home(tmp_path):
    code = _python_block()
    assert "import tapaskit" in code and len(code.strip().splitlines()) <= 8
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "TAPAS_HOME": str(tmp_path / "home"), "TAPAS_TRACKING": "off",
                               "PYTHONPATH": str(ROOT)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    predicted = [float(v) for v in re.findall(r"[0-9.]+", proc.stdout)]
    assert len(predicted) == 2 and all(0.0 < p <= 1.0 for p in predicted)
    assert predicted[0] != predicted[1]  # each network is scored on its own
