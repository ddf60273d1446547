"""Training with Keras `fit`: seeded order and augmentation, schedules, determinism, exact resume."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import yaml

from lenet5.config import TrainConfig, load_params
from lenet5.errors import PipelineError
from lenet5.evaluation.scoring import score
from lenet5.training.augment import Augment, bspline_weights, control_points, draw_count
from lenet5.training.backend import configure_backend, device_names
from lenet5.training.inputs import Batch, epoch_inputs, model_batch
from lenet5.training.loop import fit, make_optimizer
from lenet5.training.model import build_lenet5, load_model, save_model
from lenet5.training.placement import place
from tests.conftest import recipe_params
from tests.mnist_fixture import make_digits

with tempfile.TemporaryDirectory() as folder:  # the tests' recipe, whatever the workspace's params.yaml says
    (Path(folder) / "params.yaml").write_text(yaml.safe_dump(recipe_params()))
    DEFAULTS = load_params(Path(folder) / "params.yaml").train
ELASTIC_SMOOTHNESS = 7.0
# TensorFlow's own parts (TF_CONFIG): the rest of this file runs on either backend.
tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's multi_worker only")


def config(**overrides: Any) -> TrainConfig:
    return dataclasses.replace(DEFAULTS, **{"epochs": 2, "batch_size": 32, "warmup_epochs": 0.0, **overrides})


class EpochsRun(keras.callbacks.Callback):
    """Counts the epochs `fit` actually trains (replayed ones are not begun)."""

    def __init__(self) -> None:
        super().__init__()
        self.begun: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.begun.append(epoch)


def pixels_of(batch: Batch) -> np.ndarray:
    return batch[0]["pixels"][..., 0]


def augmented(
    images: np.ndarray, draws: np.ndarray, max_shift: float = 2.0, max_rotation: float = 10.0, elastic: float = 0.0
) -> np.ndarray:
    """What the training model's first layer makes of uint8 images and their draws."""
    layer = Augment(max_shift, max_rotation, elastic, ELASTIC_SMOOTHNESS)
    moved = layer({"pixels": images[..., np.newaxis], "draws": draws}, training=True)
    return keras.ops.convert_to_numpy(moved)[..., 0]


def test_each_epoch_is_a_seeded_permutation_with_its_own_draws() -> None:
    images, labels = make_digits(100, seed=4)
    settings = config(epochs=5, unaugmented_epochs=1)
    third = epoch_inputs(images, labels, settings, 3)
    assert sorted(map(bytes, pixels_of(third))) == sorted(map(bytes, images))  # every image once
    again = epoch_inputs(images, labels, settings, 3)  # as a resumed run makes it
    for name in ("pixels", "draws"):
        np.testing.assert_array_equal(third[0][name], again[0][name])
    np.testing.assert_array_equal(third[1], again[1])
    fourth = epoch_inputs(images, labels, settings, 2)
    assert not np.array_equal(pixels_of(third), pixels_of(fourth))
    assert not np.array_equal(third[0]["draws"], fourth[0]["draws"])
    draws = third[0]["draws"]
    width = draw_count(settings.elastic_strength, settings.elastic_smoothness)
    assert draws.shape == (100, width) and -1.0 <= draws.min() < -0.9 and 0.9 < draws.max() < 1.0
    reseeded = epoch_inputs(images, labels, dataclasses.replace(settings, seed=settings.seed + 1), 3)
    assert not np.array_equal(pixels_of(third), pixels_of(reseeded))


def test_the_last_unaugmented_epochs_get_no_draws() -> None:
    images, labels = make_digits(64, seed=5)
    settings = config(epochs=3, unaugmented_epochs=1)
    draws = [epoch_inputs(images, labels, settings, epoch)[0]["draws"] for epoch in range(3)]
    assert np.abs(draws[0]).max() > 0.9 and np.abs(draws[1]).max() > 0.9
    assert not draws[2].any()  # the last epoch: the digits as they are
    unaugmented = config(epochs=3, augment_max_shift=0, augment_max_rotation=0, elastic_strength=0)
    assert not epoch_inputs(images, labels, unaugmented, 0)[0]["draws"].any()


def test_augment_shifts_and_rotates_by_the_draws_and_only_when_training() -> None:
    images = np.zeros((4, 28, 28), np.uint8)
    images[:, 10:18, 12:16] = 255
    draws = np.random.default_rng(7).uniform(-1, 1, (4, 3)).astype(np.float32)
    moved = augmented(images, draws)
    # Bilinear: each pixel a weighted mean of four (JAX's weights round to 255.00002 at most).
    assert moved.shape == images.shape and moved.min() >= 0.0 and moved.max() <= 255.0 + 1e-3
    assert all(not np.allclose(moved[i], images[i]) for i in range(4))
    np.testing.assert_array_equal(moved, augmented(images, draws))
    # A whole-pixel shift with no rotation moves the block exactly: draws of 0.5 at max_shift 2 are
    # one pixel right and one down.
    shifted = augmented(images[:1], np.array([[0.0, 0.5, 0.5]], np.float32))
    np.testing.assert_allclose(shifted[0], np.roll(images[0], (1, 1), axis=(0, 1)), atol=1e-3)
    np.testing.assert_array_equal(augmented(images, np.zeros_like(draws)), images)  # zeros: unchanged
    np.testing.assert_array_equal(augmented(images, draws, 0.0, 0.0), images)
    layer = Augment(2.0, 10.0)
    at_inference = layer({"pixels": images[..., np.newaxis], "draws": draws}, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(at_inference)[..., 0], images)


def test_the_affine_part_samples_as_keras_affine_transform_does() -> None:
    # Keras's own bilinear transform (one fused kernel on TensorFlow) is the reference for the
    # rotation and shift this layer computes itself, to add the elastic field to before sampling.
    images, _ = make_digits(16, seed=9)
    draws = np.random.default_rng(10).uniform(-1, 1, (16, 3)).astype(np.float32)
    angle, shift_x, shift_y = draws[:, 0] * np.radians(10.0), draws[:, 1] * 2.0, draws[:, 2] * 2.0
    cos, sin, centre, zero = np.cos(angle), np.sin(angle), 13.5, np.zeros(16)
    transforms = np.stack(
        [
            *(cos, -sin, centre - cos * centre + sin * centre - shift_x),
            *(sin, cos, centre - sin * centre - cos * centre - shift_y, zero, zero),
        ],
        axis=1,
    ).astype(np.float32)
    pixels = images[..., np.newaxis].astype(np.float32)
    reference = keras.ops.image.affine_transform(pixels, transforms, interpolation="bilinear", fill_mode="constant")
    np.testing.assert_allclose(augmented(images, draws), keras.ops.convert_to_numpy(reference)[..., 0], atol=2e-3)


def test_elastic_distortion_moves_each_axis_by_its_own_smooth_field() -> None:
    images = np.zeros((1, 28, 28), np.uint8)
    images[0, 6:22, 13:15] = 255  # a vertical bar
    count = draw_count(3.0, ELASTIC_SMOOTHNESS)
    points = control_points(ELASTIC_SMOOTHNESS)
    assert count == 3 + 2 * points * points and points == 7
    rng = np.random.default_rng(11)
    zeros = np.zeros((1, count), np.float32)
    np.testing.assert_array_equal(augmented(images, zeros, elastic=3.0), images)  # zeros: unchanged
    along_x = zeros.copy()
    along_x[0, 3 : 3 + points * points] = rng.uniform(-1, 1, points * points)
    bent = augmented(images, along_x, 0.0, 0.0, elastic=3.0)
    # x draws only: the bar's rows move sideways, each by its own amount, and none up or down (rows
    # outside the bar stay exactly black). Keras's elastic_transform, on TensorFlow, would move
    # every pixel along the diagonal: the same draw for x and y.
    ink_rows = bent[0].sum(axis=1) > 0
    np.testing.assert_array_equal(ink_rows, images[0].sum(axis=1) > 0)
    centres = (bent[0] * np.arange(28)).sum(axis=1)[ink_rows] / bent[0].sum(axis=1)[ink_rows]
    assert np.ptp(centres) > 0.5  # a bent bar, not a shifted one
    # Smooth: the field is a cubic B-spline of the control points, each row of its weights sums to 1.
    weights = bspline_weights(ELASTIC_SMOOTHNESS)
    np.testing.assert_allclose(weights.sum(axis=1), np.ones(28), atol=1e-6)
    field = weights @ rng.uniform(-1, 1, (points, points)) @ weights.T * 3.0
    assert np.abs(np.diff(field, axis=0)).max() < 1.0 and np.abs(np.diff(field, axis=1)).max() < 1.0
    # Without elastic strength the extra draws are not taken.
    assert draw_count(0.0, ELASTIC_SMOOTHNESS) == 3


def test_epochs_draw_for_the_elastic_field_when_it_is_on() -> None:
    images, labels = make_digits(20, seed=12)
    settings = config(epochs=2, elastic_strength=2.0, elastic_smoothness=ELASTIC_SMOOTHNESS)
    draws = epoch_inputs(images, labels, settings, 0)[0]["draws"]
    assert draws.shape == (20, draw_count(2.0, ELASTIC_SMOOTHNESS)) and np.abs(draws[:, 3:]).max() > 0.9
    only_elastic = config(epochs=2, augment_max_shift=0, augment_max_rotation=0, elastic_strength=2.0)
    assert epoch_inputs(images, labels, only_elastic, 0)[0]["draws"].any()


def test_targets_are_one_hot_for_label_smoothing() -> None:
    images, labels = make_digits(10, seed=6)
    _, targets = model_batch(images, labels, 3)
    assert targets.shape == (10, 10)
    np.testing.assert_array_equal(targets.sum(axis=1), np.ones(10))
    np.testing.assert_array_equal(np.argmax(targets, axis=1), labels)


@tensorflow_only
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "train.distribute is multi_worker but TF_CONFIG is not set"),
        ("{not json", "TF_CONFIG: '{not json' is not a cluster and task like"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "is not a cluster and task like"),
    ],
)
def test_tf_config_is_checked_in_one_line(text: str | None, message: str) -> None:
    from lenet5.training.distribute import check_tf_config

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
    trained = EpochsRun()  # sees the model Keras trains, with its optimizer and loss
    (row,) = fit(build_lenet5(), settings, train, validation, callbacks=[trained])
    assert set(row) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert np.isfinite(row["loss"]) and 0.0 <= row["accuracy"] <= 1.0
    # What was asked for reached Keras: the optimizer, its decay rates or momentum, the weight
    # decay, and the label smoothing of the loss.
    optimizer = trained.model.optimizer.get_config()
    assert type(trained.model.optimizer).__name__ == keras_class
    assert {key: optimizer[key] for key in expected} == pytest.approx(expected)
    assert optimizer["weight_decay"] == pytest.approx(0.0001)
    assert trained.model.loss.get_config()["label_smoothing"] == pytest.approx(0.2)


def test_score_matches_hand_computation() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    labels = np.array([0, 1, 1])
    loss, accuracy = score(probabilities, labels)
    assert loss == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3, rel=1e-6)
    assert accuracy == pytest.approx(2 / 3)


def train_once(
    settings: TrainConfig,
    checkpoint: Path | None = None,
    init_seed: int | None = None,
    callbacks: list | None = None,
    data_seed: int = 3,
) -> tuple[list[np.ndarray], list[dict]]:
    """Train on small digits (`data_seed` draws them); `init_seed` draws other initial weights than
    `settings.seed` would."""
    train, validation = make_digits(200, seed=data_seed), make_digits(40, seed=8)
    configure_backend(settings.seed if init_seed is None else init_seed, settings.threads)
    model = build_lenet5()
    history = fit(model, settings, train, validation, checkpoint=checkpoint, callbacks=callbacks or [])
    return model.get_weights(), history


def test_weight_decay_and_label_smoothing_change_what_training_does() -> None:
    """More than settings read back: decay shrinks the weights training reaches, and the loss the
    model trains on is the smoothed cross-entropy, computed here by hand."""
    base = config(epochs=1, weight_decay=0.0, label_smoothing=0.0)
    plain, _ = train_once(base)
    decayed, _ = train_once(dataclasses.replace(base, weight_decay=1.0))

    def squared_norm(weights: list[np.ndarray]) -> float:
        return sum(float(np.sum(w.astype(np.float64) ** 2)) for w in weights)

    # 7 steps at rate 0.015 with decay 1.0 take off about 10%; Adam's own steps move both alike.
    assert squared_norm(decayed) < 0.95 * squared_norm(plain)

    trained = EpochsRun()
    smoothing = 0.2
    fit(build_lenet5(), dataclasses.replace(base, label_smoothing=smoothing), make_digits(64, seed=5),
        make_digits(16, seed=6), callbacks=[trained])  # fmt: skip
    probabilities = np.full((2, 10), 0.05, np.float32)
    probabilities[0, 3] = probabilities[1, 7] = 0.55
    targets = np.eye(10, dtype=np.float32)[[3, 1]]  # the second one wrong
    smoothed = (1 - smoothing) * targets + smoothing / 10
    by_hand = -np.mean(np.sum(smoothed * np.log(probabilities), axis=1))
    computed = float(keras.ops.convert_to_numpy(trained.model.loss(targets, probabilities)))
    assert computed == pytest.approx(by_hand, rel=1e-5)
    unsmoothed = -np.mean(np.sum(targets * np.log(probabilities), axis=1))
    assert abs(computed - unsmoothed) > 0.1


def test_same_seed_gives_identical_weights() -> None:
    (first, first_history), (second, second_history) = train_once(config()), train_once(config())
    assert first_history == second_history
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_from_a_checkpoint_equals_a_straight_run(tmp_path: Path) -> None:
    # With every part that keeps state or draws per epoch: schedule, elastic field, averaged weights.
    settings = config(epochs=3, lr_schedule="warmup_cosine", warmup_epochs=1.0, elastic_strength=2.0, ema_momentum=0.9)
    straight, straight_history = train_once(settings)
    stopped = tmp_path / "train.npz"

    class StopAfterFirstEpoch(keras.callbacks.Callback):  # runs after the checkpoint is saved
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            raise KeyboardInterrupt

    train, validation = make_digits(200, seed=3), make_digits(40, seed=8)
    configure_backend(settings.seed, settings.threads)
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


def test_averaged_weights_are_saved_and_training_goes_on_from_its_own(tmp_path: Path) -> None:
    # The average never steers training: the weights training reaches are those of the same run
    # without it (the checkpoint holds them), and only the model that is saved is the average.
    plain, plain_history = train_once(config(epochs=3))
    checkpoint = tmp_path / "train.npz"
    averaged, averaged_history = train_once(config(epochs=3, ema_momentum=0.9), checkpoint)
    assert [row["loss"] for row in averaged_history] == [row["loss"] for row in plain_history]
    with np.load(checkpoint) as saved:
        reached = [saved[f"model_{i}"] for i in range(len(plain))]
    for a, b in zip(plain, reached, strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(not np.allclose(a, b) for a, b in zip(plain, averaged, strict=True))


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


def test_a_checkpoint_of_other_data_with_the_same_params_is_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prepared data changed under unchanged params (another data set, another split): the
    checkpoint of the old data is ignored, and training starts over on the new."""
    checkpoint = tmp_path / "train.npz"
    settings = config(epochs=2)
    train_once(settings, checkpoint, data_seed=3)
    capsys.readouterr()
    epochs = EpochsRun()
    weights, history = train_once(settings, checkpoint, callbacks=[epochs], data_seed=4)
    assert f"train: note: {checkpoint} is from another run (other params or data)" in capsys.readouterr().out
    assert epochs.begun == [0, 1]
    straight, straight_history = train_once(settings, data_seed=4)
    assert history == straight_history
    for a, b in zip(straight, weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mirrored_on_one_device_trains_exactly_as_without() -> None:
    """`train.distribute: mirrored` with one device (the CPU, or one GPU): the same weights as `none`,
    on TensorFlow's MirroredStrategy and on Keras's DataParallel (JAX)."""
    if len(device_names()) > 1:
        pytest.skip("several GPUs make several replicas, whose summed gradients round otherwise")
    settings = config(epochs=1)
    plain, plain_history = train_once(settings)
    placement = place("mirrored")
    try:
        described = placement.description
        assert described.startswith("1 GPU (" if device_names() else "the CPU") and described.endswith(", 1 replica(s)")
        with placement.scope():
            mirrored, mirrored_history = train_once(dataclasses.replace(settings, distribute="mirrored"))
    finally:
        keras.distribution.set_distribution(None)  # JAX's is process-wide
    assert mirrored_history == plain_history
    for a, b in zip(plain, mirrored, strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_runs_on_the_backend_asked_for() -> None:
    """The suite runs here on KERAS_BACKEND's backend, TensorFlow by default (test_backends.py runs it on JAX)."""
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def test_an_interrupt_stops_after_the_running_epoch_is_checkpointed(tmp_path: Path) -> None:
    """SIGINT mid-training: the epoch finishes, is saved, then KeyboardInterrupt; resuming completes it."""
    import signal

    class InterruptDuringFirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 0:
                os.kill(os.getpid(), signal.SIGINT)  # handled by fit's own handler: no exception yet

    settings = config(epochs=3)
    checkpoint = tmp_path / "train.npz"
    train, validation = make_digits(200, seed=3), make_digits(40, seed=8)
    configure_backend(settings.seed, settings.threads)
    before = signal.getsignal(signal.SIGINT)  # Python's own, or SIG_IGN under `nohup ... &`
    with pytest.raises(KeyboardInterrupt):
        fit(build_lenet5(), settings, train, validation, checkpoint=checkpoint, callbacks=[InterruptDuringFirstEpoch()])
    assert signal.getsignal(signal.SIGINT) is before  # the handler from before training is back
    epochs = EpochsRun()
    _, history = train_once(settings, checkpoint, callbacks=[epochs])
    assert len(history) == 3 and epochs.begun == [1, 2]  # the interrupted epoch was saved, not redone


def test_the_saved_model_carries_its_optimizer_and_state(tmp_path: Path) -> None:
    """As a model Keras trained directly: `load_model` gives it back compiled, its Adam at the step reached."""
    settings = config(epochs=1)
    train, validation = make_digits(200, seed=3), make_digits(40, seed=8)
    configure_backend(settings.seed, settings.threads)
    model = build_lenet5()
    fit(model, settings, train, validation)
    save_model(model, tmp_path / "lenet5.keras")
    loaded = load_model(tmp_path / "lenet5.keras")
    assert type(loaded.optimizer).__name__ == "Adam"
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 7  # 200 digits in batches of 32
    for saved, original in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(original))
