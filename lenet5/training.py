"""Training LeNet-5 with Keras `fit`: optimizer and schedule, a seeded input pipeline, exact resume.

The input pipeline is a `tf.data` graph: each epoch's order and each batch's augmentation are
drawn from seeds derived from (train.seed, epoch, step), never from hidden state, so an epoch is
the same whether training ran straight through or resumed from a checkpoint. Images stay uint8 in
memory and are cast per batch; labels become one-hot per batch, as label smoothing needs. `fit`
runs a whole epoch per call into the graph (`steps_per_execution`), so Python is entered once per
epoch. A checkpoint after every epoch holds the weights, the optimizer's state and the history so
far. Across several machines (MultiWorkerMirroredStrategy), `fit_across_workers` stands in for
Keras's `fit`, which fails under that strategy.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lenet5.config import TrainConfig
from lenet5.errors import PipelineError, kill_unless_done_within
from lenet5.files import atomic_path
from lenet5.model import PREDICT_BATCH
from lenet5.scoring import CLASSES

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": lambda **kw: keras.optimizers.SGD(momentum=0.9, nesterov=True, **kw),
    "rmsprop": keras.optimizers.RMSprop,
}
STEP_SEED_STRIDE = 1_000_000  # more steps than any epoch has: (epoch, step) -> one seed
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
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    where = f"{len(gpus)} GPU ({', '.join(sorted(set(names)))})" if gpus else "the CPU"
    replicas = f"{strategy.num_replicas_in_sync} replica(s)"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        task = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
        return f"{where}, {replicas} in all; this is {task[0]} {task[1]}"
    return f"{where}, {replicas}"


def steps_per_epoch(config: TrainConfig, count: int) -> int:
    return math.ceil(count / config.batch_size)


def make_optimizer(config: TrainConfig, steps: int) -> keras.optimizers.Optimizer:
    """The optimizer of `train.optimizer` with its learning-rate schedule over `steps` per epoch."""
    total = config.epochs * steps
    warmup = min(round(config.warmup_epochs * steps), total - 1)
    rate: float | keras.optimizers.schedules.LearningRateSchedule
    if config.lr_schedule == "constant":
        rate = config.learning_rate
    elif warmup == 0:
        rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total)
    else:
        rate = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=config.learning_rate, warmup_steps=warmup
        )
    return OPTIMIZERS[config.optimizer](learning_rate=rate, weight_decay=config.weight_decay or None)


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


def fingerprint(config: TrainConfig, *arrays: tf.Tensor | np.ndarray) -> str:
    """Identifies a training run's inputs: a checkpoint is only resumed by the same run."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state and history after every epoch, atomically, for exact resume."""

    def __init__(self, path: Path, run_id: str, history: list[dict[str, float]]) -> None:
        super().__init__()
        self.path, self.run_id, self.history = path, run_id, history

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        arrays = {f"model_{i}": w for i, w in enumerate(self.model.get_weights())}
        optimizer_variables = self.model.optimizer.variables
        arrays |= {f"optimizer_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer_variables)}
        state = {"fingerprint": self.run_id, "history": self.history}
        with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, state=np.array(json.dumps(state)), **arrays)


def resume(path: Path, model: keras.Model, run_id: str) -> list[dict[str, float]]:
    """Restore weights and optimizer state from `path` if it holds this run; the history so far."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except (OSError, ValueError):
        return []
    state = json.loads(str(arrays.pop("state")))
    if state.get("fingerprint") != run_id:
        return []
    model.set_weights([arrays[f"model_{i}"] for i in range(len(model.weights))])
    model.optimizer.build(model.trainable_variables)
    for i, variable in enumerate(model.optimizer.variables):
        variable.assign(arrays[f"optimizer_{i}"])
    return list(state["history"])


def fit(
    model: keras.Model,
    config: TrainConfig,
    train: tuple[tf.Tensor | np.ndarray, tf.Tensor | np.ndarray],
    validation: tuple[tf.Tensor | np.ndarray, tf.Tensor | np.ndarray],
    *,
    checkpoint: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> list[dict[str, float]]:
    """Train `model` for `config.epochs`, resuming from `checkpoint` if it holds this run.

    `train` and `validation` are uint8 images and labels, as NumPy arrays or as tensors (pass
    tensors to keep a single copy of the images in memory).
    Returns one row per epoch: loss, accuracy, val_loss, val_accuracy, learning_rate. After a
    resume, each callback's `on_epoch_end` first receives the rows of the epochs already done,
    so loggers show the whole run. Ctrl-C raises KeyboardInterrupt at the end of the running epoch.
    """
    steps = steps_per_epoch(config, int(train[1].shape[0]))
    model.compile(
        optimizer=make_optimizer(config, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=steps,
    )
    run_id = fingerprint(config, *train, *validation)
    history = resume(checkpoint, model, run_id) if checkpoint is not None else []
    for epoch, row in enumerate(history):
        for callback in callbacks:
            callback.on_epoch_end(epoch, dict(row))

    def record(_: int, logs: dict[str, Any]) -> None:
        # Into the logs every later callback sees (it is one dict), so loggers show the schedule.
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        history.append({key: float(value) for key, value in logs.items()})

    saving = [EpochCheckpoint(checkpoint, run_id, history)] if checkpoint is not None else []
    if len(history) < config.epochs:
        with StopOnInterrupt() as stop_on_interrupt:
            recorder = keras.callbacks.LambdaCallback(on_epoch_end=record)
            every_callback = [recorder, *saving, *callbacks, stop_on_interrupt]
            batches = training_batches(*train, config, len(history))
            validation_batches = tf.data.Dataset.from_tensor_slices(validation).batch(PREDICT_BATCH).map(model_batch)
            strategy = tf.distribute.get_strategy()
            if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                check_same_run_everywhere(strategy, run_id)
                fit_across_workers(
                    model, strategy, batches, validation_batches, config, steps, every_callback, len(history)
                )
            else:
                model.fit(
                    batches,
                    epochs=config.epochs,
                    initial_epoch=len(history),
                    steps_per_epoch=steps,
                    validation_data=validation_batches,
                    callbacks=every_callback,
                    shuffle=False,  # the input pipeline shuffles, seeded per epoch
                    verbose=0,
                )
    return history


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
    batches: tf.data.Dataset,
    validation_batches: tf.data.Dataset,
    config: TrainConfig,
    steps: int,
    callbacks: list[keras.callbacks.Callback],
    first_epoch: int,
) -> None:
    """What `model.fit` does, for MultiWorkerMirroredStrategy, whose `fit` fails in Keras 3.15
    (keras-team/keras#20585): the same compiled optimizer and loss, batches and per-epoch logs,
    with each step run on every worker by `strategy.run`.

    Each worker takes its share of every global batch of `train.batch_size` images; the loss is
    divided by the whole global batch and the optimizer sums gradients across workers, so each
    step is the step one process would take on that batch, whatever the number of workers.
    """
    loss_per_image = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing, reduction=None)
    optimizer = model.optimizer

    def hits(targets: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
        """How many images of the batch the model gets right."""
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, 1), tf.argmax(targets, 1)), tf.float32))

    options = tf.data.Options()
    # Every worker builds the same stream; each keeps its own slice of every global batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    stream = iter(strategy.experimental_distribute_dataset(batches.with_options(options)))

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
    def train_epoch() -> tf.Tensor:
        totals = tf.zeros([3])  # loss sum, correct, images: over every worker
        for _ in tf.range(steps):
            totals += strategy.reduce("SUM", strategy.run(step, args=next(stream)), axis=None)
        return totals

    callback_list = keras.callbacks.CallbackList(callbacks, model=model)
    callback_list.on_train_begin()
    for epoch in range(first_epoch, config.epochs):
        callback_list.on_epoch_begin(epoch)
        callback_list.on_train_batch_begin(0)
        try:
            loss_sum, correct, images = train_epoch().numpy()
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


class StopOnInterrupt(keras.callbacks.Callback):
    """Ctrl-C (SIGINT) during training stops it at the end of the current epoch, once that epoch is
    checkpointed and logged, with KeyboardInterrupt raised from here.

    Python's own handler raises KeyboardInterrupt wherever the main thread happens to be, and with
    most of an epoch spent in TensorFlow's runtime that can be inside code that does not let it
    through. While this is entered (`with`), the handler only takes note; the callback acts on it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _note(self, signum: int, frame: Any) -> None:
        self.requested = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.requested:
            raise KeyboardInterrupt


class Progress(keras.callbacks.Callback):
    """Prints one line per epoch and keeps each epoch's wall time (validation included)."""

    def __init__(self, epochs: int, prefix: str = "train") -> None:
        super().__init__()
        self.epochs, self.prefix = epochs, prefix
        self.seconds: list[float] = []
        self.replayed = 0  # epochs a resumed run had already done
        self._started: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._started is None and self.replayed:
            print(f"{self.prefix}: resuming from the checkpoint after epoch {self.replayed}", flush=True)
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._started is None:  # an epoch done before a resume, replayed: nothing to time or print
            self.replayed += 1
            return
        self.seconds.append(time.perf_counter() - self._started)
        row = logs or {}
        print(
            f"{self.prefix}: epoch {epoch + 1}/{self.epochs} loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
            f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f} ({self.seconds[-1]:.1f} s)",
            flush=True,
        )
