"""Stage plot: pictures of test digits, under plots/.

test_digits.png, the recipe's 2x3 grid of test digits titled "Actual: N Pred: M", and
misclassified.png, a grid of the digits the model got wrong. The curves and the confusion matrix
are DVC plots (`dvc plots show`), not drawn here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.config import load_params
from lenet5.data import load_split
from lenet5.errors import hint_on_error, run_command
from lenet5.figures import digit_grid, save_figure
from lenet5.results import read_results
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
        images, _ = load_split(args.data, "test")
    with hint_on_error(rerun("evaluate")):
        actual, predicted, wrong = read_results(args.predictions, args.misclassified, len(images))
    wrong = wrong[: config.misclassified_max]

    titles = [f"Actual: {actual[i]} Pred: {predicted[i]}" for i in range(6)]
    save_figure(digit_grid(images[:6], titles, columns=3), args.out / "test_digits.png", config.dpi)
    titles = [f"#{i}: {actual[i]} as {predicted[i]}" for i in wrong]
    save_figure(digit_grid(images[wrong], titles, columns=5), args.out / "misclassified.png", config.dpi)
    print(f"plot: wrote test_digits.png and misclassified.png to {args.out}/")


if __name__ == "__main__":
    run_command("plot", main)
