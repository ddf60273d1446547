"""The classes a data set has: how many, what they are called, and the file that carries them.

The count comes from the data: the class names data/sources.yaml gives, or else one class per
label from 0 to the largest training label. Every class needs training images, and the test set
may use only classes training has seen; a data set that breaks either is refused in one line that
says what to change. prepare writes the names to `classes.json` beside the prepared arrays, the
train stage copies it beside the model, and every stage after them, `lenet5-predict` and the web
page read the names from there: the model's last layer has one output per class, in label order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lenet5.errors import PipelineError
from lenet5.files import write_json

CLASSES_FILE = "classes.json"
MAX_NAMES_BYTES = 1 << 20  # 256 names of any sensible length


def class_names(
    train_labels: np.ndarray, test_labels: np.ndarray, given: tuple[str, ...] | None, files: tuple[str, str]
) -> list[str]:
    """The names of the classes, in label order; `files` names the training and test label files."""
    train_file, test_file = files
    largest = int(train_labels.max()) if train_labels.size else -1
    if given is not None and largest >= len(given):
        raise PipelineError(
            f"{train_file}: label {largest} is beyond the {len(given)} class names data/sources.yaml gives "
            f"(labels 0-{len(given) - 1}); add the missing names to `classes` there, or remove `classes` "
            "to name the classes by their labels"
        )
    names = list(given) if given is not None else [str(label) for label in range(largest + 1)]
    if len(names) < 2:
        raise PipelineError(f"{train_file}: its labels name {len(names)} class; a classifier needs at least 2")
    counts = np.bincount(train_labels, minlength=len(names))
    if (missing := np.flatnonzero(counts == 0)).size:
        first = int(missing[0])
        raise PipelineError(
            f"{train_file}: class {first} ({names[first]}) has no training image "
            f"({missing.size} of the {len(names)} classes have none); every class needs training images: "
            "relabel the classes 0 to N-1 without gaps"
            + (", or drop the unused names from `classes` in data/sources.yaml" if given is not None else "")
        )
    unseen = sorted(set(np.unique(test_labels).tolist()) - set(range(len(names))))
    if unseen:
        raise PipelineError(
            f"{test_file}: label {unseen[0]} never occurs in training ({train_file} has labels 0-{len(names) - 1}); "
            "the test set may use only the classes the model is trained on"
        )
    return names


def write_classes(path: Path, names: list[str]) -> None:
    write_json(path, {"names": names})


def read_classes(path: Path) -> list[str]:
    """The class names in a classes.json, checked; a damaged or foreign file is named in one line."""
    if not path.is_file():
        raise PipelineError(f"{path}: missing")
    try:
        if path.stat().st_size > MAX_NAMES_BYTES:
            raise ValueError(f"over {MAX_NAMES_BYTES:,} bytes")
        names = json.loads(path.read_text(encoding="utf-8"))["names"]
        if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names):
            raise ValueError("its `names` are not a list of 2 or more names")
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise PipelineError(f"{path}: damaged ({type(error).__name__}: {error})") from None
    return names


def names_near(model: Path, count: int) -> list[str]:
    """The class names for a model file or folder: the classes.json beside it or in a folder above it
    (models/serving/lenet5/1 finds models/classes.json), if it names `count` classes; else the labels."""
    folder = model.resolve() if model.is_dir() else model.resolve().parent
    for candidate in [folder, *folder.parents][:4]:
        if (candidate / CLASSES_FILE).is_file():
            names = read_classes(candidate / CLASSES_FILE)
            if len(names) == count:
                return names
            break
    return [str(label) for label in range(count)]
