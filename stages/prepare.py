"""Stage prepare: check the raw IDX files, name the classes, and split a validation set off training.

Writes the data set's own uint8 28x28 images and their labels as .npy files under data/prepared/:
train, val (a seeded `prepare.validation_size` fraction of the training images) and test, and
classes.json, the class names (lenet5/data/classes.py). The raw files are first checked against
data/sources.yaml: one that differs is damaged, and DVC can restore it; one that is what
sources.yaml says but does not fit the pipeline gets a line saying what to change in the data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.config import load_params
from lenet5.data.classes import CLASSES_FILE, class_names, write_classes
from lenet5.data.idx import load_part, verify
from lenet5.data.sources import ROLES, load_sources
from lenet5.data.splits import save_split, split_validation
from lenet5.errors import hint_on_error
from lenet5.process import run_command
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = load_params(args.params).prepare
    sources = load_sources(args.sources)
    files = sources.files

    with hint_on_error(good_copy(args.raw, "fetch")):
        for role in ROLES:
            verify(args.raw, files[role])
    # The files are the ones sources.yaml names: what follows is about the data set, not damage.
    train_images, train_labels = load_part(args.raw, files["train_images"], files["train_labels"])
    test_images, test_labels = load_part(args.raw, files["test_images"], files["test_labels"])
    label_files = (f"{files['train_labels'].name}.gz", f"{files['test_labels'].name}.gz")
    names = class_names(train_labels, test_labels, sources.classes, label_files)
    train_idx, val_idx = split_validation(len(train_labels), config.validation_size, config.seed)
    save_split(args.out, "train", train_images[train_idx], train_labels[train_idx])
    save_split(args.out, "val", train_images[val_idx], train_labels[val_idx])
    save_split(args.out, "test", test_images, test_labels)
    write_classes(args.out / CLASSES_FILE, names)
    print(
        f"prepare: {sources.name}, {len(names)} classes: {len(train_idx)} train, {len(val_idx)} validation, "
        f"{len(test_labels)} test images"
    )


if __name__ == "__main__":
    run_command("prepare", main)
