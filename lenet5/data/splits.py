"""The prepared data set: uint8 28x28 images as MNIST ships them, split, stored as plain .npy files.

Padding to 32x32 and scaling to [0, 1] happen inside the model (lenet5/training/model.py), so the arrays
on disk are a quarter of the float32 32x32 size and every consumer sees the same raw pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lenet5.errors import PipelineError
from lenet5.files import write_npy

# The data's shape, stated once: every data set this pipeline takes has MNIST's images, 28x28
# pixels of one gray channel (uint8); the model, the augmentation, the exports and lenet5-predict
# read it from here. MNIST's ten digits are the class count where nothing else gives one.
IMAGE_SIDE = 28
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE)  # as stored and as the model takes them
CHANNELS = 1
DEFAULT_CLASSES = 10


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


def load_split(folder: Path, split: str, classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 28, 28), uint8 labels (N,)) of a prepared split; missing files are named.
    With `classes`, every label must be one of that many classes."""
    paths = [folder / f"{split}_images.npy", folder / f"{split}_labels.npy"]
    for path in paths:
        if not path.is_file():
            raise PipelineError(f"{path}: missing")
    images, labels = (read_npy(path) for path in paths)
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE or len(images) != len(labels):
        raise PipelineError(f"{paths[0]}: {images.dtype} {images.shape} is not {len(labels)} uint8 28x28 images")
    if labels.dtype != np.uint8 or labels.ndim != 1 or (classes and labels.size and labels.max() >= classes):
        wanted = f"labels 0-{classes - 1}" if classes else "uint8 labels"
        raise PipelineError(f"{paths[1]}: {labels.dtype} {labels.shape} is not {wanted}")
    return images, labels


def read_npy(path: Path) -> np.ndarray:
    """A .npy file's array, or a one-line error if it is damaged (truncated, overwritten, not .npy).

    Memory-mapped first: a header that claims more data than the file holds is refused before
    anything of that size is allocated; then copied, so the file can be replaced while in use.
    """
    try:
        return np.array(np.load(path, mmap_mode="r", allow_pickle=False))
    except (ValueError, OSError, EOFError) as error:
        raise PipelineError(f"{path}: damaged, not a readable .npy file ({error})") from None
