"""Figures DVC's own charts cannot draw: grids of digit images, written as reproducible PNGs.

The curves and the confusion matrix are DVC plots (dvc.yaml `plots:`), drawn from DVCLive's logs
and metrics/predictions.csv; matplotlib draws only pictures of the digits themselves.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or servers
import matplotlib.pyplot as plt
import numpy as np

from lenet5.files import atomic_path


def save_figure(figure: plt.Figure, path: Path, dpi: int) -> None:
    """Write atomically and without the Software tag, so equal plots give equal bytes."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)


def digit_grid(images: np.ndarray, titles: list[str], columns: int) -> plt.Figure:
    """uint8 (N, 28, 28) digits in a grid, each with its title."""
    rows = max(1, math.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            axis.set_title(titles[index], fontsize=9)
    figure.tight_layout()
    return figure
