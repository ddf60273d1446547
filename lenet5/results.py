"""The evaluate stage's per-image results, written and read back by the plot stage.

predictions.csv holds one `actual,predicted` row per test image (DVC draws its confusion matrix);
misclassified.json the indices of the images predicted wrong. Read back, each is checked as
carefully as outside input: a damaged file is named in one line, never a traceback.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from lenet5.errors import PipelineError
from lenet5.files import write_json, write_text
from lenet5.scoring import CLASSES

HEADER = "actual,predicted"


def write_results(predictions: Path, misclassified: Path, actual: np.ndarray, predicted: np.ndarray) -> int:
    """Write both files; the number of images predicted wrong."""
    rows = "".join(f"{a},{p}\n" for a, p in zip(actual, predicted, strict=True))
    write_text(predictions, f"{HEADER}\n{rows}")
    wrong = np.flatnonzero(actual != predicted)
    write_json(misclassified, {"count": len(wrong), "indices": wrong.tolist()})
    return len(wrong)


def read_results(predictions: Path, misclassified: Path, images: int) -> tuple[list[int], list[int], list[int]]:
    """(actual, predicted, wrong indices) for a test set of `images` images, each file checked."""
    for path in (predictions, misclassified):
        if not path.is_file():
            raise PipelineError(f"{path}: missing")
    try:
        with open(predictions, newline="", encoding="utf-8") as handle:
            if handle.readline().strip() != HEADER:
                raise ValueError(f"its first line is not {HEADER!r}")
            rows = [(int(a), int(p)) for a, p in csv.reader(handle)]
        if len(rows) != images or any(not (0 <= d < CLASSES) for row in rows for d in row):
            raise ValueError(f"expected {images} rows of two digits 0-9, found {len(rows)} rows")
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
