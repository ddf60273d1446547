"""How long training runs, in what batches and at what learning rate, from the data set's size:
`train.epochs: auto` and `train.batch_size: auto`.

A recipe tuned on MNIST's 54,000 training images gives a set of 1,000 a few dozen optimizer steps
and a poor model. So the defaults follow the size of the training split:

- batch: `AUTO_BATCH` (MNIST's 512), halved while an epoch would be fewer than
  `MIN_STEPS_PER_EPOCH` steps, but never below `MIN_AUTO_BATCH`;
- learning rate: where the auto batch is smaller than 512, `train.learning_rate` times
  sqrt(batch / 512). A smaller batch gives noisier gradients; at MNIST's rate, batches of 32 and 64
  wander (against the unscaled rate on held-out images: CHANGELOG.md);
- epochs: the fewest that show the network `train.min_images` images in all (each epoch draws
  new augmentations of the same images), so a small set trains about as long as MNIST does.

At MNIST's size that is 512, the rate as written and 5 epochs (530 steps), the recipe as
published. docs/make-it-yours.md has what this gives on MNIST subsets of 500 to 20,000 images
beside the best the hyperparameter search found for each. An explicit number in params.yaml wins
over either rule (an explicit batch keeps the learning rate as written). The rules that involve
the number of epochs (warm-up, unaugmented epochs) and the batch (at most the training images) are
checked here, once, against the real split.
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
    """`config` with `auto` replaced by numbers for a training split of `train_images` images (and
    the learning rate scaled where the auto batch is smaller than 512).

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
    rate = config.learning_rate
    why_rate = ""
    if batch_auto and batch < AUTO_BATCH:
        rate = config.learning_rate * math.sqrt(batch / AUTO_BATCH)
        why_rate = f", learning rate {rate:.3g} ({config.learning_rate:g} x sqrt({batch}/{AUTO_BATCH}))"
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
    explanation = f"{train_images:,} training images: {why_batch}{why_rate}, {why_epochs}; {steps:,} steps"
    sized = dataclasses.replace(config, batch_size=batch, epochs=epochs, learning_rate=rate)
    return Sizing(sized, steps, explanation)
