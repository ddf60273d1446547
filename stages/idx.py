"""Reading MNIST's IDX files (gzip-compressed), checked field by field.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian uint32, then the data. MNIST images are 3-D (N, 28, 28), labels 1-D (N,).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from stages.errors import PipelineError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


def gunzip(data: bytes, name: str) -> bytes:
    """Decompress gzip bytes; a corrupt or truncated stream is an error naming the file."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise PipelineError(f"{name}: not a valid gzip file ({error})") from None


def parse_idx(data: bytes, name: str, magic: int) -> np.ndarray:
    """Parse uncompressed IDX bytes whose magic number must be `magic`."""
    if len(data) < 4:
        raise PipelineError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise PipelineError(f"{name}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise PipelineError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    payload = len(data) - header_size
    if payload != expected:
        raise PipelineError(
            f"{name}: header says {'x'.join(map(str, shape))} = {expected} bytes of data, file has {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def load_idx_images(path: Path) -> np.ndarray:
    """uint8 images of shape (N, rows, cols) from a gzip IDX file."""
    images = parse_idx(gunzip(path.read_bytes(), path.name), path.name, IMAGES_MAGIC)
    if images.shape[1:] != (28, 28):
        raise PipelineError(f"{path.name}: images are {images.shape[1]}x{images.shape[2]}, not 28x28")
    return images


def load_idx_labels(path: Path) -> np.ndarray:
    """uint8 labels of shape (N,) from a gzip IDX file; each must be a digit 0-9."""
    labels = parse_idx(gunzip(path.read_bytes(), path.name), path.name, LABELS_MAGIC)
    if labels.size and int(labels.max()) > 9:
        raise PipelineError(f"{path.name}: label {int(labels.max())} is not a digit 0-9")
    return labels


# The four files every MNIST mirror serves, by the name their checksums are listed under
# (the decompressed name); the mirrors serve each as NAME.gz.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_TRAIN_SIZE = 60_000
