"""IDX files, gzip-compressed, as MNIST ships them: read in bounded memory, checked field by field.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian uint32, then the data. Images are 3-D (N, 28, 28), labels 1-D (N,).
Nothing here trusts a size it was told: decompression stops past the size data/sources.yaml gives,
and a header is checked against it before any array is allocated. A file that is what
data/sources.yaml says but does not fit the pipeline (another image size, colour images) gets a
line that says what to change.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from lenet5.data.sources import DataFile
from lenet5.data.splits import IMAGE_SHAPE
from lenet5.errors import PipelineError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
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


def read_idx(path: Path, magic: int, item_shape: tuple[int, ...], max_size: int) -> np.ndarray:
    """uint8 records of shape (N, *item_shape) from a gzip IDX file whose magic must be `magic`,
    at most `max_size` bytes decompressed (header included)."""
    ndim = magic & 0xFF
    try:
        with gzip.open(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4:
                raise PipelineError(f"{path.name}: too short for an IDX header ({len(header)} bytes)")
            (found,) = struct.unpack(">I", header)
            if found != magic:
                what = "grayscale images (N, 28, 28)" if magic == IMAGES_MAGIC else "labels, one byte each (N,)"
                raise PipelineError(
                    f"{path.name}: IDX type 0x{found:08x}, expected 0x{magic:08x}: unsigned bytes holding {what}"
                )
            dimensions = stream.read(4 * ndim)
            if len(dimensions) < 4 * ndim:
                raise PipelineError(f"{path.name}: too short for an IDX header ({4 + len(dimensions)} bytes)")
            shape = struct.unpack(f">{ndim}I", dimensions)
            if shape[1:] != item_shape:
                claimed = "x".join(map(str, shape[1:]))
                raise PipelineError(
                    f"{path.name}: records are {claimed}; the pipeline takes {'x'.join(map(str, item_shape))} "
                    "grayscale images, as MNIST's: write your images at that size"
                )
            expected = math.prod(shape)
            if 4 + 4 * ndim + expected > max_size:
                raise PipelineError(
                    f"{path.name}: header claims {shape[0]:,} records, {expected:,} bytes of data; "
                    f"data/sources.yaml gives the file {max_size:,} bytes"
                )
            data = stream.read(expected + 1)  # one byte more tells a longer file from an exact one
    except GZIP_ERRORS as error:
        raise PipelineError(f"{path.name}: not a valid gzip file ({error})") from None
    if len(data) != expected:
        found_size = f"more than {expected:,}" if len(data) > expected else f"{len(data):,}"
        raise PipelineError(
            f"{path.name}: header says {'x'.join(map(str, shape))} = {expected:,} bytes of data, file has {found_size}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def load_images(path: Path, max_size: int) -> np.ndarray:
    """uint8 images (N, 28, 28)."""
    return read_idx(path, IMAGES_MAGIC, IMAGE_SHAPE, max_size)


def load_labels(path: Path, max_size: int) -> np.ndarray:
    """uint8 labels (N,); which classes they may name is lenet5/data/classes.py's to say."""
    return read_idx(path, LABELS_MAGIC, (), max_size)


def load_part(raw: Path, images_file: DataFile, labels_file: DataFile) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one part (training or test) from `raw`; their counts must agree."""
    images_path, labels_path = raw / f"{images_file.name}.gz", raw / f"{labels_file.name}.gz"
    images, labels = load_images(images_path, images_file.size), load_labels(labels_path, labels_file.size)
    if len(images) != len(labels):
        raise PipelineError(
            f"{images_path.name} has {len(images):,} images but {labels_path.name} has {len(labels):,} labels; "
            "the two files of a part hold one label per image, in the same order"
        )
    return images, labels


def verify(raw: Path, file: DataFile) -> None:
    """`raw`/NAME.gz is the file data/sources.yaml describes: its decompressed SHA-256 and size."""
    path = raw / f"{file.name}.gz"
    if not path.is_file():
        raise PipelineError(f"{path}: missing; the fetch stage writes it")
    digest, size = gunzip_digest(path, file.size, path.name)
    if (digest, size) != (file.sha256, file.size):
        raise PipelineError(
            f"{path}: decompresses to {size:,} bytes of SHA-256 {digest[:12]}..., not the "
            f"{file.size:,} bytes of {file.sha256[:12]}... data/sources.yaml gives"
        )


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """uint8 `array` as a gzip IDX file (magic 0x0000080N for N dimensions, then each size, then the
    bytes), with no time stamp: the same array always gives the same file."""
    from lenet5.files import write_bytes

    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    write_bytes(path, gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))
