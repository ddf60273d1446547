"""The prepared data set: the seeded validation split and the prepared-array files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet5.data.splits import load_split, save_split, split_validation
from lenet5.errors import PipelineError
from tests.conftest import ROOT, memory_limit, needs_memory_limits


def test_validation_split_is_seeded_disjoint_and_complete() -> None:
    train, val = split_validation(1000, 0.1, seed=98)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val) and set(train) | set(val) == set(range(1000))
    again_train, again_val = split_validation(1000, 0.1, seed=98)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert not np.array_equal(split_validation(1000, 0.1, seed=1)[1], val)


def test_validation_split_must_leave_training_images() -> None:
    with pytest.raises(PipelineError, match="leaves no training images"):
        split_validation(3, 0.99, seed=0)


def test_save_and_load_split(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    save_split(tmp_path, "test", images, labels)
    loaded_images, loaded_labels = load_split(tmp_path, "test")
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)
    first = (tmp_path / "test_images.npy").read_bytes()
    save_split(tmp_path, "test", images, labels)
    assert (tmp_path / "test_images.npy").read_bytes() == first  # byte-identical rewrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_images.npy", "test_labels.npy"]  # no temp files


def test_missing_or_misshapen_split(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="val_images.npy: missing"):
        load_split(tmp_path, "val")
    save_split(tmp_path, "val", np.zeros((3, 32, 32, 1), np.float32), np.zeros(3, np.uint8))
    with pytest.raises(PipelineError, match=r"val_images.npy: float32 \(3, 32, 32, 1\) is not 3 uint8 28x28 images"):
        load_split(tmp_path, "val")


@needs_memory_limits
def test_an_npy_header_claiming_more_than_the_file_holds_is_refused_unallocated(tmp_path: Path) -> None:
    """A header for 8 GB of images over a few bytes of data: refused in one line, in a process that
    may not allocate 1 GB, so the claimed size is never allocated (the file is memory-mapped first)."""
    path = tmp_path / "test_images.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 28, 28), np.uint8))
    header["shape"] = (10_000_000, 28, 28)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(100))
    code = f"from pathlib import Path; from lenet5.data.splits import read_npy; read_npy(Path({str(path)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        preexec_fn=memory_limit(1024),
    )  # fmt: skip
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"lenet5.errors.PipelineError: {path}: damaged, not a readable .npy file"), done.stderr
