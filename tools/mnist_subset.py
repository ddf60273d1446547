"""Write a seeded random subset of MNIST's training images, with its whole test set, as a data set
of your own: four gzip IDX files to point `data/sources.yaml` at (docs/make-it-yours.md).

    python -m tools.mnist_subset --train 1000 --seed 1 --out /tmp/mnist-1000
    python -m tools.describe_data /tmp/mnist-1000        # the files: block for data/sources.yaml

It reads the four MNIST files from `--mnist` (a folder; by default $MNIST_MIRROR, else the
pipeline's own copy in data/raw/). To see what a small data set trains to, try it before your own.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from lenet5.data.idx import load_images, load_labels, write_idx_gz
from lenet5.data.sources import MAX_FILE_BYTES
from lenet5.errors import PipelineError
from lenet5.process import run_command

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, required=True, help="training images to keep (before validation)")
    parser.add_argument("--seed", type=int, default=1, help="which images: the same seed, the same subset")
    parser.add_argument("--mnist", type=Path, help="folder of MNIST's four .gz files")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the subset's four .gz files")
    args = parser.parse_args()
    mnist = args.mnist or Path(os.environ.get("MNIST_MIRROR") or "data/raw")
    paths = {role: mnist / f"{name}.gz" for role, name in NAMES.items()}
    for path in paths.values():
        if not path.is_file():
            raise PipelineError(f"{path}: not found; give --mnist the folder of MNIST's four .gz files")
    images, labels = (
        load_images(paths["train_images"], MAX_FILE_BYTES),
        load_labels(paths["train_labels"], MAX_FILE_BYTES),
    )
    if not 2 <= args.train <= len(labels):
        raise PipelineError(f"--train {args.train}: expected 2 to the {len(labels):,} training images of {mnist}")
    keep = np.sort(np.random.default_rng(args.seed).permutation(len(labels))[: args.train])
    args.out.mkdir(parents=True, exist_ok=True)
    write_idx_gz(args.out / f"{NAMES['train_images']}.gz", images[keep])
    write_idx_gz(args.out / f"{NAMES['train_labels']}.gz", labels[keep])
    write_idx_gz(args.out / f"{NAMES['test_images']}.gz", load_images(paths["test_images"], MAX_FILE_BYTES))
    write_idx_gz(args.out / f"{NAMES['test_labels']}.gz", load_labels(paths["test_labels"], MAX_FILE_BYTES))
    print(f"mnist_subset: {args.train:,} training images (seed {args.seed}) and the whole test set in {args.out}")


if __name__ == "__main__":
    run_command("mnist_subset", main)
