"""Which Keras backend trains: `train.backend`, set before Keras is imported, and its set-up.

Keras 3 reads its backend once, from KERAS_BACKEND, when it is first imported. The train stage
calls `select_backend` before importing anything that imports Keras; every other stage reads a
.keras file, which loads on any backend, so they keep Keras's default (TensorFlow).
"""

from __future__ import annotations

import importlib.util
import os
import sys

from lenet5.errors import PipelineError

# Each backend (named as Keras and its Python package name it) and how to install it where it is missing.
INSTALL = {
    "tensorflow": "`make setup` (or `pip install '.[cpu]'`, `'.[gpu]'` for NVIDIA GPUs)",
    "jax": "`make setup` (or `pip install '.[jax]'`; docs/scaling.md has the CUDA build)",
}


def require_backend(name: str, where: str = "train.backend") -> None:
    """A one-line error naming the install command if backend `name` is not installed here.

    `find_spec` locates the package without importing it: the check costs milliseconds.
    """
    if importlib.util.find_spec(name) is None:
        raise PipelineError(f"{where}: {name} is not installed in this environment; install it with {INSTALL[name]}")


def select_backend(name: str) -> None:
    """Make Keras use backend `name`. Before Keras is imported: afterwards its backend is fixed."""
    require_backend(name)
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != name:
        raise RuntimeError(f"Keras was imported with the {keras.backend.backend()} backend before {name} was chosen")
    os.environ["KERAS_BACKEND"] = name


# Optional imports TensorFlow and Keras make at start-up for what no stage here uses: TF's LiteRT
# converter imports JAX (to convert JAX functions) and Keras's image galleries import matplotlib.
# Each costs over a second of every TensorFlow stage's start-up on 2 cores (measured with
# `python -X importtime`); both are installed beside TensorFlow, so both would be imported.
UNUSED_BY_TENSORFLOW_STAGES = ("jax", "matplotlib")


def skip_unused_imports() -> None:
    """In a stage that runs on TensorFlow and draws nothing: make those optional imports fail
    (Python's own way, None in sys.modules), so the libraries go on without them. Call it before
    Keras or TensorFlow is imported, and only where neither JAX nor matplotlib is used."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    for name in UNUSED_BY_TENSORFLOW_STAGES:
        if name != backend and name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]


def configure_backend(seed: int, threads: int) -> None:
    """Seed Python, NumPy and the backend; on TensorFlow, deterministic ops and `threads` (0: all cores).

    JAX on a CPU is deterministic as it is, and takes every core (XLA's own thread pool).
    """
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    # The training graph is one sequential loop: running independent ops side by side only makes
    # them compete for the same cores (measured about 10% slower on 2 cores).
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow already ran in this process (a test session): its threads are fixed at first
        # use. Each stage calls this before running anything, so there it always applies.
        pass


def device_names() -> list[str]:
    """The accelerators the backend trains on (an empty list: the CPU), by model name."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [getattr(device, "device_kind", str(device)) for device in jax.devices() if device.platform != "cpu"]
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]


def devices_line(replicas: int) -> str:
    names = device_names()
    where = f"{len(names)} GPU ({', '.join(sorted(set(names)))})" if names else "the CPU"
    return f"{where}, {replicas} replica(s)"
