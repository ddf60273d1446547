"""IDX parsing on bytes the tests build: good files and every way they can be wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from stages.errors import PipelineError
from stages.idx import IMAGES_MAGIC, LABELS_MAGIC, load_idx_images, load_idx_labels, parse_idx
from stages.prepare import load_raw_pair
from tests.mnist_fixture import idx_bytes


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def test_parses_images_and_labels(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    loaded = load_idx_images(write_gz(tmp_path / "i.gz", idx_bytes(images)))
    assert loaded.shape == (3, 28, 28) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(load_idx_labels(write_gz(tmp_path / "l.gz", idx_bytes(labels))), labels)


def test_truncated_data_names_file_and_sizes() -> None:
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-10]
    with pytest.raises(PipelineError, match=r"x\.idx: header says 2x28x28 = 1568 bytes of data, file has 1558"):
        parse_idx(data, "x.idx", IMAGES_MAGIC)


def test_truncated_header() -> None:
    with pytest.raises(PipelineError, match="x.idx: truncated IDX header"):
        parse_idx(idx_bytes(np.zeros((2, 28, 28), np.uint8))[:9], "x.idx", IMAGES_MAGIC)
    with pytest.raises(PipelineError, match="too short"):
        parse_idx(b"\x00\x00", "x.idx", IMAGES_MAGIC)


def test_wrong_magic_number() -> None:
    labels = idx_bytes(np.zeros(5, np.uint8))
    with pytest.raises(PipelineError, match="wrong magic number 0x00000801, expected 0x00000803"):
        parse_idx(labels, "x.idx", IMAGES_MAGIC)
    assert parse_idx(labels, "x.idx", LABELS_MAGIC).shape == (5,)


def test_images_must_be_28x28(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((2, 20, 20), np.uint8)))
    with pytest.raises(PipelineError, match="i.gz: images are 20x20, not 28x28"):
        load_idx_images(path)


def test_labels_must_be_digits(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="label 12 is not a digit"):
        load_idx_labels(write_gz(tmp_path / "l.gz", idx_bytes(np.array([1, 12], np.uint8))))


def test_corrupt_and_truncated_gzip(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.zeros(5, np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(PipelineError, match="cut.gz: not a valid gzip file"):
        load_idx_labels(tmp_path / "cut.gz")
    with pytest.raises(PipelineError, match="junk.gz: not a valid gzip file"):
        load_idx_labels(tmp_path / "junk.gz")


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    write_gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(PipelineError, match="train-images-idx3-ubyte.gz has 4 images but .* has 3 labels"):
        load_raw_pair(tmp_path, "train")


def test_missing_raw_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="t10k-images-idx3-ubyte.gz: missing"):
        load_raw_pair(tmp_path, "t10k")
