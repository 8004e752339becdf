"""Trainings on a real local Ray cluster (no mocks): the same results as the local executor, a search
through Ray, a killed worker retried without a duplicate row, a timeout recorded with its reason."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lde import DuckDBStore, MemoryStore

from conftest import json_out, run_tapas
from tapaskit.training import Hyperparameters, LocalExecutor, TrainingJob, TrainStatus
from tapaskit.workflows.campaign import plan_campaign, run_campaign

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the test cluster listens on loopback only
ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _ray_executor(**options):
    from tapaskit.training.ray_executor import RayExecutor

    return RayExecutor(**options)


def test_a_mini_campaign_through_ray_writes_what_the_local_executor_writes(cluster, home):
    plan = plan_campaign("mini", archs=4, epochs=1, seed=0)
    local, remote = MemoryStore(), MemoryStore()
    with LocalExecutor(workers=1, device="cpu", threads=1) as executor:
        run_campaign(plan, local, executor=executor)
    with _ray_executor(workers=2, cpus_per_trial=1) as executor:
        report = run_campaign(plan, remote, executor=executor)
    assert (report.planned, report.trained) == (8, 8)
    mine, theirs = (s.experiments_frame().set_index("key").sort_index() for s in (local, remote))
    assert list(mine.index) == list(theirs.index) and theirs.index.is_unique
    assert list(mine["peak_accuracy"]) == list(theirs["peak_accuracy"])  # seeded CPU trainings, 1 thread each


def test_a_quick_search_runs_its_trainings_on_ray(cluster, home, tmp_path):
    from tapaskit.predictor.synthetic import synthetic_lde
    from lde.io import export_experiments, import_experiments

    export_experiments(synthetic_lde(n_datasets=6, n_archs=30, seed=1), tmp_path / "s.parquet")
    lde = tmp_path / "s.duckdb"
    import_experiments(DuckDBStore(lde), tmp_path / "s.parquet")
    before = DuckDBStore(lde).stats()["experiments"]
    result = json_out(run_tapas(
        "search", "digits", "--preset", "quick", "--budget", "48", "--top-k", "2", "--trainings", "2", "--epochs", "1",
        "--predictor", "lightgbm", "--executor", "ray", "--ray-address", cluster, "--workers", "2",
        "--out", str(tmp_path / "out"), "--lde", str(lde), "--json", home=home))
    assert len(result["candidates"]) == 2 and all(c["status"] == "ok" for c in result["candidates"])
    frame = DuckDBStore(lde).experiments_frame()
    rows = frame[frame["source"] == "search"]
    assert len(frame) == before + 2 and sorted(rows["key"]) == sorted(
        f"search/{result['search_id']}/{c['arch_hash']}" for c in result["candidates"])


def _kill_first_training(state: dict) -> None:
    """SIGKILL the first Ray worker seen running a training (Ray titles it ray::_train_task)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not state.get("killed"):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    title = handle.read()
            except OSError:
                continue
            if title.startswith(b"ray::_train_task"):
                os.kill(int(pid), signal.SIGKILL)
                state["killed"] = int(pid)
                return
        time.sleep(0.05)


def test_a_killed_ray_worker_is_retried_and_no_row_is_written_twice(cluster, home):
    plan = plan_campaign("mini", archs=2, epochs=4, seed=0)
    store, state = MemoryStore(), {}
    killer = threading.Thread(target=_kill_first_training, args=(state,), daemon=True)
    killer.start()
    with _ray_executor(workers=2, max_retries=1) as executor:
        report = run_campaign(plan, store, executor=executor)
    killer.join(timeout=5)
    assert state.get("killed"), "no training was seen running"
    frame = store.experiments_frame()
    assert report.ok == 4 and len(frame) == 4 and frame["key"].is_unique  # retried once, recorded once


def test_a_training_over_the_trial_timeout_is_a_failed_row_with_its_reason(cluster, home, digits):
    from tapaskit.space import parse_architecture

    job = TrainingJob(key="slow", arch=parse_architecture("[C(64,3,1), C(64,3,1), SM(10)]"), dataset=digits,
                      hparams=Hyperparameters(epochs=200))
    with _ray_executor(workers=1, trial_timeout=1.0) as executor:
        ((_, result),) = list(executor.run([job]))
    assert result.status is TrainStatus.FAILED and result.message.startswith("timeout")
    # recorded as a failed row that says why
    from tapaskit.store import experiment_record

    record = experiment_record(result, source="train", key="slow")
    assert record.status.value == "failed" and record.extra_hparams["message"].startswith("timeout")


def test_a_dataset_too_large_for_the_object_store_is_refused_before_any_task(cluster, digits):
    from tapaskit.errors import InvalidOptionError
    from tapaskit.space import parse_architecture

    job = TrainingJob(key="big", arch=parse_architecture("[C(8,3,1), SM(10)]"), dataset=digits,
                      hparams=Hyperparameters(epochs=1))
    with _ray_executor(workers=1) as executor:
        executor._object_store = 100_000.0  # a store of 100 kB: digits' 460 kB do not fit in half of it
        with pytest.raises(InvalidOptionError, match="too large for Ray's object store .* --ray-data path"):
            executor.run([job])


def test_no_cluster_at_the_address_is_one_line_naming_it(home):
    proc = run_tapas("train", "digits", "--arch", "[C(8,3,1), SM(10)]", "--epochs", "1", "--no-record",
                     "--executor", "ray", "--ray-address", "127.0.0.1:9", home=home)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: no Ray cluster at 127.0.0.1:9") and "ray start --head" in proc.stderr
