"""Writing a trained network so that it runs with nothing but torch (or onnxruntime).

``write_model_files(out_dir, arch, input_shape, num_classes, state_dict)`` writes

- ``architecture.json``: the canonical JSON form;
- ``weights.pt``: the trained ``state_dict`` (plain tensors, loadable with ``weights_only=True``);
- ``model.py``: a standalone module (imports only torch) with ``build_model()`` and
  ``load_model(path)`` that rebuild the network exactly as :func:`tapaskit.training.trainer.build_trainable`
  does (input standardisation, layers, classifier head) so the saved weights load strictly;
- ``model.onnx``: the same network for ONNX runtimes (:func:`write_onnx`), input ``input``
  ``(batch, C, H, W)`` float32 in the data's units, output ``logits`` ``(batch, classes)``, the batch
  axis dynamic.

The generated ``model.py`` interprets the embedded architecture JSON with the same module layout
as :mod:`tapaskit.space.builder`; the tests check that its ``state_dict`` keys and outputs match.
``model.onnx`` is exported from that very ``model.py`` and ``weights.pt`` (:func:`load_standalone`),
so the three files cannot disagree.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import uuid
import warnings
from pathlib import Path

import torch
from torch import nn

from tapaskit.paths import atomic_write
from tapaskit.space.architecture import Architecture

#: Names of the ONNX graph's input and output.
ONNX_INPUT, ONNX_OUTPUT = "input", "logits"

_TEMPLATE = '''"""Standalone network found by tapaskit. Needs only torch.

    import torch, model
    net = model.load_model("weights.pt")        # eval mode
    logits = net(images)                        # images: (B, {c}, {h}, {w}) float32 in the data's units

The same network without torch: model.onnx (input "input", output "logits"), e.g. with onnxruntime.

Architecture ({arch_hash}): see architecture.json. Input {c}x{h}x{w}, {classes} classes.
"""

import json
import math

import torch
from torch import nn

ARCHITECTURE = json.loads({arch_json!r})
INPUT_SHAPE = ({c}, {h}, {w})
NUM_CLASSES = {classes}
ACTIVATIONS = {{"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
               "sigmoid": nn.Sigmoid, "elu": nn.ELU}}


class Standardize(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("std", torch.ones(1, channels, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class ResidualBlock(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def _linear(shape, units):
    linear = nn.Linear(math.prod(shape), units)
    return nn.Sequential(nn.Flatten(), linear) if len(shape) > 1 else linear


def _layer(spec, shape):
    """(module, output shape) of one layer; shape is (C, H, W) or (F,)."""
    kind = spec["type"]
    if kind == "conv":
        k, s = spec["kernel"], spec["stride"]
        c, h, w = shape
        return (nn.Conv2d(c, spec["filters"], k, stride=s, padding=k // 2),
                (spec["filters"], (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1))
    if kind == "bn":
        return (nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])), shape
    if kind == "act":
        return ACTIVATIONS[spec["fn"]](), shape
    if kind == "dropout":
        return nn.Dropout(spec["rate"]), shape
    if kind == "pool":
        k, s = spec["kernel"], spec["stride"]
        pool = nn.MaxPool2d if spec["mode"] == "max" else nn.AvgPool2d
        c, h, w = shape
        return pool(k, stride=s, padding=0), (c, (h - k) // s + 1, (w - k) // s + 1)
    if kind == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (shape[0],)
    if kind == "fc":
        return _linear(shape, spec["units"]), (spec["units"],)
    if kind == "residual":
        body, inner = [], shape
        for sub in spec["layers"]:
            module, inner = _layer(sub, inner)
            body.append(module)
        shortcut = nn.Identity()
        if inner != shape:
            stride = 1
            while -(-shape[1] // stride) != inner[1] or -(-shape[2] // stride) != inner[2]:
                stride += 1
            shortcut = nn.Conv2d(shape[0], inner[0], 1, stride=stride)
        return ResidualBlock(nn.Sequential(*body), shortcut), inner
    raise ValueError("unknown layer type " + repr(kind))


def build_model():
    """The untrained network: standardisation, the layers, the classifier head."""
    layers, shape = [], INPUT_SHAPE
    for spec in ARCHITECTURE["layers"]:
        module, shape = _layer(spec, shape)
        layers.append(module)
    layers.append(_linear(shape, NUM_CLASSES))
    return nn.Sequential(Standardize(INPUT_SHAPE[0]), nn.Sequential(*layers))


def load_model(path="weights.pt", map_location="cpu"):
    """The trained network in eval mode."""
    net = build_model()
    net.load_state_dict(torch.load(path, map_location=map_location, weights_only=True))
    return net.eval()
'''


def model_source(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> str:
    """The text of a standalone ``model.py`` for ``arch``."""
    c, h, w = input_shape
    return _TEMPLATE.format(arch_json=arch.to_json(), arch_hash=arch.arch_hash, c=c, h=h, w=w,
                            classes=num_classes)


def write_model_files(
    out_dir: str | Path,
    arch: Architecture,
    input_shape: tuple[int, int, int],
    num_classes: int,
    state_dict: dict[str, torch.Tensor],
    *,
    onnx: bool = True,
) -> dict[str, str]:
    """Write ``architecture.json``, ``weights.pt``, ``model.py`` and ``model.onnx`` into ``out_dir``.

    Args:
        onnx: also write ``model.onnx`` (:func:`write_onnx`). An exporter failure is one warning
            line on stderr and no ``"onnx"`` entry: the torch files are the result and stay.

    Returns:
        ``{"architecture": path, "weights": path, "model": path, "onnx": path}`` (``"onnx"`` only
        when written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"architecture": out / "architecture.json", "weights": out / "weights.pt",
             "model": out / "model.py"}
    files["architecture"].write_text(json.dumps(arch.to_dict(), indent=2) + "\n")
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, files["weights"])
    files["model"].write_text(model_source(arch, input_shape, num_classes))
    if onnx:
        try:
            files["onnx"] = write_onnx(out / "model.onnx", load_standalone(out), input_shape)
        except Exception as exc:  # noqa: BLE001 - the exporter's failure must not cost the trained model
            (out / "model.onnx").unlink(missing_ok=True)  # an earlier export's file would not match
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            sys.stderr.write(f"warning: could not write {out / 'model.onnx'} ({reason}); "
                             "model.py and weights.pt are written\n")
    return {name: str(path) for name, path in files.items()}


def load_standalone(out_dir: str | Path) -> nn.Module:
    """The network that ``out_dir``'s ``model.py`` builds with its ``weights.pt``, in eval mode.

    The module is loaded under a private name and not left in ``sys.modules``, so several exported
    models can be loaded side by side.
    """
    out = Path(out_dir)
    spec = importlib.util.spec_from_file_location(f"_tapaskit_model_{uuid.uuid4().hex}", out / "model.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(out / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_model(str(out / "weights.pt"))


def write_onnx(path: str | Path, module: nn.Module, input_shape: tuple[int, int, int]) -> Path:
    """Export ``module`` (an image classifier) to an ONNX file with a dynamic batch axis.

    Uses torch's ``torch.export``-based exporter (``dynamo=True``, needs ``onnxscript``); the
    TorchScript one is deprecated. The file is self-contained (weights inside, no ``.data`` file)
    and written whole or not at all.

    Args:
        path: the ``.onnx`` file to write.
        module: the network; exported in eval mode on the CPU (its mode is restored afterwards).
        input_shape: ``(C, H, W)`` of one image.

    Returns:
        ``path``. The graph's input is :data:`ONNX_INPUT` ``(batch, C, H, W)`` float32, its output
        :data:`ONNX_OUTPUT` ``(batch, classes)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = module.training
    module = module.eval()
    # batch 2, not 1: torch.export makes a size-1 axis a constant
    example = torch.zeros((2, *input_shape), dtype=torch.float32, device=next(module.parameters()).device)
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    try:
        onnx_logger.setLevel(logging.ERROR)  # "torchvision is not installed" and similar notices
        with warnings.catch_warnings(), atomic_write(path) as partial:
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (example,), str(partial), dynamo=True, verbose=False, report=False,
                input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                external_data=False,  # one self-contained file (ONNX's 2 GB limit is far off here)
            )
    finally:
        onnx_logger.setLevel(level)
        module.train(was_training)
    return path
