"""The classes of a data set: counted from its labels or named in data/sources.yaml, checked, found again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lenet5.data.classes import class_names, names_near, read_classes, write_classes
from lenet5.errors import PipelineError

FILES = ("train.gz", "test.gz")


def labels(*values: int) -> np.ndarray:
    return np.array(values, np.uint8)


def test_the_labels_name_the_classes_unless_names_are_given() -> None:
    assert class_names(labels(0, 1, 2, 2), labels(1, 0), None, FILES) == ["0", "1", "2"]
    assert class_names(labels(0, 1, 2), labels(2), ("cat", "dog", "owl"), FILES) == ["cat", "dog", "owl"]


@pytest.mark.parametrize(
    ("train", "test", "names", "message"),
    [
        (labels(0, 1, 4), labels(0), ("a", "b", "c"), "train.gz: label 4 is beyond the 3 class names"),
        (labels(0, 1), labels(0, 2), None, r"test.gz: label 2 never occurs in training \(train.gz has labels 0-1\)"),
        (labels(0, 2), labels(0), None, r"train.gz: class 1 \(1\) has no training image"),
        (labels(0, 1), labels(0), ("a", "b", "c"), r"class 2 \(c\) has no training image .* drop the unused names"),
        (labels(0, 0), labels(0), None, "train.gz: its labels name 1 class; a classifier needs at least 2"),
    ],
)
def test_data_sets_that_do_not_fit_are_refused_saying_what_to_change(
    train: np.ndarray, test: np.ndarray, names: tuple[str, ...] | None, message: str
) -> None:
    with pytest.raises(PipelineError, match=message):
        class_names(train, test, names, FILES)


def test_predict_finds_the_names_beside_the_model_or_above_it(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "serving/lenet5/1").mkdir(parents=True)
    (models / "m.tflite").write_bytes(b"")
    assert names_near(models / "m.tflite", 3) == ["0", "1", "2"]  # none: the labels
    write_classes(models / "classes.json", ["cat", "dog", "owl"])
    assert names_near(models / "m.tflite", 3) == ["cat", "dog", "owl"]
    assert names_near(models / "serving/lenet5", 3) == ["cat", "dog", "owl"]
    assert names_near(models / "serving/lenet5/1", 3) == ["cat", "dog", "owl"]
    assert names_near(models / "m.tflite", 4) == ["0", "1", "2", "3"]  # names of another model: not these
    (models / "classes.json").write_text('{"names": "cat"}')
    with pytest.raises(PipelineError, match="classes.json: damaged"):
        read_classes(models / "classes.json")
