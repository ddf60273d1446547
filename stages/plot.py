"""Stage plot: pictures of test digits, under plots/.

test_digits.png, the recipe's 2x3 grid of test images titled "Actual: A Pred: P" (class names), and
misclassified.png, a grid of the images the model got wrong. The curves and the confusion matrix
are DVC plots (`dvc plots show`), not drawn here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.config import load_params
from lenet5.data.classes import CLASSES_FILE, read_classes
from lenet5.data.splits import load_split
from lenet5.errors import hint_on_error
from lenet5.evaluation.figures import digit_grid, save_figure
from lenet5.evaluation.results import read_results
from lenet5.process import run_command
from stages.hints import good_copy, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--misclassified", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = load_params(args.params).plot

    with hint_on_error(good_copy(args.data, "prepare")):
        names = read_classes(args.data / CLASSES_FILE)
        images, _ = load_split(args.data, "test", len(names))
    with hint_on_error(rerun("evaluate")):
        actual, predicted, wrong = read_results(args.predictions, args.misclassified, len(images), names)
    wrong = wrong[: config.misclassified_max]

    titles = [f"Actual: {names[actual[i]]} Pred: {names[predicted[i]]}" for i in range(min(6, len(images)))]
    save_figure(digit_grid(images[:6], titles, columns=3), args.out / "test_digits.png", config.dpi)
    titles = [f"#{i}: {names[actual[i]]} as {names[predicted[i]]}" for i in wrong]
    save_figure(digit_grid(images[wrong], titles, columns=5), args.out / "misclassified.png", config.dpi)
    print(f"plot: wrote test_digits.png and misclassified.png to {args.out}/")


if __name__ == "__main__":
    run_command("plot", main)
