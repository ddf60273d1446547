"""Stage prepare: parse the raw IDX files, pad to 32x32, scale to [0, 1], split off validation.

Writes float32 images (N, 32, 32, 1) and uint8 labels as .npy files under data/prepared/:
train, val (a seeded `prepare.validation_size` fraction of the 60,000 training images) and test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stages.dataset import pad_and_scale, save_split, split_validation
from stages.errors import PipelineError, run_stage
from stages.idx import load_idx_images, load_idx_labels
from stages.params import load_section


def load_raw_pair(raw: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one MNIST part ("train" or "t10k"); their counts must agree."""
    images_path = raw / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = raw / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise PipelineError(f"{path}: missing; the fetch stage writes it")
    images, labels = load_idx_images(images_path), load_idx_labels(labels_path)
    if len(images) != len(labels):
        raise PipelineError(
            f"{images_path.name} has {len(images)} images but {labels_path.name} has {len(labels)} labels"
        )
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=Path("data/raw"))
    parser.add_argument("--out", type=Path, default=Path("data/prepared"))
    args = parser.parse_args()
    params = load_section("prepare")

    train_images, train_labels = load_raw_pair(args.raw, "train")
    test_images, test_labels = load_raw_pair(args.raw, "t10k")
    train_idx, val_idx = split_validation(len(train_labels), params["validation_size"], params["seed"])

    save_split(args.out, "train", pad_and_scale(train_images[train_idx]), train_labels[train_idx])
    save_split(args.out, "val", pad_and_scale(train_images[val_idx]), train_labels[val_idx])
    save_split(args.out, "test", pad_and_scale(test_images), test_labels)
    print(f"prepare: {len(train_idx)} train, {len(val_idx)} validation, {len(test_labels)} test images")


if __name__ == "__main__":
    run_stage("prepare", main)
