"""IDX parsing on bytes the tests build: good files and every way they can be wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from lenet5.errors import PipelineError
from lenet5.idx import IMAGES_MAGIC, LABELS_MAGIC, gunzip_digest, load_images, load_labels, load_part, read_idx
from tests.mnist_fixture import idx_bytes


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def test_parses_images_and_labels(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    loaded = load_images(write_gz(tmp_path / "i.gz", idx_bytes(images)))
    assert loaded.shape == (3, 28, 28) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(load_labels(write_gz(tmp_path / "l.gz", idx_bytes(labels))), labels)


def test_truncated_or_longer_data_names_file_and_sizes(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(PipelineError, match=r"x\.gz: header says 2x28x28 = 1,568 bytes of data, file has 1,558$"):
        read_idx(write_gz(tmp_path / "x.gz", data[:-10]), IMAGES_MAGIC, (28, 28))
    with pytest.raises(PipelineError, match=r"header says 2x28x28 = 1,568 bytes of data, file has more than 1,568$"):
        read_idx(write_gz(tmp_path / "x.gz", data + b"extra"), IMAGES_MAGIC, (28, 28))


def test_truncated_header(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="x.gz: too short for an IDX header"):
        read_idx(write_gz(tmp_path / "x.gz", idx_bytes(np.zeros((2, 28, 28), np.uint8))[:9]), IMAGES_MAGIC, (28, 28))


def test_wrong_magic_number(tmp_path: Path) -> None:
    labels = write_gz(tmp_path / "x.gz", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(PipelineError, match="wrong magic number 0x00000801, expected 0x00000803"):
        read_idx(labels, IMAGES_MAGIC, (28, 28))
    assert read_idx(labels, LABELS_MAGIC, ()).shape == (5,)


def test_absurd_record_count_is_refused_before_reading(tmp_path: Path) -> None:
    """A 50-byte file whose header claims 4 billion images: refused from the header alone."""
    header = bytes.fromhex("00000803") + (0xFFFFFFFF).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with pytest.raises(PipelineError, match=r"i\.gz: header claims 4,294,967,295 records; MNIST has at most 60,000"):
        load_images(write_gz(tmp_path / "i.gz", header))


def test_decompression_stops_past_the_expected_size(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "z.gz", bytes(5_000_000))  # 5 MB of zeros in about 5 KB
    with pytest.raises(PipelineError, match=r"z\.gz: decompresses to more than 1,000,000 bytes"):
        gunzip_digest(path, 1_000_000, "z.gz")
    digest, size = gunzip_digest(path, 5_000_000, "z.gz")
    assert size == 5_000_000 and len(digest) == 64


def test_images_must_be_28x28(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((2, 20, 20), np.uint8)))
    with pytest.raises(PipelineError, match="i.gz: records are 20x20, expected 28x28"):
        load_images(path)


def test_labels_must_be_digits(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="label 12 is not a digit"):
        load_labels(write_gz(tmp_path / "l.gz", idx_bytes(np.array([1, 12], np.uint8))))


def test_corrupt_and_truncated_gzip(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.zeros(5, np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(PipelineError, match="cut.gz: not a valid gzip file"):
        load_labels(tmp_path / "cut.gz")
    with pytest.raises(PipelineError, match="junk.gz: not a valid gzip file"):
        load_labels(tmp_path / "junk.gz")


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    write_gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(PipelineError, match="train-images-idx3-ubyte.gz has 4 images but .* has 3 labels"):
        load_part(tmp_path, "train")


def test_missing_raw_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="t10k-images-idx3-ubyte.gz: missing"):
        load_part(tmp_path, "test")
