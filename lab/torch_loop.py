"""A plain PyTorch training loop of the same LeNet-5, for comparison only: what a CPU gives a peer.

Not part of the project (PyTorch is not a dependency): `python -m lab.train_speed --torch-python
PATH` runs it with another environment's interpreter, which needs only torch and numpy. It trains
the network LeNet-5 is here (6@5x5 and 16@5x5 convolutions with ReLU and max-pooling, dense 120,
84 and 10; digits padded to 32x32 and scaled to [0, 1]) with Adam at PyTorch's defaults, batch 512,
no augmentation, on the prepared arrays of `dvc repro prepare`, and prints one JSON line in the
form of lab.train_speed's runs. Nothing here imports the project, so it runs in that environment.

    /path/to/torch-env/bin/python lab/torch_loop.py --data data/prepared --seed 101 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

BATCH = 512


def lenet5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def as_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) to float (N, 1, 32, 32) in [0, 1], padded by 2 as the Keras model does."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32) / 255.0
    return torch.from_numpy(padded[:, None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    x = as_input(np.load(args.data / "train_images.npy"))
    y = torch.from_numpy(np.load(args.data / "train_labels.npy").astype(np.int64))
    test_x = as_input(np.load(args.data / "test_images.npy"))
    test_y = torch.from_numpy(np.load(args.data / "test_labels.npy").astype(np.int64))
    model = lenet5()
    optimizer = torch.optim.Adam(model.parameters())
    loss_of = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    seconds, accuracies = [], []
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        started = time.perf_counter()
        for start in range(0, len(y), BATCH):
            batch = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([model(test_x[i : i + 2000]).argmax(1) for i in range(0, len(test_y), 2000)])
        accuracies.append(float((predicted == test_y).float().mean()))
    steady = seconds[1:] or seconds
    print(
        json.dumps(
            {
                "case": "torch",
                "seed": args.seed,
                "samples_per_second": len(y) * len(steady) / sum(steady),
                "epochs": args.epochs,
                "train_seconds": sum(seconds),
                "epoch_seconds": seconds,
                "epoch_accuracies": accuracies,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_device_mb": None,
                "device": "CPU",
                "keras": "-",
                "backend": f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
