"""Where training runs on TensorFlow: tf.distribute strategies, TF_CONFIG, and the multi-worker loop.

`none` is TensorFlow's default; `mirrored` one replica per local GPU (or the CPU); `multi_worker`
one process per machine, the cluster read from TF_CONFIG. Keras 3.15's `fit` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585), so `fit_across_workers` stands in for it.
TensorFlow is the point here: lenet5/training/placement.py imports this module on that backend only.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lenet5.config import TrainConfig
from lenet5.errors import PipelineError
from lenet5.process import kill_unless_done_within
from lenet5.training.backend import devices_line
from lenet5.training.inputs import Batch, epoch_inputs
from lenet5.training.model import PREDICT_BATCH

# How a collective operation fails when a peer has gone: its timeout, a refused connection, or
# TensorFlow's health check cancelling the collectives once it sees a peer down.
LOST_WORKER_ERRORS = (
    tf.errors.DeadlineExceededError,
    tf.errors.UnavailableError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
)


def make_strategy(kind: str, worker_timeout: float = 120.0) -> tf.distribute.Strategy:
    """`none`: TensorFlow's default, no distribution; `mirrored`: one replica per local GPU (or the
    CPU), gradients summed across them; `multi_worker`: one process per machine, the cluster and
    this process's place in it read from the TF_CONFIG environment variable. Build and fit the
    model inside the strategy's `scope()`.

    With `multi_worker`, a worker that stops answering makes the others fail within about
    `worker_timeout` seconds, instead of waiting forever for its share of a gradient.
    """
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=worker_timeout)
        # TensorFlow waits for every worker without end, deaf to SIGTERM meanwhile.
        waiting = f"multi_worker: not every worker in TF_CONFIG joined within {worker_timeout:g} s; start them all"
        workers = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
        print(f"train: waiting up to {worker_timeout:g} s for the {workers} workers in TF_CONFIG to join", flush=True)
        with kill_unless_done_within(worker_timeout, waiting):
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return tf.distribute.get_strategy()


def check_tf_config(text: str | None) -> None:
    """TF_CONFIG as MultiWorkerMirroredStrategy needs it, else a one-line error naming what is off."""
    example = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    if not text:
        raise PipelineError(f"train.distribute is multi_worker but TF_CONFIG is not set; set it to e.g. {example}")
    try:
        tf_config = json.loads(text)
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
        valid = isinstance(workers, list) and task["type"] in ("worker", "chief") and isinstance(task["index"], int)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise PipelineError(f"TF_CONFIG: {text[:200]!r} is not a cluster and task like {example}")


def writes_outputs(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's outputs: always, except on multi_worker's non-chief
    workers (the chief is task `chief`, or worker 0 when the cluster names no chief)."""
    return bool(strategy.extended.should_checkpoint)


def describe_devices(strategy: tf.distribute.Strategy) -> str:
    """Where training runs, for the log: the GPUs TensorFlow sees, else the CPU, and the replicas."""
    where = devices_line(strategy.num_replicas_in_sync)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        task = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
        return f"{where} in all; this is {task[0]} {task[1]}"
    return where


def check_same_run_everywhere(strategy: tf.distribute.Strategy, run_id: str) -> None:
    """Every worker must train the same run (params and data): else their steps would not line up.

    Each worker adds its run's fingerprint (28 bits of it, exact in float64) across the cluster;
    the sum is N times its own only if every worker holds the same one.
    """
    token = float(int(run_id[:7], 16))
    total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(token, tf.float64)), axis=None)
    if float(total) != token * strategy.num_replicas_in_sync:
        raise PipelineError(
            "multi_worker: the workers' train params or prepared data differ from this one's; "
            "check out the same commit and `dvc pull` on every machine"
        )


def fit_across_workers(
    model: keras.Model,
    strategy: tf.distribute.MultiWorkerMirroredStrategy,
    train: tuple[np.ndarray, np.ndarray],
    validation: Batch,
    config: TrainConfig,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    """What `model.fit` does, for MultiWorkerMirroredStrategy, whose `fit` fails in Keras 3.15
    (keras-team/keras#20585): the same compiled optimizer and loss, batches and per-epoch logs,
    with each step run on every worker by `strategy.run`.

    Each worker takes its share of every global batch of `train.batch_size` images; the loss is
    divided by the whole global batch and the optimizer sums gradients across workers, so each
    step is the step one process would take on that batch, whatever the number of workers.
    """
    loss_per_image = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing, reduction=None)
    classes = int(model.output_shape[-1])
    optimizer = model.optimizer

    def hits(targets: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
        """How many images of the batch the model gets right."""
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, 1), tf.argmax(targets, 1)), tf.float32))

    options = tf.data.Options()
    # Every worker builds the same epoch; each keeps its own slice of every global batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

    def epoch_stream(epoch: int) -> Any:
        arrays = tf.data.Dataset.from_tensor_slices(epoch_inputs(*train, config, epoch, classes))
        return iter(strategy.experimental_distribute_dataset(arrays.batch(config.batch_size).with_options(options)))

    steps = math.ceil(len(train[1]) / config.batch_size)
    validation_batches = tf.data.Dataset.from_tensor_slices(validation).batch(PREDICT_BATCH)

    def step(images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        replica = tf.distribute.get_replica_context()
        global_count = replica.all_reduce("SUM", tf.cast(tf.shape(targets)[0], tf.float32))
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            losses = loss_per_image(targets, probabilities)
            loss = tf.reduce_sum(losses) / global_count  # summed over workers: the global batch's mean
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        return tf.stack([tf.reduce_sum(losses), hits(targets, probabilities), count])

    @tf.function
    def train_epoch(stream: Any) -> tf.Tensor:
        totals = tf.zeros([3])  # loss sum, correct, images: over every worker
        for _ in tf.range(steps):
            totals += strategy.reduce("SUM", strategy.run(step, args=next(stream)), axis=None)
        return totals

    callback_list = keras.callbacks.CallbackList(callbacks, model=model)
    callback_list.on_train_begin()
    for epoch in range(config.epochs):
        callback_list.on_epoch_begin(epoch)
        callback_list.on_train_batch_begin(0)
        try:
            loss_sum, correct, images = train_epoch(epoch_stream(epoch)).numpy()
        except LOST_WORKER_ERRORS as error:
            tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", str(error))
            lost = sorted({f"{job} {task}" for job, task in tasks})
            raise PipelineError(
                f"multi_worker: a training worker stopped answering during epoch {epoch + 1} "
                f"({type(error).__name__}{': ' + ', '.join(lost) if lost else ''}); "
                "start every worker in TF_CONFIG again, then rerun"
            ) from None
        callback_list.on_train_batch_end(0)
        # Validation on each worker, locally: the same numbers everywhere, no traffic.
        val_loss, val_correct, val_images = 0.0, 0.0, 0
        for x, y in validation_batches:
            probabilities = model(x, training=False)
            val_loss += float(tf.reduce_sum(loss_per_image(y, probabilities)))
            val_correct += float(hits(y, probabilities))
            val_images += int(tf.shape(y)[0])
        logs = {
            "loss": loss_sum / images,
            "accuracy": correct / images,
            "val_loss": val_loss / val_images,
            "val_accuracy": val_correct / val_images,
        }
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end()
