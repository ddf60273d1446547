"""IDX parsing on bytes the tests build: good files and every way they can be wrong."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from lenet5.data.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    gunzip_digest,
    load_images,
    load_labels,
    load_part,
    read_idx,
    verify,
)
from lenet5.data.sources import DataFile
from lenet5.errors import PipelineError
from tests.mnist_fixture import idx_bytes

BIG = 10**8  # a size limit no test file reaches


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def test_parses_images_and_labels(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    loaded = load_images(write_gz(tmp_path / "i.gz", idx_bytes(images)), BIG)
    assert loaded.shape == (3, 28, 28) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(load_labels(write_gz(tmp_path / "l.gz", idx_bytes(labels)), BIG), labels)


def test_truncated_or_longer_data_names_file_and_sizes(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(PipelineError, match=r"x\.gz: header says 2x28x28 = 1,568 bytes of data, file has 1,558$"):
        read_idx(write_gz(tmp_path / "x.gz", data[:-10]), IMAGES_MAGIC, (28, 28), BIG)
    with pytest.raises(PipelineError, match=r"header says 2x28x28 = 1,568 bytes of data, file has more than 1,568$"):
        read_idx(write_gz(tmp_path / "x.gz", data + b"extra"), IMAGES_MAGIC, (28, 28), BIG)


def test_truncated_header(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="x.gz: too short for an IDX header"):
        read_idx(
            write_gz(tmp_path / "x.gz", idx_bytes(np.zeros((2, 28, 28), np.uint8))[:9]), IMAGES_MAGIC, (28, 28), BIG
        )


def test_wrong_magic_number(tmp_path: Path) -> None:
    labels = write_gz(tmp_path / "x.gz", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(
        PipelineError, match="IDX type 0x00000801, expected 0x00000803: unsigned bytes holding grayscale"
    ):
        read_idx(labels, IMAGES_MAGIC, (28, 28), BIG)
    assert read_idx(labels, LABELS_MAGIC, (), BIG).shape == (5,)
    colour = write_gz(
        tmp_path / "rgb.gz", bytes.fromhex("00000804") + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28, 3))
    )
    with pytest.raises(PipelineError, match="rgb.gz: IDX type 0x00000804, expected 0x00000803"):
        read_idx(colour, IMAGES_MAGIC, (28, 28), BIG)


def test_absurd_record_count_is_refused_before_reading(tmp_path: Path) -> None:
    """A 50-byte file whose header claims 4 billion images: refused from the header alone, against
    the size data/sources.yaml gives the file."""
    header = bytes.fromhex("00000803") + (0xFFFFFFFF).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with pytest.raises(
        PipelineError,
        match=r"i\.gz: header claims 4,294,967,295 records, 3,367,254,359,280 bytes of data; "
        r"data/sources.yaml gives the file 47,040,016 bytes",
    ):
        load_images(write_gz(tmp_path / "i.gz", header), 47_040_016)


def test_decompression_stops_past_the_expected_size(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "z.gz", bytes(5_000_000))  # 5 MB of zeros in about 5 KB
    with pytest.raises(PipelineError, match=r"z\.gz: decompresses to more than 1,000,000 bytes"):
        gunzip_digest(path, 1_000_000, "z.gz")
    digest, size = gunzip_digest(path, 5_000_000, "z.gz")
    assert size == 5_000_000 and len(digest) == 64


def test_images_must_be_28x28(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((2, 20, 20), np.uint8)))
    with pytest.raises(PipelineError, match="i.gz: records are 20x20; the pipeline takes 28x28 grayscale images"):
        load_images(path, BIG)


def test_corrupt_and_truncated_gzip(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.zeros(5, np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(PipelineError, match="cut.gz: not a valid gzip file"):
        load_labels(tmp_path / "cut.gz", BIG)
    with pytest.raises(PipelineError, match="junk.gz: not a valid gzip file"):
        load_labels(tmp_path / "junk.gz", BIG)


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    write_gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.uint8)))
    images, labels = (
        DataFile("train-images-idx3-ubyte", "0" * 64, BIG),
        DataFile("train-labels-idx1-ubyte", "0" * 64, BIG),
    )
    with pytest.raises(PipelineError, match="train-images-idx3-ubyte.gz has 4 images but .* has 3 labels"):
        load_part(tmp_path, images, labels)


def test_a_raw_file_is_checked_against_sources_yaml(tmp_path: Path) -> None:
    payload = idx_bytes(np.zeros(5, np.uint8))
    write_gz(tmp_path / "l.gz", payload)
    verify(tmp_path, DataFile("l", hashlib.sha256(payload).hexdigest(), len(payload)))
    with pytest.raises(
        PipelineError, match=r"l.gz: decompresses to 13 bytes of SHA-256 .*, not the 13 bytes of 000000000000"
    ):
        verify(tmp_path, DataFile("l", "0" * 64, len(payload)))
    with pytest.raises(PipelineError, match="t10k.gz: missing; the fetch stage writes it"):
        verify(tmp_path, DataFile("t10k", "0" * 64, 10))
