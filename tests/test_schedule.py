"""Training length, batch and learning rate that follow the data set's size (lenet5/training/schedule.py): `auto` gives
MNIST's published recipe at its size and enough optimizer steps on a small set; explicit numbers
win; what does not fit the real split is refused in one line naming the setting."""

from __future__ import annotations

import dataclasses

import pytest

from lenet5.config import load_params
from lenet5.errors import PipelineError
from lenet5.training.schedule import size_training
from tests.conftest import ROOT, recipe_params, write_params


@pytest.fixture
def auto_config(tmp_path):
    params = recipe_params()
    params["train"].update(
        epochs="auto", batch_size="auto", min_images=250_000, warmup_epochs=0.5, unaugmented_epochs=1
    )
    write_params(tmp_path, params)
    return load_params(tmp_path / "params.yaml").train


def test_mnist_size_trains_the_published_recipe(auto_config) -> None:
    sized = size_training(auto_config, 54_000)
    assert (sized.config.batch_size, sized.config.epochs, sized.steps) == (512, 5, 530)
    assert sized.explanation == (
        "54,000 training images: batch 512 (auto), 5 epochs (auto: the fewest that show it train.min_images, "
        "250,000 images); 530 steps"
    )


def test_the_workspace_params_are_auto_at_mnist_size() -> None:
    """params.yaml as shipped trains MNIST's recipe: the model bytes in dvc.lock depend on it."""
    train = load_params(ROOT / "params.yaml").train
    if (train.epochs, train.batch_size) == ("auto", "auto"):
        sized = size_training(train, 54_000)
        assert (sized.config.batch_size, sized.config.epochs) == (512, 5)


@pytest.mark.parametrize(
    ("images", "batch", "epochs"),
    [(450, 32, 556), (900, 64, 278), (4_500, 512, 56), (18_000, 512, 14), (100, 16, 1000), (10, 10, 1000)],
)
def test_small_sets_get_smaller_batches_and_as_many_images(auto_config, images: int, batch: int, epochs: int) -> None:
    sized = size_training(auto_config, images)
    assert (sized.config.batch_size, sized.config.epochs) == (batch, epochs)
    # A smaller auto batch trains at a learning rate scaled by the square root of the batch's share of 512.
    assert sized.config.learning_rate == pytest.approx(auto_config.learning_rate * min(1, batch / 512) ** 0.5)
    assert (f"learning rate {sized.config.learning_rate:.3g}" in sized.explanation) == (batch < 512)
    assert images * sized.config.epochs >= 250_000 or sized.config.epochs == 1000  # the most train.epochs allows
    assert sized.steps >= 500
    assert f"{images:,} training images: batch {batch}" in sized.explanation


def test_explicit_numbers_win(auto_config) -> None:
    sized = size_training(dataclasses.replace(auto_config, epochs=3, batch_size=64), 900)
    assert (sized.config.batch_size, sized.config.epochs, sized.steps) == (64, 3, 45)
    assert sized.config.learning_rate == auto_config.learning_rate  # an explicit batch keeps the rate as written
    assert sized.explanation == "900 training images: batch 64, 3 epochs; 45 steps"


def test_what_does_not_fit_the_split_is_named(auto_config) -> None:
    with pytest.raises(PipelineError) as refused:
        size_training(
            dataclasses.replace(auto_config, batch_size=1000, epochs=2, warmup_epochs=2.0, unaugmented_epochs=3),
            900,
            "p.yaml",
        )
    assert list(refused.value.problems) == [
        "p.yaml: train.batch_size: 1000 is more than the 900 training images of the prepared data set; "
        "expected at most that, or auto",
        "p.yaml: train.warmup_epochs: 2.0 is not allowed; expected fewer than the 2 epochs of train.epochs",
        "p.yaml: train.unaugmented_epochs: 3 is not allowed; expected at most the 2 epochs of train.epochs",
    ]
    with pytest.raises(PipelineError, match=r"expected fewer than the 1 epochs of train.epochs \(auto\)"):
        size_training(dataclasses.replace(auto_config, min_images=1, warmup_epochs=1.0), 54_000)
