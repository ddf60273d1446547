"""Print the `files:` block of data/sources.yaml for a folder of four gzip IDX files.

For your own data set (docs/make-it-yours.md): each file's role comes from its IDX header (images
or labels) and its name (`train` for training, `t10k` or `test` for the test set), and its SHA-256
and size from its decompressed bytes, as fetch and prepare check them. The labels' classes are
counted too, for the `classes:` line.

    python -m tools.describe_data path/to/folder
"""

from __future__ import annotations

import argparse
import gzip
import re
import struct
from pathlib import Path

import numpy as np

from lenet5.data.idx import GZIP_ERRORS, IMAGES_MAGIC, LABELS_MAGIC, gunzip_digest, load_labels
from lenet5.data.sources import MAX_FILE_BYTES, ROLES
from lenet5.errors import PipelineError
from lenet5.process import run_command

KINDS = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


def role_of(path: Path) -> str:
    """train_images, train_labels, test_images or test_labels, from the header and the name."""
    try:
        with gzip.open(path, "rb") as stream:
            (magic,) = struct.unpack(">I", stream.read(4).rjust(4, b"\0"))
    except (*GZIP_ERRORS, struct.error) as error:
        raise PipelineError(f"{path}: not a gzip IDX file ({error})") from None
    if magic not in KINDS:
        raise PipelineError(
            f"{path}: IDX type 0x{magic:08x}; expected uint8 images (0x00000803) or labels (0x00000801)"
        )
    name = path.name.lower()
    parts = [part for part, pattern in (("train", r"train"), ("test", r"t10k|test")) if re.search(pattern, name)]
    if len(parts) != 1:
        raise PipelineError(f"{path}: its name says neither train nor test (t10k); rename it so that it says which")
    return f"{parts[0]}_{KINDS[magic]}"


def describe(folder: Path) -> str:
    files = sorted(folder.glob("*.gz"))
    roles: dict[str, Path] = {}
    for path in files:
        role = role_of(path)
        if role in roles:
            raise PipelineError(f"{path} and {roles[role]} both hold {role.replace('_', ' ')}; keep one")
        roles[role] = path
    if missing := [role for role in ROLES if role not in roles]:
        raise PipelineError(f"{folder}: no file of {', '.join(missing)} among {len(files)} .gz files; expected four")
    lines = ["files:"]
    for role in ROLES:
        path = roles[role]
        digest, size = gunzip_digest(path, MAX_FILE_BYTES, path.name)
        name = path.name.removesuffix(".gz")
        lines += [f"  {role}:", f"    name: {name}", f"    sha256: {digest}", f"    size: {size}"]
    labels = load_labels(roles["train_labels"], MAX_FILE_BYTES)
    classes = int(labels.max()) + 1 if labels.size else 0
    seen = np.unique(labels).size
    lines.append(f"# {classes} classes (labels 0-{classes - 1}, {seen} of them in training); name them with")
    lines.append(f"# classes: [{', '.join(f'name{label}' for label in range(min(classes, 3)))}, ...]")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder holding the four .gz files")
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise PipelineError(f"{args.folder}: not a folder")
    print(describe(args.folder))


if __name__ == "__main__":
    run_command("describe_data", main)
