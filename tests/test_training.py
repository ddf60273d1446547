"""The training loop's parts: seeded order and augmentation, schedules, scoring, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import yaml

from stages.model import build_lenet5, configure_tensorflow
from stages.scoring import score
from stages.training import (
    augment,
    current_learning_rate,
    epoch_order,
    make_epoch_runner,
    make_optimizer,
)
from tests.conftest import ROOT
from tests.mnist_fixture import make_digits

TRAIN_DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]


def train_params(**overrides: Any) -> dict[str, Any]:
    return {**TRAIN_DEFAULTS, "epochs": 2, "batch_size": 32, "warmup_epochs": 0, **overrides}


def test_epoch_order_is_a_seeded_permutation() -> None:
    order = epoch_order(100, seed=98, epoch=3)
    assert sorted(order) == list(range(100))
    np.testing.assert_array_equal(order, epoch_order(100, seed=98, epoch=3))
    assert not np.array_equal(order, epoch_order(100, seed=98, epoch=4))


def test_augment_shifts_and_rotates_reproducibly() -> None:
    images = np.zeros((4, 32, 32, 1), np.float32)
    images[:, 12:20, 14:18] = 1.0
    seed = tf.constant([98, 7], tf.int64)
    moved = augment(tf.constant(images), seed, max_shift=2.0, max_rotation=10.0).numpy()
    assert moved.shape == images.shape and moved.min() >= 0.0 and moved.max() <= 1.0
    assert not np.allclose(moved, images)
    np.testing.assert_array_equal(moved, augment(tf.constant(images), seed, 2.0, 10.0).numpy())
    unchanged = augment(tf.constant(images), seed, max_shift=0.0, max_rotation=0.0).numpy()
    np.testing.assert_allclose(unchanged, images, atol=1e-6)


def test_warmup_cosine_schedule_rises_then_falls_to_zero() -> None:
    optimizer = make_optimizer(train_params(lr_schedule="warmup_cosine", warmup_epochs=1, epochs=4), 10)
    schedule = optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    assert rates[0] == 0.0 and rates[1] < rates[2] == pytest.approx(TRAIN_DEFAULTS["learning_rate"])
    assert rates[2] > rates[3] > rates[4] == pytest.approx(0.0, abs=1e-9)
    constant = make_optimizer(train_params(lr_schedule="constant", learning_rate=0.01), 10)
    assert current_learning_rate(constant) == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_trains(name: str) -> None:
    images, labels = make_digits(64, seed=5)
    x = tf.constant(np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype(np.float32) / 255)
    params = train_params(optimizer=name, epochs=1, weight_decay=0.0001)
    model = build_lenet5()
    run = make_epoch_runner(model, make_optimizer(params, 2), params)
    loss, accuracy = run(x, tf.constant(labels.astype(np.int32)), epoch_order(64, 98, 0), 0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0


def test_score_matches_hand_computation() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    labels = np.array([0, 1, 1])
    loss, accuracy = score(probabilities, labels)
    assert loss == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3, rel=1e-6)
    assert accuracy == pytest.approx(2 / 3)


def test_same_seed_gives_identical_weights() -> None:
    images, labels = make_digits(200, seed=3)
    x = tf.constant(np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype(np.float32) / 255)
    y = tf.constant(labels.astype(np.int32))
    params = train_params()

    def train_once() -> list[np.ndarray]:
        configure_tensorflow(params["seed"], params["threads"])
        model = build_lenet5()
        run = make_epoch_runner(model, make_optimizer(params, 7), params)
        for epoch in range(params["epochs"]):
            run(x, y, epoch_order(200, params["seed"], epoch), epoch)
        return model.get_weights()

    for first, second in zip(train_once(), train_once(), strict=True):
        np.testing.assert_array_equal(first, second)
