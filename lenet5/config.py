"""Typed settings: params.yaml, the experiment's knobs, one frozen dataclass per section.

Functions take the typed config, never a dict. Each setting is declared once, here, with its rule
and its meaning: params.yaml repeats the meaning as its comment (a test holds the two equal) and
docs/params.md is written from it. How the file is read and checked: lenet5/checks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lenet5.checks import (
    Document,
    Rule,
    check_section,
    choice,
    described,
    integer,
    number,
    pair,
    raise_if,
    setting,
)

PARAMS_FILE = Path("params.yaml")
AUTO = "auto"  # train.epochs and train.batch_size: follow the data set's size (lenet5/training/schedule.py)


def integer_or_auto(low: int, high: int) -> Rule:
    def check(value: Any) -> int | str:
        if value == AUTO:
            return AUTO
        try:
            return integer(low, high)(value)
        except ValueError:
            raise ValueError(f"expected {AUTO} or an integer from {low} to {high:,}") from None

    return described(check, f"`{AUTO}`, or an integer {low} to {high:,}")


# Each setting's rule, what it means and which values it takes, once: params.yaml holds the values,
# docs/params.md is written from these (`make docs`), and check_params applies the rules.
@dataclass(frozen=True)
class PrepareConfig:
    validation_size: float = setting(
        number(0, 1, low_open=True, high_open=True), "fraction of the training images held out for validation"
    )
    seed: int = setting(integer(0, 2**31 - 1), "seed of that split")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = setting(integer(0, 2**31 - 1), "seeds weights, shuffling and augmentation")
    epochs: int | str = setting(
        integer_or_auto(1, 1000),
        "passes over the training split; auto: the fewest that show train.min_images images",
    )
    batch_size: int | str = setting(
        integer_or_auto(1, 2**24),
        "images per step; auto: 512, halved (down to 16) until an epoch makes 8+ steps",
        "`auto`, or 1 to the training split's size",
    )
    min_images: int = setting(
        integer(1, 10**9),
        "with epochs: auto, images to train on in all, whatever the set's size",
    )
    optimizer: str = setting(
        choice("adam", "adamw", "sgd", "rmsprop"), "adam, adamw, sgd (Nesterov, momentum 0.9) or rmsprop"
    )
    adam_betas: tuple[float, float] = setting(
        pair(0, 1),
        "adam, adamw: how slowly the averages of gradients and squared gradients forget",
        details="`beta_1`, `beta_2` (Keras's own are [0.9, 0.999]); `-S 'train.adam_betas=[0.9,0.999]'`",
    )
    learning_rate: float = setting(
        number(0, 1, low_open=True), "peak learning rate; an auto batch below 512 trains at it x sqrt(batch/512)"
    )
    lr_schedule: str = setting(
        choice("constant", "warmup_cosine"), "constant, or linear warm-up then cosine decay to 0"
    )
    warmup_epochs: float = setting(
        number(0, 1000), "length of the warm-up, fractions allowed", "0 to below `train.epochs`"
    )
    weight_decay: float = setting(number(0, 1, high_open=True), "decoupled weight decay, 0 for none")
    ema_momentum: float = setting(
        number(0, 1, high_open=True),
        "the saved model is the weights' moving average with this momentum per step; 0 off",
        details="Keras's `use_ema`: training itself goes on from its own weights",
    )
    augment_max_shift: float = setting(
        number(0, 8),
        "random shift of each training image, in pixels",
        "[0, 8]; 0 with rotation 0 turns augmentation off",
    )
    augment_max_rotation: float = setting(number(0, 45), "random rotation of each training image, in degrees")
    elastic_strength: float = setting(
        number(0, 8),
        "elastic distortion: each control point of the field moves up to this, in pixels; 0 off",
        details="Simard et al. 2003: a smooth random displacement field, along x and y",
    )
    elastic_smoothness: float = setting(
        number(2, 28),
        "pixels between the field's control points: larger is smoother",
        details="a cubic B-spline through them",
    )
    unaugmented_epochs: int = setting(
        integer(0, 1000),
        "the last epochs train on the images unchanged, after the augmented ones",
        "0 to `train.epochs`",
    )
    label_smoothing: float = setting(
        number(0, 1, high_open=True),
        "share of each target spread evenly over the classes",
        details="Keras's `label_smoothing`",
    )
    threads: int = setting(
        integer(0, 256), "TensorFlow intra-op threads, 0 for all cores", details="0 with `jax` (XLA takes every core)"
    )
    distribute: str = setting(
        choice("none", "mirrored", "multi_worker"),
        "none; mirrored: a replica per local GPU (or the CPU); multi_worker: TF_CONFIG machines",
        details="mirrored is TensorFlow's `MirroredStrategy` or Keras's `DataParallel` on JAX; multi_worker runs "
        "one process per machine, TensorFlow only (see [Beyond one CPU](scaling.md))",
    )
    backend: str = setting(
        choice("tensorflow", "jax"),
        "the Keras backend that trains: tensorflow, or jax (no multi_worker, threads 0)",
        details="the model file is the same format either way, and evaluate, export and `lenet5-predict` read it "
        "(see [Beyond one CPU](scaling.md))",
    )


@dataclass(frozen=True)
class PlotConfig:
    misclassified_max: int = setting(
        integer(1, 100), "how many misclassified test digits plots/misclassified.png shows", "1 to 100"
    )
    dpi: int = setting(integer(50, 300), "resolution of the PNGs", "50 to 300")


@dataclass(frozen=True)
class Params:
    """params.yaml: one typed section per stage that has settings."""

    # check_section reads each section's own dataclass from its field's metadata.
    prepare: PrepareConfig = field(metadata={"section": PrepareConfig})
    train: TrainConfig = field(metadata={"section": TrainConfig})
    plot: PlotConfig = field(metadata={"section": PlotConfig})


SECTIONS: dict[str, type] = {"prepare": PrepareConfig, "train": TrainConfig, "plot": PlotConfig}


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Every section of params.yaml, checked; all problems raised together."""
    doc, problems = Document(path), []
    params = check_section(Params, doc.values, doc, (), problems)
    if params is not None:
        problems += _cross_checks(params, doc)
    raise_if(problems)
    return params


def _cross_checks(params: Params, doc: Document) -> list[str]:
    problems = []
    train = params.train
    # The rules that depend on the number of epochs or on the training split's size are checked
    # where the data are known, once (lenet5/training/schedule.py).
    if train.backend == "jax" and train.distribute == "multi_worker":
        problems.append(
            f"{doc.where('train', 'distribute')}: train.distribute: multi_worker is not allowed with train.backend "
            "jax; multi_worker trains on TensorFlow only (mirrored uses every local GPU on JAX)"
        )
    if train.backend == "jax" and train.threads:
        problems.append(
            f"{doc.where('train', 'threads')}: train.threads: {train.threads} is not allowed with train.backend jax; "
            "expected 0 (JAX's compiled steps take every core)"
        )
    return problems
