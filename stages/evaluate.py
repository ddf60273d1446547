"""Stage evaluate: score the saved model on the test images (and on the validation split).

Writes metrics/eval.json (test accuracy, and the validation accuracy that settings are chosen by:
the columns `dvc exp show` and `dvc metrics diff` compare), metrics/per_class.json (the test
errors and loss, and precision, recall and F1 of each class by name, with their macro average: kept apart
so they do not crowd every table; the errors follow from the accuracy, and label smoothing makes
the loss a poor thing to compare), metrics/predictions.csv (one `actual,predicted` row per test image, drawn by DVC's
confusion template) and metrics/misclassified.json (the indices of the test images it got wrong).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lenet5.data.classes import CLASSES_FILE, read_classes
from lenet5.data.splits import load_split
from lenet5.errors import PipelineError, hint_on_error
from lenet5.evaluation.results import write_results
from lenet5.evaluation.scoring import confusion_matrix, per_class_scores, score
from lenet5.files import write_json
from lenet5.process import run_command
from lenet5.training.backend import skip_unused_imports
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--per-class", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--misclassified", type=Path, required=True)
    args = parser.parse_args()

    with hint_on_error(good_copy(args.data, "prepare")):
        names = read_classes(args.data / CLASSES_FILE)
        images, labels = load_split(args.data, "test", len(names))
        val_images, val_labels = load_split(args.data, "val", len(names))
    skip_unused_imports()
    from lenet5.training.model import (  # Keras: after what start-up can skip
        class_count,
        load_model,
        predict_probabilities,
    )

    with hint_on_error(good_copy(args.model, "train")):
        model = load_model(args.model)
        require_same_classes(class_count(model), names, args.model, args.data)
    labels = labels.astype(np.int64)
    probabilities = predict_probabilities(model, images)
    _, val_accuracy = score(predict_probabilities(model, val_images), val_labels.astype(np.int64))
    predicted = np.argmax(probabilities, axis=1)
    loss, accuracy = score(probabilities, labels)

    errors = write_results(args.predictions, args.misclassified, labels, predicted, names)
    write_json(args.metrics, {"accuracy": round(accuracy, 6), "val_accuracy": round(val_accuracy, 6)})
    counts = confusion_matrix(labels, predicted, len(names))
    details = {"errors": errors, "loss": round(loss, 6)} | per_class_scores(counts, names)
    write_json(args.per_class, details, keep_order=True)  # classes in label order, not as sorted strings ("10" < "2")
    print(
        f"evaluate: test accuracy {accuracy:.4f}, loss {loss:.4f}, {errors} of {len(labels)} wrong; "
        f"validation accuracy {val_accuracy:.4f}"
    )


def require_same_classes(count: int, names: list[str], model: Path, data: Path) -> None:
    """The model was trained on the data set prepared here: one output per class of classes.json."""
    if count != len(names):
        raise PipelineError(
            f"{model}: gives {count} class probabilities, but {data / CLASSES_FILE} names {len(names)} classes; "
            "it was trained on another data set"
        )


if __name__ == "__main__":
    run_command("evaluate", main)
