"""`tapas lde query --sort COLUMN [--desc] --limit N`: the rows in order, and clear refusals."""

from __future__ import annotations

from conftest import json_out, run_tapas


def _refusal(proc) -> str:
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_sort_orders_the_rows_before_the_limit(home) -> None:
    rows = json_out(run_tapas("lde", "query", "--sort", "peak_accuracy", "--desc", "--limit", "5", "--json",
                              home=home))["rows"]
    everything = json_out(run_tapas("lde", "query", "--limit", "0", "--json", home=home))["rows"]
    best = sorted((r["peak_accuracy"] for r in everything), reverse=True)[:5]
    assert [r["peak_accuracy"] for r in rows] == best

    costliest = json_out(run_tapas("lde", "query", "--sort=-flops", "--limit", "3", "--json", home=home))["rows"]
    assert [r["flops"] for r in costliest] == sorted((r["flops"] for r in everything), reverse=True)[:3]


def test_sort_refuses_what_it_cannot_order_by(home) -> None:
    line = _refusal(run_tapas("lde", "query", "--sort", "accuracy", home=home))
    assert "--sort must name one of the columns" in line and "peak_accuracy" in line and "'accuracy'" in line
    assert "curve" not in line.split("but got")[0]  # a list per row: not offered
    assert "'curve'" in _refusal(run_tapas("lde", "query", "--sort", "curve", home=home))
    assert "add --sort COLUMN" in _refusal(run_tapas("lde", "query", "--desc", home=home))
