"""The evaluate stage's per-image results as the plot stage reads them back: checked like outside input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lenet5.errors import PipelineError
from lenet5.evaluation.results import read_results, write_results

ACTUAL = np.array([1, 2, 3, 4])
PREDICTED = np.array([1, 7, 3, 9])
DIGITS = [str(label) for label in range(10)]


def test_results_round_trip(tmp_path: Path) -> None:
    predictions, misclassified = tmp_path / "predictions.csv", tmp_path / "misclassified.json"
    assert write_results(predictions, misclassified, ACTUAL, PREDICTED, DIGITS) == 2
    assert read_results(predictions, misclassified, 4, DIGITS) == ([1, 2, 3, 4], [1, 7, 3, 9], [1, 3])


def test_predictions_and_misclassified_that_disagree_are_refused(tmp_path: Path) -> None:
    """Each file well-formed on its own, but the indices are not the rows predicted wrong."""
    predictions, misclassified = tmp_path / "predictions.csv", tmp_path / "misclassified.json"
    write_results(predictions, misclassified, ACTUAL, PREDICTED, DIGITS)
    misclassified.write_text(json.dumps({"count": 2, "indices": [0, 3]}))
    with pytest.raises(PipelineError, match=r"misclassified.json: damaged \(ValueError: its indices are not those "
                       r"predictions.csv gets wrong\)"):  # fmt: skip
        read_results(predictions, misclassified, 4, DIGITS)


def test_classes_are_written_by_name_and_read_back_by_label(tmp_path: Path) -> None:
    """MNIST's rows are its digits, as before; named classes are written by name, quoted where a
    name holds a comma, and a name that is not a class is a damaged file."""
    predictions, misclassified = tmp_path / "predictions.csv", tmp_path / "misclassified.json"
    write_results(predictions, misclassified, ACTUAL, PREDICTED, DIGITS)
    assert predictions.read_text() == "actual,predicted\n1,1\n2,7\n3,3\n4,9\n"
    names = ["zero", "one", "two, too", "three", "four", "five", "six", "seven", "eight", "nine"]
    write_results(predictions, misclassified, ACTUAL, PREDICTED, names)
    assert predictions.read_text().splitlines()[1:3] == ["one,one", '"two, too",seven']
    assert read_results(predictions, misclassified, 4, names) == ([1, 2, 3, 4], [1, 7, 3, 9], [1, 3])
    with pytest.raises(
        PipelineError, match=r"predictions.csv: damaged \(a row names 'one', not one of the 10 classes\)"
    ):
        read_results(predictions, misclassified, 4, DIGITS)
