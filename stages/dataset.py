"""The prepared data set: how raw digits become network input, and where the arrays live."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.atomic import write_npy
from stages.errors import PipelineError

SPLITS = ("train", "val", "test")
PAD = 2  # 28x28 -> 32x32, the input size LeNet-5 was designed for


def pad_and_scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 32, 32, 1) in [0, 1], zero (black) border."""
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD)))
    return (padded.astype(np.float32) / np.float32(255.0))[..., np.newaxis]


def split_validation(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices; the same seed always gives the same split."""
    order = np.random.default_rng(seed).permutation(count)
    val_count = max(1, round(count * fraction))
    if val_count >= count:
        raise PipelineError(f"prepare.validation_size: {fraction} leaves no training images out of {count}")
    return np.sort(order[val_count:]), np.sort(order[:val_count])


def save_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    write_npy(folder / f"{split}_images.npy", images)
    write_npy(folder / f"{split}_labels.npy", labels)


def load_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a prepared split; a missing file is an error naming it."""
    paths = [folder / f"{split}_images.npy", folder / f"{split}_labels.npy"]
    for path in paths:
        if not path.is_file():
            raise PipelineError(f"{path}: missing; run `dvc repro` to prepare the data")
    images, labels = (np.load(path, allow_pickle=False) for path in paths)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 1) or len(images) != len(labels):
        raise PipelineError(f"{paths[0]}: shape {images.shape} does not fit {len(labels)} labels of 32x32x1 images")
    return images, labels
