"""Where training runs, on either backend: the devices, the replicas, and who writes the outputs.

`none` trains on the backend's default device; `mirrored` one replica per local GPU (or the CPU),
each step's gradients summed across them (TensorFlow's MirroredStrategy, or Keras's DataParallel
on JAX); `multi_worker` one process per machine, TensorFlow only (lenet5/training/distribute.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import keras

from lenet5.training.backend import devices_line


@dataclass(frozen=True)
class Placement:
    """Build and train the model inside `scope()`; `strategy` is TensorFlow's multi-worker one, else None."""

    scope: Callable[[], AbstractContextManager[Any]]
    description: str  # for the log: devices and replicas
    writes_outputs: bool  # False only on multi_worker's non-chief workers
    strategy: Any = None


def place(distribute: str, worker_timeout: float = 120.0) -> Placement:
    """The placement of `train.distribute` on the running backend; before any model is built."""
    if keras.backend.backend() == "tensorflow":
        from lenet5.training.distribute import describe_devices, make_strategy, writes_outputs

        strategy = make_strategy(distribute, worker_timeout)
        multi_worker = strategy if distribute == "multi_worker" else None
        return Placement(strategy.scope, describe_devices(strategy), writes_outputs(strategy), multi_worker)
    # The rule "multi_worker trains on TensorFlow only" is checked once, with params.yaml (lenet5/config.py).
    assert distribute != "multi_worker", "lenet5/config.py refuses train.distribute: multi_worker with jax"
    if distribute == "mirrored":
        devices = keras.distribution.list_devices()
        # Every batch split across the devices, the weights replicated: TensorFlow's mirrored.
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return Placement(contextlib.nullcontext, devices_line(len(devices)), True)
    return Placement(contextlib.nullcontext, devices_line(1), True)
