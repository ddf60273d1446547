"""MNIST's IDX files, gzip-compressed: read in bounded memory, checked field by field.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian uint32, then the data. MNIST images are 3-D (N, 28, 28), labels 1-D (N,).
Nothing here trusts a size it was told: decompression stops past the expected size, and a header
is checked against the limits before any array is allocated.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from lenet5.config import MNIST_TRAIN_IMAGES
from lenet5.data import IMAGE_SHAPE
from lenet5.errors import PipelineError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
MAX_RECORDS = MNIST_TRAIN_IMAGES  # MNIST's largest part; a header claiming more is not MNIST
CHUNK = 1 << 20
GZIP_ERRORS = (OSError, EOFError, zlib.error)


def gunzip_digest(path: Path, max_size: int, name: str) -> tuple[str, int]:
    """SHA-256 and size of the decompressed bytes, streamed; refused once they pass `max_size`."""
    digest, size = hashlib.sha256(), 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_size:
                    raise PipelineError(f"{name}: decompresses to more than {max_size:,} bytes, the real file's size")
                digest.update(chunk)
    except GZIP_ERRORS as error:
        raise PipelineError(f"{name}: not a valid gzip file ({error})") from None
    return digest.hexdigest(), size


def read_idx(path: Path, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """uint8 records of shape (N, *item_shape) from a gzip IDX file whose magic must be `magic`."""
    ndim = magic & 0xFF
    try:
        with gzip.open(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4:
                raise PipelineError(f"{path.name}: too short for an IDX header ({len(header)} bytes)")
            (found,) = struct.unpack(">I", header)
            if found != magic:
                raise PipelineError(f"{path.name}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}")
            dimensions = stream.read(4 * ndim)
            if len(dimensions) < 4 * ndim:
                raise PipelineError(f"{path.name}: too short for an IDX header ({4 + len(dimensions)} bytes)")
            shape = struct.unpack(f">{ndim}I", dimensions)
            if shape[1:] != item_shape:
                claimed = "x".join(map(str, shape[1:]))
                raise PipelineError(f"{path.name}: records are {claimed}, expected {'x'.join(map(str, item_shape))}")
            if shape[0] > MAX_RECORDS:
                raise PipelineError(
                    f"{path.name}: header claims {shape[0]:,} records; MNIST has at most {MAX_RECORDS:,}"
                )
            expected = math.prod(shape)
            data = stream.read(expected + 1)  # one byte more tells a longer file from an exact one
    except GZIP_ERRORS as error:
        raise PipelineError(f"{path.name}: not a valid gzip file ({error})") from None
    if len(data) != expected:
        found_size = f"more than {expected:,}" if len(data) > expected else f"{len(data):,}"
        raise PipelineError(
            f"{path.name}: header says {'x'.join(map(str, shape))} = {expected:,} bytes of data, file has {found_size}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def load_images(path: Path) -> np.ndarray:
    """uint8 images (N, 28, 28)."""
    return read_idx(path, IMAGES_MAGIC, IMAGE_SHAPE)


def load_labels(path: Path) -> np.ndarray:
    """uint8 labels (N,), each a digit 0-9."""
    labels = read_idx(path, LABELS_MAGIC, ())
    if labels.size and int(labels.max()) > 9:
        raise PipelineError(f"{path.name}: label {int(labels.max())} is not a digit 0-9")
    return labels


# MNIST's two parts, by the prefix of their file names.
RAW_PARTS = {"train": "train", "test": "t10k"}


def load_part(raw: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one MNIST part ("train" or "test"); their counts must agree."""
    prefix = RAW_PARTS[part]
    images_path, labels_path = raw / f"{prefix}-images-idx3-ubyte.gz", raw / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise PipelineError(f"{path}: missing; the fetch stage writes it")
    images, labels = load_images(images_path), load_labels(labels_path)
    if len(images) != len(labels):
        raise PipelineError(
            f"{images_path.name} has {len(images)} images but {labels_path.name} has {len(labels)} labels"
        )
    return images, labels
