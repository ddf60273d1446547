"""Training LeNet-5 with Keras `fit` on any backend: optimizer and schedule, checkpoints after every
epoch, exact resume.

Keras trains a wrapper around LeNet-5 whose first layer augments (lenet5/training/augment.py), so the model
that is saved stays the plain network. Each epoch's arrays come from lenet5/training/inputs.py.
On TensorFlow one `fit` call trains every epoch from one tf.data stream of them, and runs a whole
epoch per call into the graph (`steps_per_execution`), so Python is entered once per epoch; on JAX
each epoch is one `fit` call on its arrays, and each step one compiled call. A checkpoint after
every epoch holds the weights, the optimizer's state and the history so far, and is resumed only
by the same run (params and data). Where training runs is lenet5/training/placement.py
(TensorFlow's several machines: lenet5/training/distribute.py); Ctrl-C handling and progress
lines are lenet5/training/callbacks.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lenet5.config import TrainConfig
from lenet5.training.augment import Augment
from lenet5.training.callbacks import EpochCheckpoint, StopOnInterrupt, TrainOnFromOwnWeights
from lenet5.training.inputs import draws_per_image, epoch_inputs, epochs_dataset, model_batch
from lenet5.training.model import INPUT_SHAPE, PREDICT_BATCH

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": lambda **kw: keras.optimizers.SGD(momentum=0.9, nesterov=True, **kw),
    "rmsprop": keras.optimizers.RMSprop,
}


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
    adam = config.optimizer in ("adam", "adamw")
    betas = dict(zip(("beta_1", "beta_2"), config.adam_betas, strict=True)) if adam else {}
    # With `ema_momentum`, the optimizer also keeps an exponential moving average of the weights,
    # updated after every step inside the compiled step (Keras's own `use_ema`).
    averaging = {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum else {}
    return OPTIMIZERS[config.optimizer](
        learning_rate=rate, weight_decay=config.weight_decay or None, **betas, **averaging
    )


def with_augmentation(model: keras.Model, config: TrainConfig) -> keras.Model:
    """The model Keras trains: uint8 pixels and augmentation draws in, `model`'s probabilities out.
    It shares `model`'s layers and weights, and adds none: training it trains `model`."""
    inputs = {
        "pixels": keras.Input(INPUT_SHAPE, dtype="uint8", name="pixels"),
        "draws": keras.Input((draws_per_image(config),), name="draws"),
    }
    augment = Augment(
        config.augment_max_shift,
        config.augment_max_rotation,
        config.elastic_strength,
        config.elastic_smoothness,
        name="augment",
    )
    moved = augment(inputs)
    return keras.Model(inputs, model(moved), name=f"{model.name}_training")


def fingerprint(config: TrainConfig, *arrays: np.ndarray) -> str:
    """Identifies a training run's inputs: a checkpoint is only resumed by the same run."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def resume(path: Path, model: keras.Model, run_id: str) -> list[dict[str, float]]:
    """Restore weights and optimizer state from `path` if it holds this run; the history so far.

    A checkpoint of another run (other params or data), or one that is damaged, is ignored with a
    one-line note: training starts from its first epoch, and the next epoch's checkpoint replaces
    the file. Nothing is restored unless all of it fits, so a bad file never leaves half a model.
    """
    if not path.is_file():
        return []
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        state = json.loads(str(arrays.pop("state")))
        if state.get("fingerprint") != run_id:
            print(f"train: note: {path} is from another run (other params or data); starting from epoch 1")
            return []
        history = [{str(key): float(value) for key, value in row.items()} for row in state["history"]]
        weights = [arrays[f"model_{i}"] for i in range(len(model.weights))]
        model.optimizer.build(model.trainable_variables)
        slots = [arrays[f"optimizer_{i}"] for i in range(len(model.optimizer.variables))]
        expected = [tuple(v.shape) for v in (*model.weights, *model.optimizer.variables)]
        if [a.shape for a in (*weights, *slots)] != expected or not history:
            raise ValueError("its arrays do not fit this model")
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as error:
        print(f"train: note: {path} is damaged ({type(error).__name__}: {error}); starting from epoch 1")
        return []
    model.set_weights(weights)
    for variable, value in zip(model.optimizer.variables, slots, strict=True):
        variable.assign(value)
    return history


def fit(
    model: keras.Model,
    config: TrainConfig,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    checkpoint: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    multi_worker_strategy: Any = None,
) -> list[dict[str, float]]:
    """Train `model` for `config.epochs`, resuming from `checkpoint` if it holds this run.

    `train` and `validation` are uint8 images and labels. Returns one row per epoch: loss,
    accuracy, val_loss, val_accuracy, learning_rate. After a resume, each callback's
    `on_epoch_end` first receives the rows of the epochs already done, so loggers show the whole
    run. Ctrl-C raises KeyboardInterrupt at the end of the running epoch. With TensorFlow's
    MultiWorkerMirroredStrategy as `multi_worker_strategy`, every worker of the cluster trains.
    """
    steps = steps_per_epoch(config, len(train[1]))
    trainer = with_augmentation(model, config)
    trainer.compile(
        optimizer=make_optimizer(config, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=steps,
    )
    # The model itself shares that optimizer, so its .keras file carries the optimizer and its
    # state, as a model that Keras trained directly would (`keras.models.load_model` then `fit` goes on).
    model.compile(optimizer=trainer.optimizer, loss=trainer.loss, metrics=["accuracy"])
    run_id = fingerprint(config, *train, *validation)
    history = resume(checkpoint, trainer, run_id) if checkpoint is not None else []
    for epoch, row in enumerate(history):
        for callback in callbacks:
            callback.on_epoch_end(epoch, dict(row))

    saving = [EpochCheckpoint(checkpoint, run_id, history)] if checkpoint is not None else []
    averaging = [TrainOnFromOwnWeights()] if config.ema_momentum else []
    if len(history) < config.epochs:
        every_callback = [*saving, *averaging, *callbacks]
        train_epochs(trainer, config, train, validation, every_callback, history, run_id, multi_worker_strategy)
    if config.ema_momentum:
        # The model that is saved: the moving average of the weights over the run.
        trainer.optimizer.finalize_variable_values(trainer.trainable_weights)
    return history


def train_epochs(
    trainer: keras.Model,
    config: TrainConfig,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    callbacks: list[keras.callbacks.Callback],
    history: list[dict[str, float]],
    run_id: str,
    multi_worker_strategy: Any,
) -> None:
    """The epochs from `len(history)` on, each appending its row to `history` before `callbacks` run."""

    def record(_: int, logs: dict[str, Any]) -> None:
        # Into the logs every later callback sees (it is one dict), so loggers show the schedule.
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate))
        history.append({key: float(value) for key, value in logs.items()})

    classes = int(trainer.output_shape[-1])  # the one-hot targets' width: one per class the model tells apart
    validation_batch = model_batch(*validation, draws_per_image(config), classes)
    with StopOnInterrupt() as stop_on_interrupt:
        every_callback = [keras.callbacks.LambdaCallback(on_epoch_end=record), *callbacks, stop_on_interrupt]
        if multi_worker_strategy is not None:
            from lenet5.training.distribute import check_same_run_everywhere, fit_across_workers

            check_same_run_everywhere(multi_worker_strategy, run_id)
            fit_across_workers(trainer, multi_worker_strategy, train, validation_batch, config, every_callback)
            return
        first = len(history)
        if keras.backend.backend() == "tensorflow":
            # One `fit` for every epoch left, on a stream that makes each epoch's arrays in turn.
            trainer.fit(
                epochs_dataset(*train, config, first, classes),
                initial_epoch=first,
                epochs=config.epochs,
                steps_per_epoch=steps_per_epoch(config, len(train[1])),
                validation_data=validation_batch,
                validation_batch_size=PREDICT_BATCH,
                callbacks=every_callback,
                shuffle=False,  # each epoch comes shuffled, seeded per epoch
                verbose=0,
            )
            return
        # JAX takes arrays as they are: one `fit` per epoch, on that epoch's arrays. Keras keeps the
        # compiled step, and the optimizer its step count (so the schedule runs on), between calls.
        for epoch in range(first, config.epochs):
            inputs, targets = epoch_inputs(*train, config, epoch, classes)
            trainer.fit(
                inputs,
                targets,
                batch_size=config.batch_size,
                initial_epoch=epoch,
                epochs=epoch + 1,
                validation_data=validation_batch,
                validation_batch_size=PREDICT_BATCH,
                callbacks=every_callback,
                shuffle=False,  # epoch_inputs shuffled it, seeded per epoch
                verbose=0,
            )
