"""The evaluate stage's per-image results, written and read back by the plot stage.

predictions.csv holds one `actual,predicted` row per test image, each a class name (DVC draws its
confusion matrix from it; MNIST's classes are named by their digits);
misclassified.json the indices of the images predicted wrong. Read back, each is checked as
carefully as outside input: a damaged file is named in one line, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from lenet5.errors import PipelineError
from lenet5.files import write_json, write_text

HEADER = "actual,predicted"


def write_results(
    predictions: Path, misclassified: Path, actual: np.ndarray, predicted: np.ndarray, names: list[str]
) -> int:
    """Write both files, classes by name; the number of images predicted wrong."""
    rows = io.StringIO()
    csv.writer(rows, lineterminator="\n").writerows(
        (names[a], names[p]) for a, p in zip(actual, predicted, strict=True)
    )
    write_text(predictions, f"{HEADER}\n{rows.getvalue()}")
    wrong = np.flatnonzero(actual != predicted)
    write_json(misclassified, {"count": len(wrong), "indices": wrong.tolist()})
    return len(wrong)


def read_results(
    predictions: Path, misclassified: Path, images: int, names: list[str]
) -> tuple[list[int], list[int], list[int]]:
    """(actual, predicted, wrong indices) for a test set of `images` images, classes by their label,
    each file checked."""
    label = {name: index for index, name in enumerate(names)}
    for path in (predictions, misclassified):
        if not path.is_file():
            raise PipelineError(f"{path}: missing")
    try:
        with open(predictions, newline="", encoding="utf-8") as handle:
            if handle.readline().strip() != HEADER:
                raise ValueError(f"its first line is not {HEADER!r}")
            rows = [(label[a], label[p]) for a, p in csv.reader(handle)]
        if len(rows) != images:
            raise ValueError(f"expected {images} rows of two class names, found {len(rows)} rows")
    except KeyError as error:
        raise PipelineError(
            f"{predictions}: damaged (a row names {error}, not one of the {len(names)} classes)"
        ) from None
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        raise PipelineError(f"{predictions}: damaged ({error})") from None
    actual, predicted = [a for a, _ in rows], [p for _, p in rows]
    try:
        wrong = json.loads(misclassified.read_text(encoding="utf-8"))["indices"]
        if wrong != [i for i in range(images) if actual[i] != predicted[i]]:
            raise ValueError(f"its indices are not those {predictions.name} gets wrong")
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise PipelineError(f"{misclassified}: damaged ({type(error).__name__}: {error})") from None
    return actual, predicted, wrong
