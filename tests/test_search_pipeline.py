"""The whole loop on a small LDE made by a real mini campaign: search, resume, standalone model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import json_out, run_tapas
from lde import DuckDBStore

from tapaskit.workflows.campaign import plan_campaign, run_campaign
from tapaskit.workflows.search import SearchConfig, SearchEvents, run_search
from tapaskit.tracking import Tracker

pytestmark = pytest.mark.slow


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def mini_lde(tmp_path_factory):
    """2 datasets x 12 architectures x 1 epoch, trained for real."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAPAS_HOME", str(home))
        path = home / "mini.duckdb"
        store = DuckDBStore(path)
        report = run_campaign(plan_campaign("mini", archs=12, epochs=1), store, workers=1)
        assert report.ok + report.failed == 24
        yield path


def _config(**kw):
    base = dict(dataset="digits", preset="quick", budget=96, top_k=2, trainings=2, epochs=1, predictor="lightgbm",
                tau=0.5)
    return SearchConfig(**{**base, **kw})


def test_search_writes_a_model_that_runs_with_torch_alone(mini_lde, tmp_path, home):
    before = DuckDBStore(mini_lde).stats()["experiments"]
    out = tmp_path / "s"
    result = run_search(_config(), out_dir=out, lde=mini_lde)
    assert result.lde_rows_added == 2
    assert DuckDBStore(mini_lde).stats()["experiments"] == before + 2
    rows = DuckDBStore(mini_lde).experiments_frame().tail(2)
    assert (rows["source"] == "search").all() and rows["test_accuracy"].between(0, 1).all()  # finalists: test once
    assert sorted(c.result.test_accuracy for c in result.candidates) == sorted(rows["test_accuracy"])
    assert len(result.candidates) == 2 and result.best is not None
    written = json.loads((out / "summary.json").read_text())
    assert written == json.loads(json.dumps(result.to_dict(), default=str))
    assert set(result.timings) >= {"characterize", "fit_predictor", "propose", "train", "export", "total"}
    # model.py needs nothing but torch: run it in a plain interpreter on the digits validation split
    from tapaskit.datasets import load_dataset

    ds = load_dataset("digits")
    _, val = ds.split(val_fraction=0.2, seed=0)
    np.savez(tmp_path / "batch.npz", x=ds.x[val], y=ds.y[val])
    code = (
        "import sys, numpy as np, torch; sys.path.insert(0, sys.argv[1]); import model;"
        "net = model.load_model(sys.argv[1] + '/weights.pt'); d = np.load(sys.argv[2]);"
        "pred = net(torch.from_numpy(d['x'])).argmax(1).numpy(); print((pred == d['y']).mean());"
        "assert 'tapaskit' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(out), str(tmp_path / "batch.npz")],
                          capture_output=True, text=True, check=True)
    assert float(proc.stdout) == pytest.approx(result.best.result.peak_accuracy, abs=1e-6)
    runs = Tracker().runs("search")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.mlflow_run_id]
    assert parents and len(children) == 2
    assert parents[0].data.tags["mlflow.runName"] == "search digits · reinforce"
    client = Tracker().client
    for child in children:  # each training's run was open while it trained and logged its epochs live
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1]
        assert child.info.start_time <= history[0].timestamp <= child.info.end_time
        assert child.data.tags["mlflow.runName"].startswith("train digits · ")
        assert child.info.status == "FINISHED" and child.data.params["dataset"] == "digits"
    listed = json_out(run_tapas("searches", "--json", home=home))  # `tapas searches` finds it
    assert [(s["search_id"], s["out_dir"], s["status"]) for s in listed] == [(result.search_id, str(out.resolve()),
                                                                            "FINISHED")]
    assert listed[0]["best_test_accuracy"] == pytest.approx(result.best.result.test_accuracy)


def test_killed_search_resumes_without_duplicates(mini_lde, tmp_path, home):
    out = tmp_path / "r"
    before = DuckDBStore(mini_lde).stats()["experiments"]

    def boom_after_training(i, total, result):
        raise Stop()

    with pytest.raises(Stop):  # killed during the trainings, after the first one finished
        run_search(_config(seed=3), out_dir=out, lde=mini_lde,
                   events=SearchEvents(training_done=boom_after_training))
    # each result is written as it arrives: the finished training is kept
    assert DuckDBStore(mini_lde).stats()["experiments"] == before + 1
    result = run_search(_config(seed=3), out_dir=out, lde=mini_lde, resume=True)
    after = DuckDBStore(mini_lde).stats()["experiments"]
    assert after - before == 2 and result.lde_rows_added == 1
    assert len(result.candidates) == 2 and all(c.result.ok for c in result.candidates)
    again = run_search(_config(seed=3), out_dir=out, lde=mini_lde, resume=True)
    assert again.lde_rows_added == 0 and again.search_id == result.search_id
    assert DuckDBStore(mini_lde).stats()["experiments"] == after


def test_resume_refuses_a_checkpoint_of_another_search(mini_lde, tmp_path, home):
    from tapaskit.errors import InvalidOptionError

    out = tmp_path / "x"
    run_search(_config(top_k=1), out_dir=out, lde=mini_lde)
    with pytest.raises(InvalidOptionError, match="belongs to another search"):
        run_search(_config(top_k=1, seed=9), out_dir=out, lde=mini_lde, resume=True)
    before = (out / "summary.json").read_text()
    with pytest.raises(InvalidOptionError, match="holds another search's results .*--resume .*--force"):
        run_search(_config(top_k=1, seed=9), out_dir=out, lde=mini_lde)  # never silently replaced
    assert (out / "summary.json").read_text() == before


def test_search_says_when_it_widened_the_dcn_window(mini_lde, tmp_path, home):
    lde = tmp_path / "copy.duckdb"
    shutil.copy(mini_lde, lde)  # the mini LDE's 2 datasets are fewer than a window wants (6)
    proc = run_tapas("search", "digits", "--preset", "quick", "--budget", "48", "--top-k", "1", "--trainings", "1",
                     "--epochs", "1", "--predictor", "lightgbm", "--tau", "0.01",
                     "--out", str(tmp_path / "s"), "--lde", str(lde), home=home)
    assert proc.returncode == 0, proc.stderr
    assert "of 2 datasets (DCN window widened from tau 0.01 to " in proc.stdout
    assert "too few datasets or experiments within 0.01)" in proc.stdout


def test_rounds_refit_the_predictor_and_never_train_a_network_twice(mini_lde, tmp_path, home):
    lde = tmp_path / "rounds.duckdb"
    shutil.copy(mini_lde, lde)
    from tapaskit.datasets import load_dataset

    own_before = len(DuckDBStore(lde).query(datasets=[load_dataset("digits").fingerprint]))
    result = run_search(_config(trainings=4, screen=3, final_epochs=2, seed=5), out_dir=tmp_path / "s", lde=lde)
    assert [r.round for r in result.rounds] == [1, 2] and [r.trained for r in result.rounds] == [2, 2]
    assert [r.screened for r in result.rounds] == [6, 6]  # 3 x top-k screened per round, the best third go on
    full = [c.arch.arch_hash for c in result.candidates]
    screened = [c.arch.arch_hash for c in result.screened]
    assert len(set(full)) == 4 and len(set(screened)) == 12  # nothing trained twice at one stage
    assert set(full) <= set(screened)  # the full trainings are screening survivors
    for r in result.rounds:  # each round's survivors: the best validation accuracies of its screening
        rung = sorted((c for c in result.screened if c.round == r.round), key=lambda c: -(c.result.peak_accuracy or -1))
        assert {c.arch.arch_hash for c in rung[:2]} == {c.arch.arch_hash for c in result.candidates if c.round == r.round}
    # the refit learnt from the dataset's own experiments, round 1's too (2 full + 6 screening rows)
    assert result.rounds[0].predictor_fit.target_experiments == 0
    assert result.rounds[1].predictor_fit.target_experiments == own_before + 8
    assert all(c.result.test_accuracy is not None for c in result.candidates)
    assert all(c.result.test_accuracy is None for c in result.screened)  # only full trainings see the test split
    assert all(c.result.hparams.epochs == 1 and c.result.hparams.max_train == 500 for c in result.screened)
    rows = DuckDBStore(lde).experiments_frame()
    rows = rows[rows["key"].str.startswith(f"search/{result.search_id}/")]
    assert len(rows) == 4 + 12 + 1 and rows["key"].is_unique
    assert result.final is not None and result.final.result.hparams.epochs == 2
    assert result.final.arch == result.best.arch and result.model is result.final
    written = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert written["model"]["stage"] == "final" and len(written["rounds"]) == 2


def test_the_test_split_never_reaches_a_selection(mini_lde, tmp_path, home):
    # the same data twice, the second with its test labels shuffled: every choice (epochs, screening
    # survivors, the best network) is made on validation accuracy, so only the test figures move
    from tapaskit.datasets import load_dataset

    digits = load_dataset("digits")
    x, y = digits.x[:1700], digits.y[:1700]  # not all of digits: a content of its own (fingerprint, DCN)
    np.savez(tmp_path / "a.npz", x=x[:1400], y=y[:1400], x_test=x[1400:], y_test=y[1400:])
    shuffled = np.random.default_rng(0).permutation(y[1400:])
    np.savez(tmp_path / "b.npz", x=x[:1400], y=y[:1400], x_test=x[1400:], y_test=shuffled)
    found = []
    for name in ("a", "b"):
        lde = tmp_path / f"{name}.duckdb"
        shutil.copy(mini_lde, lde)
        found.append(run_search(_config(dataset=str(tmp_path / f"{name}.npz"), screen=2, top_k=1, trainings=1),
                                out_dir=tmp_path / name, lde=lde))
    a, b = found
    assert a.dcn == b.dcn
    assert [c.arch for c in a.screened] == [c.arch for c in b.screened]
    assert [c.arch for c in a.candidates] == [c.arch for c in b.candidates]
    assert [c.result.curve for c in a.candidates] == [c.result.curve for c in b.candidates]
    assert a.best.result.test_accuracy != b.best.result.test_accuracy


@pytest.mark.long
def test_a_search_killed_in_its_second_round_resumes_it(mini_lde, tmp_path, home):
    lde = tmp_path / "resume.duckdb"
    shutil.copy(mini_lde, lde)
    out = tmp_path / "r2"
    done = []

    def boom_in_round_two(i, total, result):
        done.append(result.arch_hash)
        if len(done) == 3:  # round 1's two trainings and the first of round 2
            raise Stop()

    with pytest.raises(Stop):
        run_search(_config(trainings=4, seed=7), out_dir=out, lde=lde, events=SearchEvents(training_done=boom_in_round_two))
    result = run_search(_config(trainings=4, seed=7), out_dir=out, lde=lde, resume=True)
    hashes = [c.arch.arch_hash for c in result.candidates]
    assert set(hashes[:2]) == set(done[:2]) and done[2] in hashes[2:]  # the picks of both rounds were kept
    assert result.lde_rows_added == 1 and len({c.arch.arch_hash for c in result.candidates}) == 4
    rows = DuckDBStore(lde).experiments_frame()
    assert rows["key"].str.startswith(f"search/{result.search_id}/").sum() == 4 and rows["key"].is_unique
