"""The training loop's parts: optimizer and schedule, augmentation, a compiled epoch.

One epoch runs as one TensorFlow graph call (a `tf.range` loop over batches), so Python is
entered once per epoch instead of once per step. Shuffling and augmentation draw from seeds
derived from (train.seed, epoch, step), never from hidden state, so an epoch gives the same
result whether training ran straight through or resumed from a checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": lambda **kw: keras.optimizers.SGD(momentum=0.9, nesterov=True, **kw),
    "rmsprop": keras.optimizers.RMSprop,
}


def make_optimizer(params: dict[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of `train.optimizer` with its learning-rate schedule."""
    peak = params["learning_rate"]
    total = params["epochs"] * steps_per_epoch
    warmup = min(round(params["warmup_epochs"] * steps_per_epoch), total - 1)
    if params["lr_schedule"] == "constant":
        rate: float | keras.optimizers.schedules.LearningRateSchedule = peak
    elif warmup == 0:
        rate = keras.optimizers.schedules.CosineDecay(peak, decay_steps=total)
    else:
        rate = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=peak, warmup_steps=warmup
        )
    return OPTIMIZERS[params["optimizer"]](learning_rate=rate, weight_decay=params["weight_decay"] or None)


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of the training images in `epoch` (0-based)."""
    return np.random.default_rng([seed, epoch]).permutation(count).astype(np.int32)


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


def make_epoch_runner(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, params: dict[str, Any]
) -> Callable[[tf.Tensor, tf.Tensor, np.ndarray, int], tuple[float, float]]:
    """A function that trains one epoch in the given order; returns mean loss and accuracy."""
    batch_size = params["batch_size"]
    max_shift, max_rotation = params["augment_max_shift"], params["augment_max_rotation"]
    seed = tf.constant(params["seed"], tf.int64)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    @tf.function(jit_compile=False)
    def run(images: tf.Tensor, labels: tf.Tensor, order: tf.Tensor, epoch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        count = tf.shape(order)[0]
        loss_sum, correct = tf.constant(0.0), tf.constant(0, tf.int32)
        for step in tf.range((count + batch_size - 1) // batch_size):
            batch = order[step * batch_size : tf.minimum((step + 1) * batch_size, count)]
            x, y = tf.gather(images, batch), tf.gather(labels, batch)
            if max_shift or max_rotation:
                step_seed = tf.cast(epoch, tf.int64) * 1_000_000 + tf.cast(step, tf.int64)
                x = augment(x, tf.stack([seed, step_seed]), max_shift, max_rotation)
            with tf.GradientTape() as tape:
                probabilities = model(x, training=True)
                batch_loss = loss_fn(y, probabilities)
                mean_loss = batch_loss / tf.cast(tf.shape(y)[0], tf.float32)
            gradients = tape.gradient(mean_loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            loss_sum += batch_loss
            hits = tf.equal(tf.argmax(probabilities, axis=1, output_type=tf.int32), y)
            correct += tf.reduce_sum(tf.cast(hits, tf.int32))
        total = tf.cast(count, tf.float32)
        return loss_sum / total, tf.cast(correct, tf.float32) / total

    def run_epoch(images: tf.Tensor, labels: tf.Tensor, order: np.ndarray, epoch: int) -> tuple[float, float]:
        loss, accuracy = run(images, labels, tf.constant(order), tf.constant(epoch, tf.int64))
        return float(loss), float(accuracy)

    return run_epoch


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
