"""Preparing images: padding, scaling, the seeded validation split, prepared-array files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.dataset import load_split, pad_and_scale, save_split, split_validation
from stages.errors import PipelineError


def test_pad_and_scale() -> None:
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    images[1] = 51
    prepared = pad_and_scale(images)
    assert prepared.shape == (2, 32, 32, 1) and prepared.dtype == np.float32
    assert prepared[0, 2:30, 2:30].min() == 1.0
    assert prepared[1, 2, 2, 0] == pytest.approx(0.2)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not prepared[:, border].any()  # a two-pixel black frame, as in the recipe


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
    images = np.random.default_rng(0).random((5, 32, 32, 1), dtype=np.float32)
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
    save_split(tmp_path, "val", np.zeros((3, 28, 28, 1), np.float32), np.zeros(3, np.uint8))
    with pytest.raises(PipelineError, match=r"val_images.npy: shape \(3, 28, 28, 1\) does not fit"):
        load_split(tmp_path, "val")
