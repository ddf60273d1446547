"""Stage evaluate: score the saved model on the 10,000 test images.

Writes metrics/eval.json (loss, accuracy, errors, macro-averaged precision / recall / F1: the
columns `dvc exp show` and `dvc metrics diff` compare), metrics/per_class.json (precision,
recall and F1 of each digit, kept apart so those 30 numbers do not crowd every table),
metrics/predictions.csv (one `actual,predicted` row per test image, for DVC's
confusion template) and metrics/misclassified.json (the indices of the test images it got wrong).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stages.atomic import write_json, write_text
from stages.dataset import load_split
from stages.errors import run_stage
from stages.model import load_model, predict_probabilities
from stages.params import load_section
from stages.scoring import confusion_matrix, per_class_scores, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--model", type=Path, default=Path("models/lenet5.keras"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/eval.json"))
    parser.add_argument("--per-class", type=Path, default=Path("metrics/per_class.json"))
    parser.add_argument("--predictions", type=Path, default=Path("metrics/predictions.csv"))
    parser.add_argument("--misclassified", type=Path, default=Path("metrics/misclassified.json"))
    args = parser.parse_args()
    params = load_section("evaluate")

    images, labels = load_split(args.data, "test")
    labels = labels.astype(np.int64)
    probabilities = predict_probabilities(load_model(args.model), images, params["batch_size"])
    predicted = np.argmax(probabilities, axis=1)
    loss, accuracy = score(probabilities, labels)
    classes = per_class_scores(confusion_matrix(labels, predicted))
    wrong = np.flatnonzero(predicted != labels)

    write_text(
        args.predictions,
        "actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in zip(labels, predicted, strict=True)),
    )
    write_json(args.misclassified, {"count": len(wrong), "indices": wrong.tolist()})
    write_json(
        args.metrics,
        {
            "test_images": len(labels),
            "loss": round(loss, 6),
            "accuracy": round(accuracy, 6),
            "errors": len(wrong),
            **{
                f"macro_{name}": round(float(np.mean([c[name] for c in classes.values()])), 6)
                for name in ("precision", "recall", "f1")
            },
        },
    )
    write_json(args.per_class, classes)
    print(f"evaluate: test accuracy {accuracy:.4f}, loss {loss:.4f}, {len(wrong)} of {len(labels)} wrong")


if __name__ == "__main__":
    run_stage("evaluate", main)
