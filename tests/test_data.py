"""The prepared data set: the seeded validation split and the prepared-array files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lenet5.data import load_split, save_split, split_validation
from lenet5.errors import PipelineError


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
