"""Stage plot: PNG figures of training and of the test results, under plots/.

loss.png and accuracy.png per epoch; test_digits.png, the recipe's 2x3 grid of test digits titled
"Actual: N Pred: M"; confusion_matrix.png; misclassified.png, a grid of the digits it got wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or servers
import matplotlib.pyplot as plt
import numpy as np

from stages.atomic import atomic_path
from stages.dataset import load_split
from stages.errors import PipelineError, run_stage
from stages.params import load_section
from stages.scoring import confusion_matrix


def read_csv_columns(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise PipelineError(f"{path}: missing; an earlier stage writes it")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise PipelineError(f"{path}: has no rows")
    return {name: np.array([float(row[name]) for row in rows]) for name in rows[0]}


def save_figure(figure: plt.Figure, path: Path, dpi: int) -> None:
    """Write atomically and without the Software tag, so equal plots give equal bytes."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)


def curve(history: dict[str, np.ndarray], columns: dict[str, str], ylabel: str) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(6, 4))
    for column, label in columns.items():
        axes.plot(history["epoch"], history[column], marker="o", label=label)
    axes.set(xlabel="epoch", ylabel=ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def digit_grid(images: np.ndarray, titles: list[str], columns: int) -> plt.Figure:
    rows = max(1, math.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index, :, :, 0], cmap="gray")
            axis.set_title(titles[index], fontsize=9)
    figure.tight_layout()
    return figure


def confusion_figure(actual: np.ndarray, predicted: np.ndarray) -> plt.Figure:
    counts = confusion_matrix(actual, predicted)
    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    shown = axes.imshow(np.log1p(counts), cmap="Blues")
    for (i, j), count in np.ndenumerate(counts):
        color = "white" if counts[i, j] > counts.max() / 2 else "black"
        axes.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    axes.set(xlabel="predicted", ylabel="actual", xticks=range(10), yticks=range(10))
    axes.set_title("Confusion matrix (test set)")
    figure.colorbar(shown, ax=axes, label="log(1 + count)")
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--history", type=Path, default=Path("metrics/train_history.csv"))
    parser.add_argument("--predictions", type=Path, default=Path("metrics/predictions.csv"))
    parser.add_argument("--misclassified", type=Path, default=Path("metrics/misclassified.json"))
    parser.add_argument("--out", type=Path, default=Path("plots"))
    args = parser.parse_args()
    params = load_section("plot")
    dpi = params["dpi"]

    history = read_csv_columns(args.history)
    predictions = read_csv_columns(args.predictions)
    actual, predicted = predictions["actual"].astype(int), predictions["predicted"].astype(int)
    images, _ = load_split(args.data, "test")
    wrong = json.loads(args.misclassified.read_text())["indices"][: params["misclassified_max"]]

    save_figure(curve(history, {"loss": "train", "val_loss": "validation"}, "loss"), args.out / "loss.png", dpi)
    accuracy_columns = {"accuracy": "train", "val_accuracy": "validation"}
    save_figure(curve(history, accuracy_columns, "accuracy"), args.out / "accuracy.png", dpi)
    titles = [f"Actual: {actual[i]} Pred: {predicted[i]}" for i in range(6)]
    save_figure(digit_grid(images[:6], titles, columns=3), args.out / "test_digits.png", dpi)
    save_figure(confusion_figure(actual, predicted), args.out / "confusion_matrix.png", dpi)
    titles = [f"#{i}: {actual[i]} as {predicted[i]}" for i in wrong]
    save_figure(digit_grid(images[wrong], titles, columns=5), args.out / "misclassified.png", dpi)
    print(f"plot: wrote 5 figures to {args.out}/")


if __name__ == "__main__":
    run_stage("plot", main)
