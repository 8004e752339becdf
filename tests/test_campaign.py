from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lde import DuckDBStore

from tapaskit.workflows.campaign import (
    LARGE_MAX_FLOPS,
    LARGE_POOL_SIZE,
    SCHEDULE,
    SCHEDULES,
    SHIPPED_FILES,
    SUITES,
    architecture_pool,
    large_pool,
    plan_campaign,
    regeneration_command,
    run_campaign,
    write_data_card,
)
from tapaskit.datasets.builtin import fashion_mnist_dir
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


def test_the_large_pool_is_the_first_default_networks_that_fit_at_native_resolution():
    default = [a.arch_hash for a in architecture_pool(300, 0)]
    large = large_pool(LARGE_POOL_SIZE, 0)
    positions = [default.index(a.arch_hash) for a in large]  # ValueError if one is not in the default pool
    assert positions == sorted(positions) and len(set(positions)) == LARGE_POOL_SIZE
    for arch in large:
        assert infer_shapes(arch, (1, 28, 28), 10).flops <= LARGE_MAX_FLOPS
        assert infer_shapes(arch, (3, 32, 32), 8).flops <= LARGE_MAX_FLOPS
    # every default network before the last one kept was left out only for its FLOPs
    kept = {a.arch_hash for a in large}
    for arch in architecture_pool(300, 0)[:positions[-1]]:
        if arch.arch_hash not in kept:
            assert max(infer_shapes(arch, (1, 28, 28), 10).flops, infer_shapes(arch, (3, 32, 32), 10).flops) \
                > LARGE_MAX_FLOPS
    assert [a.arch_hash for a in large_pool(10, 0)] == [a.arch_hash for a in large[:10]]  # grows by extension
    with pytest.raises(InvalidOptionError, match="ask for fewer"):
        large_pool(300, 0)


def test_the_large_suite_has_its_own_schedule_and_pool_size():
    plan = plan_campaign("large")
    assert plan.hparams is SCHEDULES["large"]
    assert plan.hparams.epochs >= 8 and plan.hparams.max_train >= 2000 and plan.hparams.batch_size == 64
    assert len(plan.architectures) == LARGE_POOL_SIZE and 6 <= len(plan.datasets) <= 10
    assert plan.key("abc", plan.architectures[0]).startswith("campaign/large/abc/")
    assert plan_campaign("large", archs=5, epochs=10).hparams.epochs == 10
    assert plan_campaign("default", archs=5).hparams is SCHEDULE  # the other suites are unchanged
    assert plan_campaign("mini", archs=5).hparams is SCHEDULE


@pytest.mark.skipif(not (fashion_mnist_dir() / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_large_suite_is_at_native_resolution_with_thousands_of_training_samples():
    from tapaskit.datasets import load_dataset

    hp = SCHEDULES["large"]
    shapes = set()
    for spec in SUITES["large"]:
        ds = load_dataset(spec)
        shapes.add(ds.input_shape)
        assert ds.input_shape in {(1, 28, 28), (3, 32, 32)}, spec
        if spec.startswith("fashion-mnist"):
            assert ds.has_official_test, spec  # the official t10k images stay the test part
        train, val = ds.split(hp.val_fraction, seed=0)
        assert not set(train) & set(ds.test_indices()) and not set(val) & set(ds.test_indices())
        assert min(len(train), hp.max_train) >= 3000 and len(val) >= 700, spec
    assert shapes == {(1, 28, 28), (3, 32, 32)}


@pytest.mark.skipif(not all((Path(__file__).parents[1] / "lde" / "default" / f).is_file()
                            for f in SHIPPED_FILES.values()), reason="the shipped suites are not generated")
def test_the_data_card_describes_both_shipped_suites(tmp_path):
    for name in SHIPPED_FILES.values():
        shutil.copy(Path(__file__).parents[1] / "lde" / "default" / name, tmp_path / name)
    card = write_data_card(tmp_path).read_text()
    for suite in ("default", "large"):
        assert f"## Suite `{suite}` (`{SHIPPED_FILES[suite]}`)" in card
        assert f"tapas lde seed --suite {suite} " in card
    assert "1x28x28" in card and "3x32x32" in card and "batch size 64, 8 epochs" in card
