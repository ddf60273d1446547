"""A small MNIST look-alike made on the spot: real IDX files of rendered, shifted, noisy digits.

The pipeline's own tests train on it, so they need no download and finish in seconds, yet every
stage sees files of exactly MNIST's format.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def render_digit_templates() -> np.ndarray:
    """(10, 28, 28) uint8: each digit drawn in white on black, like MNIST."""
    templates = np.zeros((10, 28, 28), dtype=np.uint8)
    for digit in range(10):
        figure = Figure(figsize=(0.28, 0.28), dpi=100)
        canvas = FigureCanvasAgg(figure)
        figure.patch.set_facecolor("black")
        figure.text(0.5, 0.5, str(digit), color="white", fontsize=18, ha="center", va="center", weight="bold")
        canvas.draw()
        templates[digit] = np.asarray(canvas.buffer_rgba())[:28, :28, 0]
    return templates


def make_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` labelled 28x28 images: templates shifted by up to 3 px, with noise."""
    rng = np.random.default_rng(seed)
    templates = render_digit_templates().astype(np.int16)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = np.empty((count, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        shifted = np.roll(templates[label], tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
        noisy = shifted + rng.integers(-40, 41, size=(28, 28))
        images[i] = np.clip(noisy, 0, 255)
    return images, labels


def idx_bytes(array: np.ndarray) -> bytes:
    """Uncompressed IDX: magic 0x0000080N (unsigned bytes, N dimensions), sizes, data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mirror(folder: Path, train_count: int = 1000, test_count: int = 100) -> dict[str, dict[str, Any]]:
    """Write the four gzip IDX files; return each one's decompressed sha256 and size by name."""
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = make_digits(train_count, seed=1)
    test_images, test_labels = make_digits(test_count, seed=2)
    payloads = {
        "train-images-idx3-ubyte": idx_bytes(train_images),
        "train-labels-idx1-ubyte": idx_bytes(train_labels),
        "t10k-images-idx3-ubyte": idx_bytes(test_images),
        "t10k-labels-idx1-ubyte": idx_bytes(test_labels),
    }
    for name, payload in payloads.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(payload, mtime=0))
    return {name: {"sha256": hashlib.sha256(p).hexdigest(), "size": len(p)} for name, p in payloads.items()}


def render_class_templates(classes: int) -> np.ndarray:
    """(classes, 28, 28) uint8 templates of a data set of any class count: the ten digits, then
    letters and symbols, each drawn in white on black like MNIST's digits."""
    glyphs = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt#%&@?+<>="
    if classes > len(glyphs):
        raise ValueError(f"at most {len(glyphs)} classes")
    templates = np.zeros((classes, 28, 28), dtype=np.uint8)
    for label, glyph in enumerate(glyphs[:classes]):
        figure = Figure(figsize=(0.28, 0.28), dpi=100)
        canvas = FigureCanvasAgg(figure)
        figure.patch.set_facecolor("black")
        figure.text(0.5, 0.5, glyph, color="white", fontsize=18, ha="center", va="center", weight="bold")
        canvas.draw()
        templates[label] = np.asarray(canvas.buffer_rgba())[:28, :28, 0]
    return templates


def make_classes(count: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` labelled 28x28 images of `classes` classes, every class at least once, shifted and noisy."""
    rng = np.random.default_rng(seed)
    templates = render_class_templates(classes).astype(np.int16)
    labels = np.concatenate([np.arange(classes), rng.integers(0, classes, size=count - classes)]).astype(np.uint8)
    labels = labels[rng.permutation(count)]
    images = np.empty((count, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        shifted = np.roll(templates[label], tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
        images[i] = np.clip(shifted + rng.integers(-30, 31, size=(28, 28)), 0, 255)
    return images, labels


def write_idx_set(folder: Path, parts: dict[str, np.ndarray]) -> None:
    """Each array as NAME.gz, gzip IDX, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in parts.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array), mtime=0))
