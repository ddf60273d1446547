"""Stage prepare: parse the raw IDX files and split a validation set off the training images.

Writes MNIST's own uint8 28x28 images and their labels as .npy files under data/prepared/:
train, val (a seeded `prepare.validation_size` fraction of the 60,000 training images) and test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.config import load_params
from lenet5.data import save_split, split_validation
from lenet5.errors import hint_on_error, run_command
from lenet5.idx import load_part
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = load_params(args.params).prepare

    with hint_on_error(good_copy(args.raw, "fetch")):
        train_images, train_labels = load_part(args.raw, "train")
        test_images, test_labels = load_part(args.raw, "test")
    train_idx, val_idx = split_validation(len(train_labels), config.validation_size, config.seed)
    save_split(args.out, "train", train_images[train_idx], train_labels[train_idx])
    save_split(args.out, "val", train_images[val_idx], train_labels[val_idx])
    save_split(args.out, "test", test_images, test_labels)
    print(f"prepare: {len(train_idx)} train, {len(val_idx)} validation, {len(test_labels)} test images")


if __name__ == "__main__":
    run_command("prepare", main)
