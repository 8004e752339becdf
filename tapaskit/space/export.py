"""Writing a trained network so that it runs with nothing but torch.

``write_model_files(out_dir, arch, input_shape, num_classes, state_dict)`` writes

- ``architecture.json``: the canonical JSON form;
- ``weights.pt``: the trained ``state_dict`` (plain tensors, loadable with ``weights_only=True``);
- ``model.py``: a standalone module (imports only torch) with ``build_model()`` and
  ``load_model(path)`` that rebuild the network exactly as :func:`tapaskit.training.trainer.build_trainable`
  does (input standardisation, layers, classifier head) so the saved weights load strictly.

The generated ``model.py`` interprets the embedded architecture JSON with the same module layout
as :mod:`tapaskit.space.builder`; the tests check that its ``state_dict`` keys and outputs match.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tapaskit.space.architecture import Architecture

_TEMPLATE = '''"""Standalone network found by tapaskit. Needs only torch.

    import torch, model
    net = model.load_model("weights.pt")        # eval mode
    logits = net(images)                        # images: (B, {c}, {h}, {w}) float32 in the data's units

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
) -> dict[str, str]:
    """Write ``architecture.json``, ``weights.pt`` and ``model.py`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"architecture": out / "architecture.json", "weights": out / "weights.pt",
             "model": out / "model.py"}
    files["architecture"].write_text(json.dumps(arch.to_dict(), indent=2) + "\n")
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, files["weights"])
    files["model"].write_text(model_source(arch, input_shape, num_classes))
    return {name: str(path) for name, path in files.items()}
