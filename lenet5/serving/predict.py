"""Classify your own pictures with the trained model: digits for MNIST, any class of your data set.

The model can be any of the pipeline's formats: the .keras file, the SavedModel folder for
TensorFlow Serving, or a LiteRT .tflite file (float32 or int8); each runs in its own runtime.
Any PNG, JPEG, GIF, BMP or WebP of any size, dark-on-light or light-on-dark, is turned into the
28x28 light-on-dark frame MNIST's digits come in (lenet5/serving/digits.py), which the model takes as it
is. Prints one line per file: the class's name and the model's probability for it; `--json`
prints a JSON list instead. The names come from the `classes.json` the train stage writes beside
the model (models/classes.json); without one, the classes are named by their labels 0, 1, ...
A file that cannot be read as an image gets a one-line error naming it on stderr, the other
files are still classified, and the exit status is then 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from lenet5.errors import PipelineError
from lenet5.process import EXIT_ERROR, run_command

MODEL_ENV = "LENET5_MODEL"
DEFAULT_MODEL = Path("models/lenet5.keras")


def classify(model_path: Path, paths: list[Path]) -> list[dict[str, Any]]:
    """One result per path, in order: {"file", "class", "name", "probability", "probabilities"} or
    {"file", "error"}; "class" is the label, "name" its name."""
    import numpy as np

    from lenet5.serving.digits import read_digit

    results: list[dict[str, Any]] = []
    frames = []
    for path in paths:
        try:
            frames.append(read_digit(path))
            results.append({"file": str(path)})
        except PipelineError as error:
            results.append({"file": str(path), "error": str(error)})
    readable = [result for result in results if "error" not in result]
    if readable:
        # The model's runtime is imported only now: `--help` and unreadable files answer at once.
        from lenet5.data.classes import names_near
        from lenet5.serving.runtimes import open_model

        classifier = open_model(model_path)
        names = names_near(model_path, classifier.classes)
        probabilities = classifier.probabilities(np.stack(frames))
        for result, row in zip(readable, probabilities, strict=True):
            label = int(np.argmax(row))
            result.update(
                {"class": label, "name": names[label]},
                probability=round(float(row[label]), 6),
                probabilities=[round(float(p), 6) for p in row],
            )
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lenet5-predict", description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", type=Path, help="image files (PNG, JPEG, GIF, BMP, WebP)")
    parser.add_argument(
        "--model",
        type=Path,
        default=Path(os.environ.get(MODEL_ENV, DEFAULT_MODEL)),
        help=(
            "trained model: a .keras file, a SavedModel folder or a .tflite file "
            f"(default: ${MODEL_ENV}, else {DEFAULT_MODEL} in the current folder)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of one line per file")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.model.exists():
        raise PipelineError(
            f"{args.model}: no trained model there; pass --model PATH (or set {MODEL_ENV}), "
            "or run `dvc repro` / `dvc pull` in the project"
        )
    results = classify(args.model, args.images)
    for result in results:
        if "error" in result:
            print(f"lenet5-predict: error: {result['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" not in result:
                print(f"{result['file']}: {result['name']} (probability {result['probability']:.4f})")
    if any("error" in result for result in results):
        sys.exit(EXIT_ERROR)


def main() -> None:
    """The `lenet5-predict` console command."""
    run_command("lenet5-predict", run)


if __name__ == "__main__":
    main()
