"""How long training runs and in what batches, from the data set's size: `train.epochs: auto` and
`train.batch_size: auto`.

A recipe tuned on MNIST's 54,000 training images gives a set of 1,000 a few dozen optimizer steps
and a poor model. So the defaults follow the size of the training split:

- batch: `AUTO_BATCH` (MNIST's 512), halved while an epoch would be fewer than
  `MIN_STEPS_PER_EPOCH` steps, but never below `MIN_AUTO_BATCH`;
- epochs: the fewest that show the network `train.min_images` images in all (each epoch draws
  new augmentations of the same images), so a small set trains about as long as MNIST does.

At MNIST's size that is 512 and 5 epochs (530 steps), the recipe as published. On MNIST subsets
of 500 to 20,000 images this came within the seeds' noise of the best the hyperparameter search
found for each size (docs/make-it-yours.md has the table). An explicit
number in params.yaml wins over either rule. The rules that involve the number of epochs
(warm-up, unaugmented epochs) and the batch (at most the training images) are checked here,
once, against the real split.
"""

from __future__ import annotations

import dataclasses
import math

from lenet5.config import AUTO, TrainConfig
from lenet5.errors import PipelineError

AUTO_BATCH = 512  # the batch MNIST's recipe trains with
MIN_AUTO_BATCH = 16  # smaller batches make each step mostly overhead, for little gain in accuracy
MAX_AUTO_EPOCHS = 1000  # the most train.epochs allows: a set of a few dozen images stops there
MIN_STEPS_PER_EPOCH = 8  # fewer, and an epoch is too coarse a unit for the warm-up and the logs


@dataclasses.dataclass(frozen=True)
class Sizing:
    """A run's config with numbers for `auto`, and the line that says what was chosen and why."""

    config: TrainConfig
    steps: int  # optimizer steps over the whole run
    explanation: str


def auto_batch(train_images: int) -> int:
    batch = AUTO_BATCH
    while batch > MIN_AUTO_BATCH and train_images / batch < MIN_STEPS_PER_EPOCH:
        batch //= 2
    return min(batch, train_images)


def size_training(config: TrainConfig, train_images: int, where: str = "params.yaml") -> Sizing:
    """`config` with `auto` replaced by numbers for a training split of `train_images` images.

    Raises PipelineError, one line per problem naming the setting in `where`, for a batch larger
    than the split, or warm-up and unaugmented epochs that do not fit the number of epochs."""
    batch_auto, epochs_auto = config.batch_size == AUTO, config.epochs == AUTO
    batch = auto_batch(train_images) if batch_auto else int(config.batch_size)
    problems = []
    if batch > train_images:
        problems.append(
            f"{where}: train.batch_size: {batch} is more than the {train_images:,} training images of the prepared "
            "data set; expected at most that, or auto"
        )
        batch = train_images
    per_epoch = math.ceil(train_images / batch)
    auto_epochs = min(math.ceil(config.min_images / train_images), MAX_AUTO_EPOCHS)
    epochs = auto_epochs if epochs_auto else int(config.epochs)
    if config.warmup_epochs >= epochs:
        problems.append(
            f"{where}: train.warmup_epochs: {config.warmup_epochs!r} is not allowed; expected fewer than the "
            f"{epochs} epochs of train.epochs{' (auto)' if epochs_auto else ''}"
        )
    if config.unaugmented_epochs > epochs:
        problems.append(
            f"{where}: train.unaugmented_epochs: {config.unaugmented_epochs} is not allowed; expected at most the "
            f"{epochs} epochs of train.epochs{' (auto)' if epochs_auto else ''}"
        )
    if problems:
        raise PipelineError(*problems)
    steps = epochs * per_epoch
    why_batch = (
        f"batch {batch} (auto: {AUTO_BATCH}, halved to give {MIN_STEPS_PER_EPOCH}+ steps an epoch)"
        if batch_auto and batch != AUTO_BATCH
        else f"batch {batch}{' (auto)' if batch_auto else ''}"
    )
    why_epochs = (
        f"{epochs} epochs (auto: the fewest that show it train.min_images, {config.min_images:,} images)"
        if epochs_auto
        else f"{epochs} epochs"
    )
    explanation = f"{train_images:,} training images: {why_batch}, {why_epochs}; {steps:,} steps"
    return Sizing(dataclasses.replace(config, batch_size=batch, epochs=epochs), steps, explanation)
