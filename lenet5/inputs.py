"""The training input pipeline: a seeded `tf.data` stream of shuffled, augmented batches.

Each epoch's order and each batch's augmentation are drawn from seeds derived from
(train.seed, epoch, step), never from hidden state, so an epoch is the same whether training ran
straight through or resumed from a checkpoint. Images stay uint8 in memory and are cast per
batch; labels become one-hot per batch, as label smoothing needs. To change the augmentation,
change `augment`.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from lenet5.config import TrainConfig
from lenet5.scoring import CLASSES

STEP_SEED_STRIDE = 1_000_000  # more steps than any epoch has: (epoch, step) -> one seed


def epoch_order(count: int, seed: int, epoch: tf.Tensor | int) -> tf.Tensor:
    """The shuffled order of the training images in `epoch` (0-based)."""
    seeds = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(count), seed=seeds)


def augment(images: tf.Tensor, seed: tf.Tensor, max_shift: float, max_rotation: float) -> tf.Tensor:
    """Shift each image by up to `max_shift` pixels and rotate it by up to `max_rotation` degrees."""
    count = tf.shape(images)[0]
    draws = tf.random.stateless_uniform([count, 3], seed=seed, minval=-1.0, maxval=1.0)
    angle = draws[:, 0] * (max_rotation * math.pi / 180.0)
    shift_x, shift_y = draws[:, 1] * max_shift, draws[:, 2] * max_shift
    cos, sin = tf.cos(angle), tf.sin(angle)
    center = (float(images.shape[2]) - 1.0) / 2.0  # images are square
    zeros = tf.zeros_like(angle)
    # Maps each output pixel to the input pixel it samples: rotate about the centre, then shift.
    transforms = tf.stack(
        [
            cos,
            -sin,
            center - cos * center + sin * center - shift_x,
            sin,
            cos,
            center - sin * center - cos * center - shift_y,
            zeros,
            zeros,
        ],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def model_batch(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 (N, 28, 28) images and digit labels -> the model's float32 input and one-hot targets."""
    return tf.cast(images, tf.float32)[..., tf.newaxis], tf.one_hot(tf.cast(labels, tf.int32), CLASSES)


def as_tensors(split: tuple[np.ndarray, np.ndarray]) -> tuple[tf.Tensor, tf.Tensor]:
    """A split's arrays as tensors. The caller drops its arrays, so one copy stays in memory
    rather than the arrays plus the tensors `tf.data` would make of them (42 MB less for train)."""
    images, labels = split
    return tf.convert_to_tensor(images), tf.convert_to_tensor(labels)


def training_batches(
    images: tf.Tensor | np.ndarray, labels: tf.Tensor | np.ndarray, config: TrainConfig, first_epoch: int
) -> tf.data.Dataset:
    """Every batch of epochs `first_epoch`..`epochs - 1`, shuffled and augmented, as one stream.

    Augmentation (when its shift or rotation is set) applies to all but the last
    `unaugmented_epochs` epochs: those fine-tune on the digits as the test set has them.
    """
    pixels, digits = tf.convert_to_tensor(images), tf.convert_to_tensor(labels)  # no copy if already tensors
    count = int(digits.shape[0])
    augmented_epochs = config.epochs - config.unaugmented_epochs
    augmenting = bool(config.augment_max_shift or config.augment_max_rotation) and augmented_epochs > 0

    def batch(epoch: tf.Tensor, step: tf.Tensor, indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = model_batch(tf.gather(pixels, indices), tf.gather(digits, indices))
        if augmenting:
            seed = tf.stack([tf.cast(config.seed, tf.int64), epoch * STEP_SEED_STRIDE + step])
            x = tf.cond(
                epoch < augmented_epochs,
                lambda: augment(x, seed, config.augment_max_shift, config.augment_max_rotation),
                lambda: x,
            )
        return x, y

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.data.Dataset.from_tensor_slices(epoch_order(count, config.seed, epoch))
        return order.batch(config.batch_size).enumerate().map(lambda step, indices: batch(epoch, step, indices))

    epochs = tf.data.Dataset.range(first_epoch, config.epochs)
    # prefetch: the next batch is gathered and augmented while the current one trains.
    return epochs.flat_map(epoch_batches).prefetch(2)
