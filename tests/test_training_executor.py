"""The Executor seam: the same results and the same events in-process and in worker processes;
largest first; a dead worker is retried, then recorded, never a crash."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from tapaskit.errors import InvalidOptionError
from tapaskit.space.architecture import Architecture
from tapaskit.training import Hyperparameters, LocalExecutor, TrainingEvents, TrainingJob, TrainStatus

from conftest import TINY, TWO_CONV

FAST = Hyperparameters(epochs=2, batch_size=64, max_train=300)


def _jobs(digits, hparams=FAST):
    archs = [Architecture.from_dict(TINY), Architecture.from_dict(TWO_CONV)]
    return [TrainingJob(key=f"k{i}", arch=a, dataset=digits, hparams=hparams, seed=3) for i, a in enumerate(archs)]


def _run(executor, jobs):
    seen = {"started": [], "epochs": []}
    events = TrainingEvents(started=lambda job: seen["started"].append(job.key),
                            epoch=lambda job, e, loss, acc: seen["epochs"].append((job.key, e)))
    with executor:
        results = {job.key: result for job, result in executor.run(jobs, events)}
    return results, seen


@pytest.mark.slow
def test_processes_give_the_in_process_results_and_fire_the_same_events(digits):
    jobs = _jobs(digits)
    here, here_events = _run(LocalExecutor(workers=1, device="cpu", threads=1), jobs)
    there, there_events = _run(LocalExecutor(workers=2, device="cpu", threads=1), jobs)
    assert set(here) == set(there) == {"k0", "k1"}
    for key in here:
        assert here[key].status is TrainStatus.OK
        assert here[key].curve == there[key].curve  # seeded CPU trainings: the same numbers
    for seen in (here_events, there_events):
        assert sorted(seen["started"]) == ["k0", "k1"]
        assert sorted(seen["epochs"]) == [("k0", 1), ("k0", 2), ("k1", 1), ("k1", 2)]


def test_the_largest_training_starts_first(digits):
    small, large = _jobs(digits)
    assert large.cost > small.cost
    _, seen = _run(LocalExecutor(workers=1, device="cpu"), [small, large])
    assert seen["started"] == ["k1", "k0"]


def test_a_network_that_cannot_be_built_is_a_failed_result_not_a_crash(digits):
    bad = TrainingJob(key="bad", arch=Architecture.from_json('[{"type": "pool", "kernel": 64}]'),
                      dataset=digits, hparams=FAST)
    results, _ = _run(LocalExecutor(workers=1, device="cpu"), [bad])
    assert results["bad"].status is TrainStatus.FAILED
    assert "InvalidArchitectureError" in results["bad"].message


def test_job_keys_must_be_unique_and_options_are_checked(digits):
    job = _jobs(digits)[0]
    with pytest.raises(ValueError, match="unique"):
        list(LocalExecutor(workers=1).run([job, job]))
    with pytest.raises(InvalidOptionError, match="workers must be an integer >= 1"):
        LocalExecutor(workers=0)
    with pytest.raises(InvalidOptionError, match="device"):
        LocalExecutor(device="tpu")


def _kill_a_worker_once(state):
    def on_epoch(job, epoch, loss, acc):
        if not state.get("killed"):
            state["killed"] = True
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
    return on_epoch


@pytest.mark.slow
@pytest.mark.parametrize("retries", [1, 0])
def test_a_killed_worker_is_retried_then_recorded_failed(digits, retries):
    jobs = _jobs(digits, Hyperparameters(epochs=3, batch_size=64, max_train=300))
    state: dict[str, bool] = {}
    events = TrainingEvents(epoch=_kill_a_worker_once(state))
    with LocalExecutor(workers=2, device="cpu", threads=1, max_retries=retries) as executor:
        results = {job.key: result for job, result in executor.run(jobs, events)}
    assert state["killed"] and set(results) == {"k0", "k1"}  # every job answered, once
    statuses = {r.status for r in results.values()}
    if retries:
        assert statuses == {TrainStatus.OK}
    else:
        assert TrainStatus.FAILED in statuses
        assert any("worker process died" in r.message for r in results.values())
