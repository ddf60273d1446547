"""Training with Keras `fit`: seeded order and augmentation, schedules, determinism, exact resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from lenet5.config import TrainConfig, load_params
from lenet5.distribute import check_tf_config, describe_devices, make_strategy
from lenet5.errors import PipelineError
from lenet5.inputs import augment, epoch_order, training_batches
from lenet5.model import build_lenet5, configure_tensorflow
from lenet5.scoring import score
from lenet5.training import fit, make_optimizer
from tests.conftest import ROOT
from tests.mnist_fixture import make_digits

DEFAULTS = load_params(ROOT / "params.yaml").train


def config(**overrides: Any) -> TrainConfig:
    return dataclasses.replace(DEFAULTS, **{"epochs": 2, "batch_size": 32, "warmup_epochs": 0.0, **overrides})


def test_epoch_order_is_a_seeded_permutation() -> None:
    order = epoch_order(100, seed=98, epoch=3).numpy()
    assert sorted(order) == list(range(100))
    np.testing.assert_array_equal(order, epoch_order(100, seed=98, epoch=3).numpy())
    assert not np.array_equal(order, epoch_order(100, seed=98, epoch=4).numpy())


def test_augment_shifts_and_rotates_reproducibly() -> None:
    images = np.zeros((4, 28, 28, 1), np.float32)
    images[:, 10:18, 12:16] = 255.0
    seed = tf.constant([98, 7], tf.int64)
    moved = augment(tf.constant(images), seed, max_shift=2.0, max_rotation=10.0).numpy()
    assert moved.shape == images.shape and moved.min() >= 0.0 and moved.max() <= 255.0
    assert not np.allclose(moved, images)
    np.testing.assert_array_equal(moved, augment(tf.constant(images), seed, 2.0, 10.0).numpy())
    unchanged = augment(tf.constant(images), seed, max_shift=0.0, max_rotation=0.0).numpy()
    np.testing.assert_allclose(unchanged, images, atol=1e-3)


def test_training_batches_cover_each_epoch_once_in_a_seeded_order() -> None:
    images, labels = make_digits(70, seed=4)
    batches = list(training_batches(images, labels, config(augment_max_shift=0, augment_max_rotation=0), 0))
    assert [len(y) for _, y in batches] == [32, 32, 6] * 2  # two epochs, the last batch short
    first = np.concatenate([x.numpy() for x, _ in batches[:3]])[..., 0]
    assert sorted(map(bytes, first.astype(np.uint8))) == sorted(map(bytes, images))
    resumed = list(training_batches(images, labels, config(augment_max_shift=0, augment_max_rotation=0), 1))
    np.testing.assert_array_equal(resumed[0][0].numpy(), batches[3][0].numpy())  # epoch 2, as if never stopped


def test_the_last_unaugmented_epochs_see_the_images_unchanged() -> None:
    images, labels = make_digits(64, seed=5)
    settings = config(epochs=3, batch_size=64, unaugmented_epochs=1)
    epochs = [x.numpy()[..., 0] for x, _ in training_batches(images, labels, settings, 0)]
    originals = sorted(map(bytes, images))
    assert sorted(map(bytes, epochs[2].astype(np.uint8))) == originals  # the last epoch: the digits as they are
    assert sorted(map(bytes, np.round(epochs[0]).astype(np.uint8))) != originals  # earlier ones: augmented
    none = config(epochs=3, batch_size=64, unaugmented_epochs=3)
    assert all(
        sorted(map(bytes, x.numpy()[..., 0].astype(np.uint8))) == originals
        for x, _ in training_batches(images, labels, none, 0)
    )


def test_targets_are_one_hot_for_label_smoothing() -> None:
    images, labels = make_digits(10, seed=6)
    _, targets = next(iter(training_batches(images, labels, config(batch_size=10), 0)))
    assert targets.shape == (10, 10)
    np.testing.assert_array_equal(targets.numpy().sum(axis=1), np.ones(10))
    assert sorted(np.argmax(targets.numpy(), axis=1)) == sorted(labels)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "train.distribute is multi_worker but TF_CONFIG is not set"),
        ("{not json", "TF_CONFIG: '{not json' is not a cluster and task like"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "is not a cluster and task like"),
    ],
)
def test_tf_config_is_checked_in_one_line(text: str | None, message: str) -> None:
    with pytest.raises(PipelineError) as caught:
        check_tf_config(text)
    (problem,) = caught.value.problems
    assert message in problem and "\n" not in problem


def test_warmup_cosine_schedule_rises_then_falls_to_zero() -> None:
    optimizer = make_optimizer(config(lr_schedule="warmup_cosine", warmup_epochs=1.0, epochs=4), 10)
    schedule = optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    assert rates[0] == 0.0 and rates[1] < rates[2] == pytest.approx(DEFAULTS.learning_rate)
    assert rates[2] > rates[3] > rates[4] == pytest.approx(0.0, abs=1e-9)
    constant = make_optimizer(config(lr_schedule="constant", learning_rate=0.01), 10)
    assert float(constant.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("name", "keras_class", "expected"),
    [
        ("adam", "Adam", {"beta_1": 0.8, "beta_2": 0.95}),
        ("adamw", "AdamW", {"beta_1": 0.8, "beta_2": 0.95}),
        ("sgd", "SGD", {"momentum": 0.9, "nesterov": True}),
        ("rmsprop", "RMSprop", {}),
    ],
)
def test_every_optimizer_trains_with_its_settings(name: str, keras_class: str, expected: dict[str, Any]) -> None:
    train, validation = make_digits(64, seed=5), make_digits(16, seed=6)
    settings = config(optimizer=name, epochs=1, weight_decay=0.0001, adam_betas=(0.8, 0.95), label_smoothing=0.2)
    model = build_lenet5()
    (row,) = fit(model, settings, train, validation)
    assert set(row) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert np.isfinite(row["loss"]) and 0.0 <= row["accuracy"] <= 1.0
    # What was asked for reached Keras: the optimizer, its decay rates or momentum, the weight
    # decay, and the label smoothing of the loss.
    optimizer = model.optimizer.get_config()
    assert type(model.optimizer).__name__ == keras_class
    assert {key: optimizer[key] for key in expected} == pytest.approx(expected)
    assert optimizer["weight_decay"] == pytest.approx(0.0001)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.2)


def test_score_matches_hand_computation() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    labels = np.array([0, 1, 1])
    loss, accuracy = score(probabilities, labels)
    assert loss == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3, rel=1e-6)
    assert accuracy == pytest.approx(2 / 3)


class EpochsRun(tf.keras.callbacks.Callback):
    """Counts the epochs `fit` actually trains (replayed ones are not begun)."""

    def __init__(self) -> None:
        super().__init__()
        self.begun: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.begun.append(epoch)


def train_once(
    settings: TrainConfig, checkpoint: Path | None = None, init_seed: int | None = None, callbacks: list | None = None
) -> tuple[list[np.ndarray], list[dict]]:
    """Train on small digits; `init_seed` draws other initial weights than `settings.seed` would."""
    train, validation = make_digits(200, seed=3), make_digits(40, seed=8)
    configure_tensorflow(settings.seed if init_seed is None else init_seed, settings.threads)
    model = build_lenet5()
    history = fit(model, settings, train, validation, checkpoint=checkpoint, callbacks=callbacks or [])
    return model.get_weights(), history


def test_same_seed_gives_identical_weights() -> None:
    (first, first_history), (second, second_history) = train_once(config()), train_once(config())
    assert first_history == second_history
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_from_a_checkpoint_equals_a_straight_run(tmp_path: Path) -> None:
    settings = config(epochs=3, lr_schedule="warmup_cosine", warmup_epochs=1.0)
    straight, straight_history = train_once(settings)
    stopped = tmp_path / "train.npz"

    class StopAfterFirstEpoch(tf.keras.callbacks.Callback):  # runs after the checkpoint is saved
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            raise KeyboardInterrupt

    train, validation = make_digits(200, seed=3), make_digits(40, seed=8)
    configure_tensorflow(settings.seed, settings.threads)
    with pytest.raises(KeyboardInterrupt):
        fit(build_lenet5(), settings, train, validation, checkpoint=stopped, callbacks=[StopAfterFirstEpoch()])
    # Other initial weights and a count of the epochs trained: a resume that silently started over
    # would train 3 epochs from those weights and end elsewhere.
    epochs = EpochsRun()
    resumed, resumed_history = train_once(settings, stopped, init_seed=settings.seed + 1, callbacks=[epochs])
    assert epochs.begun == [1, 2]
    assert resumed_history == straight_history
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_of_other_params_is_not_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = tmp_path / "train.npz"
    train_once(config(epochs=2, learning_rate=0.003), checkpoint)  # leaves the checkpoint of its epoch 2
    assert checkpoint.is_file()
    capsys.readouterr()
    other = config(epochs=2, learning_rate=0.004)
    epochs = EpochsRun()
    weights, history = train_once(other, checkpoint, callbacks=[epochs])
    assert f"train: note: {checkpoint} is from another run (other params or data)" in capsys.readouterr().out
    assert epochs.begun == [0, 1]
    straight, straight_history = train_once(other)
    assert history == straight_history
    for a, b in zip(straight, weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mirrored_strategy_on_one_device_trains_exactly_as_without() -> None:
    """`train.distribute: mirrored` with one device (the CPU, or one GPU): the same weights as `none`."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        pytest.skip("several GPUs make several replicas, whose summed gradients round otherwise")
    settings = config(epochs=1)
    plain, plain_history = train_once(settings)
    strategy = make_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    described = describe_devices(strategy)
    assert described.startswith("1 GPU (" if gpus else "the CPU") and described.endswith(", 1 replica(s)")
    with strategy.scope():
        mirrored, mirrored_history = train_once(dataclasses.replace(settings, distribute="mirrored"))
    assert mirrored_history == plain_history
    for a, b in zip(plain, mirrored, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_interrupt_stops_after_the_running_epoch_is_checkpointed(tmp_path: Path) -> None:
    """SIGINT mid-training: the epoch finishes, is saved, then KeyboardInterrupt; resuming completes it."""
    import os
    import signal

    class InterruptDuringFirstEpoch(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 0:
                os.kill(os.getpid(), signal.SIGINT)  # handled by fit's own handler: no exception yet

    settings = config(epochs=3)
    checkpoint = tmp_path / "train.npz"
    train, validation = make_digits(200, seed=3), make_digits(40, seed=8)
    configure_tensorflow(settings.seed, settings.threads)
    before = signal.getsignal(signal.SIGINT)  # Python's own, or SIG_IGN under `nohup ... &`
    with pytest.raises(KeyboardInterrupt):
        fit(build_lenet5(), settings, train, validation, checkpoint=checkpoint, callbacks=[InterruptDuringFirstEpoch()])
    assert signal.getsignal(signal.SIGINT) is before  # the handler from before training is back
    epochs = EpochsRun()
    _, history = train_once(settings, checkpoint, callbacks=[epochs])
    assert len(history) == 3 and epochs.begun == [1, 2]  # the interrupted epoch was saved, not redone
