from __future__ import annotations

import pytest

from lde import DuckDBStore

from tapaskit.workflows.campaign import SUITES, architecture_pool, plan_campaign, regeneration_command, run_campaign
from tapaskit.errors import InvalidOptionError
from tapaskit.space.shapes import infer_shapes


class Interrupted(Exception):
    pass


@pytest.mark.slow
def test_mini_campaign_resumes_after_an_interruption_without_duplicates(tmp_path, home):
    plan = plan_campaign("mini", archs=5, epochs=1, seed=0)
    store = DuckDBStore(tmp_path / "c.duckdb")
    seen = []

    def stop_after_three(result):
        seen.append(result)
        if len(seen) == 3:
            raise Interrupted()

    with pytest.raises(Interrupted):
        run_campaign(plan, store, workers=1, on_result=stop_after_three)
    assert store.stats()["experiments"] == 3
    report = run_campaign(plan, store, workers=2)  # the rest, in worker processes
    assert (report.planned, report.skipped, report.trained) == (10, 3, 7)
    frame = store.experiments_frame()
    assert len(frame) == 10 and frame["key"].is_unique
    assert set(frame["source"]) == {"seed"} and frame["seed"].notna().all()
    assert all(d.dcn is not None for d in store.datasets())
    again = run_campaign(plan, store, workers=1)
    assert again.trained == 0 and store.stats()["experiments"] == 10


def test_pool_is_seeded_shared_and_valid_on_every_suite_input():
    a, b, c = architecture_pool(30, 0), architecture_pool(30, 0), architecture_pool(30, 1)
    assert [x.arch_hash for x in a] == [x.arch_hash for x in b] != [x.arch_hash for x in c]
    for arch in a:
        for shape in ((1, 8, 8), (1, 16, 16), (3, 16, 16)):
            infer_shapes(arch, shape, 10)
    depths = {arch.depth for arch in a}
    assert min(depths) <= 3 and max(depths) >= 7


def test_a_larger_pool_extends_a_smaller_one():
    # a grown campaign resumes on the old LDE: its first networks are the old pool
    small, large = architecture_pool(20, 0), architecture_pool(35, 0)
    assert [x.arch_hash for x in large[:20]] == [x.arch_hash for x in small]
    assert len({x.arch_hash for x in large}) == 35


def test_default_suite_is_wide_and_the_command_is_reproducible():
    assert len(SUITES["default"]) >= 12
    assert regeneration_command("default", 150, 6, 0, 2) == \
        "tapas lde seed --suite default --archs 150 --epochs 6 --seed 0 --workers 2"
    with pytest.raises(InvalidOptionError, match="suite must be one of"):
        plan_campaign("nope")
