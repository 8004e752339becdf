"""model.onnx computes what the torch network computes: onnxruntime as the oracle's rival."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort  # the `dev` extra: a missing install fails here, never skips the check
import torch

from tapaskit.space.architecture import (
    Activation,
    Architecture,
    BatchNorm,
    Conv,
    Dropout,
    FullyConnected,
    GlobalAvgPool,
    Pool,
    Residual,
)
from tapaskit.space.builder import build_module
from tapaskit.space.export import ONNX_INPUT, ONNX_OUTPUT, load_standalone, write_model_files, write_onnx

INPUT_SHAPE, CLASSES = (3, 12, 12), 5
#: every kind of layer the space has: conv, bn, activations, pool, residual (projected), dropout, gap, fc
ARCH = Architecture((
    Conv(8, 3), BatchNorm(), Activation("relu"), Pool(2, 2, "max"),
    Residual((Conv(12, 3, 2), BatchNorm(), Activation("gelu"))),
    Dropout(0.3), Conv(16, 1), Activation("leaky_relu"), GlobalAvgPool(), FullyConnected(10), Activation("tanh"),
))


def _trained_like_state(seed: int) -> dict[str, torch.Tensor]:
    """Weights and batch-norm statistics away from their initial values, as after a training."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Identity(), build_module(ARCH, INPUT_SHAPE, CLASSES))
    state = {f"1.{k}": v for k, v in net[1].state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if value.is_floating_point():
            noise = torch.rand(value.shape, generator=generator) if key.endswith("running_var") else \
                torch.randn(value.shape, generator=generator) * 0.3
            state[key] = value + noise
    state["0.mean"] = torch.tensor([0.2, -0.1, 0.5]).reshape(1, 3, 1, 1)
    state["0.std"] = torch.tensor([1.5, 0.7, 2.0]).reshape(1, 3, 1, 1)
    return state


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_write_model_files_writes_an_onnx_model_that_matches_torch(tmp_path) -> None:
    files = write_model_files(tmp_path, ARCH, INPUT_SHAPE, CLASSES, _trained_like_state(0))
    assert files["onnx"] == str(tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["architecture.json", "model.onnx", "model.py", "weights.pt"]

    net = load_standalone(tmp_path)  # eval mode: dropout off, batch-norm running statistics
    session = _session(tmp_path / "model.onnx")
    assert [i.name for i in session.get_inputs()] == [ONNX_INPUT]
    assert [o.name for o in session.get_outputs()] == [ONNX_OUTPUT]
    rng = np.random.default_rng(1)
    for batch in (1, 7, 33):  # the batch axis is dynamic, 1 included
        x = rng.normal(0.3, 1.2, size=(batch, *INPUT_SHAPE)).astype(np.float32)
        (onnx_logits,) = session.run(None, {ONNX_INPUT: x})
        with torch.no_grad():
            torch_logits = net(torch.from_numpy(x)).numpy()
        assert onnx_logits.shape == (batch, CLASSES)
        assert np.abs(onnx_logits - torch_logits).max() <= 1e-4
    assert np.abs(torch_logits).max() > 0.1  # the comparison is not between two near-zero outputs


def test_write_onnx_restores_the_training_mode_and_replaces_whole(tmp_path) -> None:
    net = build_module(ARCH, INPUT_SHAPE, CLASSES).train()
    path = write_onnx(tmp_path / "sub" / "net.onnx", net, INPUT_SHAPE)
    assert net.training
    first = path.read_bytes()
    torch.nn.init.constant_(net[0].weight, 0.5)
    write_onnx(path, net, INPUT_SHAPE)
    assert path.read_bytes() != first
    assert sorted(p.name for p in path.parent.iterdir()) == ["net.onnx"]  # no .data file, no partial left


def test_an_exporter_failure_keeps_the_torch_files(tmp_path, monkeypatch, capsys) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(torch.onnx, "export", broken)
    files = write_model_files(tmp_path, ARCH, INPUT_SHAPE, CLASSES, _trained_like_state(0))
    assert "onnx" not in files and not (tmp_path / "model.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["architecture.json", "model.py", "weights.pt"]
    assert "could not write" in capsys.readouterr().err
