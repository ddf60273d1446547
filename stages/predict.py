"""Classify your own pictures of digits with the trained model.

    python -m stages.predict digit.png photo.jpg ... [--model models/lenet5.keras] [--json]

Any PNG, JPEG, GIF or BMP of any size, dark-on-light or light-on-dark, is turned into the
28x28 light-on-dark frame the training digits come in (see stages/digit_image.py), then padded
and scaled exactly like them. Prints one line per file: the digit and the model's probability
for it; `--json` prints a JSON list instead. A file that cannot be read as an image gets a
one-line error naming it on stderr, the other files are still classified, and the exit status
is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from stages.dataset import pad_and_scale
from stages.digit_image import to_mnist_uint8
from stages.errors import EXIT_ERROR, PipelineError, run_stage
from stages.model import load_model, predict_probabilities

DEFAULT_MODEL = Path("models/lenet5.keras")


def read_digit(path: Path) -> np.ndarray:
    """One file -> (28, 28) uint8; every way it can fail is a PipelineError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PipelineError(f"{path}: cannot read ({error.strerror or error})") from None
    return to_mnist_uint8(data, str(path))


def classify(model: keras.Model, paths: list[Path]) -> list[dict[str, Any]]:
    """One result per path, in order: {"file", "digit", "probability", "probabilities"} or {"file", "error"}."""
    results: list[dict[str, Any]] = []
    frames: list[np.ndarray] = []
    for path in paths:
        try:
            frames.append(read_digit(path))
            results.append({"file": str(path)})
        except PipelineError as error:
            results.append({"file": str(path), "error": str(error)})
    readable = [result for result in results if "error" not in result]
    if readable:
        probabilities = predict_probabilities(model, pad_and_scale(np.stack(frames)))
        for result, row in zip(readable, probabilities, strict=True):
            digit = int(np.argmax(row))
            result.update(
                digit=digit,
                probability=round(float(row[digit]), 6),
                probabilities=[round(float(p), 6) for p in row],
            )
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stages.predict", description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", type=Path, help="image files (PNG, JPEG, GIF, BMP)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"trained model (default {DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of one line per file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    results = classify(load_model(args.model), args.images)
    for result in results:
        if "error" in result:
            print(f"predict: error: {result['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" not in result:
                print(f"{result['file']}: {result['digit']} (probability {result['probability']:.4f})")
    if any("error" in result for result in results):
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    run_stage("predict", main)
