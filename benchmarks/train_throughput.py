"""Training throughput (images/s) of the reference two-conv network. Prints JSON.

Times the real trainer (`tapaskit.training.trainer.train_architecture`) on Fashion-MNIST (or digits when
Fashion-MNIST is not installed): images per second over the training epochs (the per-epoch validation passes included), plus the accuracy
reached, on CPU or CUDA.

    python benchmarks/train_throughput.py --dataset 'fashion-mnist[n=5000]' --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from tapaskit.space.architecture import Architecture
from tapaskit.datasets import list_builtin, load_dataset
from tapaskit.training.trainer import Hyperparameters, train_architecture

REFERENCE = {"layers": [
    {"type": "conv", "filters": 32, "kernel": 3}, {"type": "bn"}, {"type": "act"},
    {"type": "pool", "kernel": 2},
    {"type": "conv", "filters": 64, "kernel": 3}, {"type": "bn"}, {"type": "act"},
    {"type": "pool", "kernel": 2},
]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    fashion = any(i.name == "fashion-mnist" and i.available for i in list_builtin())
    spec = args.dataset or ("fashion-mnist[n=5000]" if fashion else "digits")
    ds = load_dataset(spec)
    hp = Hyperparameters(epochs=args.epochs, batch_size=args.batch_size)
    result = train_architecture(Architecture.from_dict(REFERENCE), ds, hp, seed=0, device=args.device)
    train_images = len(ds.split(hp.val_fraction, seed=0)[0]) * hp.epochs
    report = {
        "dataset": ds.name, "device": result.device, "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "epochs": hp.epochs, "batch_size": hp.batch_size,
        "train_images": train_images, "seconds": result.seconds,
        "images_per_second": train_images / result.seconds, "peak_accuracy": result.peak_accuracy,
        "params": result.params, "flops_per_image": result.flops, "status": result.status.value,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
