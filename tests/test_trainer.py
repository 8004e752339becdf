from __future__ import annotations

import numpy as np
import pytest
import torch

from tapaskit.space.architecture import Architecture
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError
from tapaskit.training.trainer import (
    Hyperparameters,
    TrainStatus,
    build_trainable,
    evaluate,
    train_architecture,
)
from tapaskit.training.devices import resolve_device

from conftest import TINY, TWO_CONV

FAST = Hyperparameters(epochs=2, batch_size=64, max_train=400)


def test_same_seed_same_curve_other_seed_other_curve(digits):
    arch = Architecture.from_dict(TINY)
    a = train_architecture(arch, digits, FAST, seed=1)
    b = train_architecture(arch, digits, FAST, seed=1)
    c = train_architecture(arch, digits, FAST, seed=2)
    assert a.status is TrainStatus.OK
    assert a.curve == b.curve and a.train_loss == b.train_loss
    assert a.train_loss != c.train_loss


def test_training_leaves_global_rng_alone(digits):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_architecture(Architecture.from_dict(TINY), digits, Hyperparameters(epochs=1, max_train=100))
    assert torch.equal(torch.rand(3), expected)


def test_result_reports_params_of_the_real_module_and_learns(digits):
    arch = Architecture.from_dict(TWO_CONV)
    result = train_architecture(arch, digits, Hyperparameters(epochs=3), seed=0, keep_weights=True)
    module = build_trainable(arch, digits.input_shape, digits.num_classes)
    assert result.params == sum(p.numel() for p in module.parameters())
    assert result.ok and result.peak_accuracy >= 0.9
    assert result.peak_accuracy == max(result.curve) and result.final_accuracy == result.curve[-1]
    # the kept weights are those of the best epoch: they reproduce the peak accuracy
    module.load_state_dict(result.state_dict)
    _, val_idx = digits.split(val_fraction=0.2, seed=0)
    acc = evaluate(module, torch.from_numpy(digits.x[val_idx]), torch.from_numpy(digits.y[val_idx]))
    assert acc == pytest.approx(result.peak_accuracy)


def test_diverging_run_becomes_a_record_not_an_exception(digits):
    arch = Architecture.from_dict({"layers": [{"type": "fc", "units": 64}, {"type": "act"}]})
    result = train_architecture(arch, digits, Hyperparameters(epochs=2, lr=1e12, optimizer="sgd", max_train=300))
    assert result.status is TrainStatus.DIVERGED
    assert "loss" in result.message and result.state_dict is None


def test_invalid_architecture_for_the_input_raises_before_training(digits):
    pools = [{"type": "pool", "kernel": 2}] * 4  # 8x8 -> 4 -> 2 -> 1 -> 0
    with pytest.raises(InvalidArchitectureError, match=r"layer 3 \(pool\)"):
        train_architecture(Architecture.from_dict({"layers": pools}), digits)


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 0, "epochs must be >= 1"), ("lr", -1.0, "lr must be a positive"),
    ("optimizer", "rmsprop", "optimizer must be one of"), ("val_fraction", 1.0, "val_fraction must be in"),
])
def test_bad_hyperparameters_are_refused(field, value, message):
    with pytest.raises(InvalidOptionError, match=message):
        Hyperparameters(**{field: value})


def test_curve_values_are_accuracies(digits):
    result = train_architecture(Architecture.from_dict(TINY), digits, FAST)
    assert all(0.0 <= a <= 1.0 for a in result.curve)
    assert len(result.curve) == FAST.epochs and np.isfinite(result.train_loss).all()


@pytest.mark.parametrize("device, message", [
    ("tpu", "device must be like 'cpu' or 'cuda', but got 'tpu'"),
    ("meta", "device must be 'cpu' or 'cuda', but got 'meta'"),
    pytest.param("cuda", "CUDA is not available; use 'cpu'",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_a_wrong_device_is_an_option_error_before_training(digits, device, message):
    with pytest.raises(InvalidOptionError, match=message):
        train_architecture(Architecture.from_dict(TINY), digits, device=device)
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
