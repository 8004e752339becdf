"""The found network as an MLflow model: logged with a signature, registered, loadable by name."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from tapaskit.errors import InvalidOptionError
from tapaskit.space.architecture import Activation, Architecture, BatchNorm, Conv, GlobalAvgPool, Pool
from tapaskit.space.builder import build_module
from tapaskit.tracking import Tracker
from tapaskit.workflows.mlflow_model import check_model_name, default_model_name, log_found_model

INPUT_SHAPE, CLASSES = (1, 8, 8), 10
ARCH = Architecture((Conv(8, 3), BatchNorm(), Activation(), Pool(2), GlobalAvgPool()))


def _network(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_module(ARCH, INPUT_SHAPE, CLASSES).eval()


def _batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *INPUT_SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    """One tracking store for the module (creating a SQLite store takes seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAPAS_HOME", str(tmp_path_factory.mktemp("home")))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("TAPAS_TRACKING", raising=False)
        yield Tracker()


@pytest.mark.slow
def test_the_registered_model_loads_by_name_and_predicts(tracker, tmp_path, monkeypatch) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)  # MLflow's default experiment would put the model in ./mlruns
    net = _network()
    with tracker.run("search", "search digits · test") as run:
        logged = log_found_model(run, net, _batch(16), registered_name="tapaskit-digits",
                                 tags={"architecture": "C(8,3)-BN-ReLU-P2-GAP", "val_accuracy": 0.9})
    assert logged is not None
    assert (logged.registered_name, logged.version, logged.run_id) == ("tapaskit-digits", 1, run.run_id)
    assert logged.registry_uri == "models:/tapaskit-digits/1"
    assert "MLFLOW_TRACKING_URI" not in os.environ  # the global store was put back
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert not (tmp_path / "mlruns").exists()  # the model's files went to the data home

    mlflow.set_tracking_uri(tracker.tracking_uri)
    try:
        loaded = mlflow.pyfunc.load_model("models:/tapaskit-digits/1")
        x = _batch(5, seed=3)
        predicted = np.asarray(loaded.predict(x))
        assert predicted.shape == (5, CLASSES)
        with torch.no_grad():
            np.testing.assert_allclose(predicted, net(torch.from_numpy(x)).numpy(), atol=1e-5)
        inputs = loaded.metadata.get_input_schema().inputs[0]
        assert inputs.shape == (-1, *INPUT_SHAPE) and inputs.type == np.dtype("float32")
        assert loaded.metadata.get_output_schema().inputs[0].shape == (-1, CLASSES)
        version = mlflow.MlflowClient().get_model_version("tapaskit-digits", "1")
        assert version.run_id == run.run_id and version.tags["architecture"] == "C(8,3)-BN-ReLU-P2-GAP"

        # the same name again (a run id this time): version 2, and version 1 stays
        again = log_found_model(run.run_id, _network(1), _batch(1), registered_name="tapaskit-digits",
                                tracking_uri=tracker.tracking_uri)
        assert again is not None and again.version == 2
        assert np.asarray(mlflow.pyfunc.load_model("models:/tapaskit-digits/1").predict(x)).shape == (5, CLASSES)

        # without a name: logged (loadable by its model URI), not registered
        with tracker.run("search", "no registry") as other:
            plain = log_found_model(other, _network(2), _batch(3))
        assert plain is not None and plain.registered_name is None and plain.registry_uri is None
        assert np.asarray(mlflow.pyfunc.load_model(plain.model_uri).predict(x)).shape == (5, CLASSES)
        assert [m.name for m in mlflow.MlflowClient().search_registered_models()] == ["tapaskit-digits"]
    finally:
        mlflow.set_tracking_uri(None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_an_mlflow_failure_is_a_warning(tracker, capsys) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("cannot run")

    with tracker.run("search", "broken") as run:
        assert log_found_model(run, Broken(), _batch(2)) is None
    assert "could not log the found model" in capsys.readouterr().err


def test_tracking_off_logs_nothing(home, monkeypatch) -> None:
    monkeypatch.setenv("TAPAS_TRACKING", "off")
    with Tracker().run("search", "untracked") as run:
        assert log_found_model(run, _network(), _batch(2), registered_name="x") is None


def test_bad_input_is_refused_before_anything_is_logged() -> None:
    # a run id that exists nowhere: the checks come first, so the store is never opened
    with pytest.raises(InvalidOptionError, match=r"must be \(B, C, H, W\) images, but got shape \(8, 8\)"):
        log_found_model("no-such-run", _network(), np.zeros((8, 8)), tracking_uri="sqlite:////nonexistent/x.db")
    with pytest.raises(InvalidOptionError, match="without '/'"):
        log_found_model("no-such-run", _network(), _batch(2), registered_name="a/b",
                        tracking_uri="sqlite:////nonexistent/x.db")


def test_default_names() -> None:
    assert default_model_name("digits") == "tapaskit-digits"
    assert default_model_name("Fashion MNIST") == "tapaskit-fashion-mnist"
    assert default_model_name("/data/my_images/") == "tapaskit-my_images"
    assert default_model_name("cifar10.npz") == "tapaskit-cifar10.npz"
    assert check_model_name(default_model_name("///")) == "tapaskit-dataset"
    with pytest.raises(InvalidOptionError):
        check_model_name("")


def test_a_figure_lands_in_the_runs_artifacts(tracker, tmp_path) -> None:
    from tapaskit.evaluation.plots import save_figure, search_progress_figure

    with tracker.run("search", "plots") as run:
        save_figure(search_progress_figure([0.5, 0.6, 0.7]), tmp_path / "progress.png", run=run)
    listed = [a.path for a in tracker.client.list_artifacts(run.run_id, "plots")]
    assert listed == ["plots/progress.png"]
