"""LeNet-5 as in the recipe, and byte-reproducible model files, on any Keras backend.

The model takes MNIST's own 28x28 pixels (0-255) and does the recipe's preprocessing itself:
scale to [0, 1], pad to 32x32 with black. So the prepared data stays uint8 28x28, and the saved
model classifies raw images wherever it is loaded. Its last layer has one output per class of
the data set (lenet5/data/classes.py): 10 for MNIST's digits, the recipe's 61,706 parameters.

`build_lenet5` is the network's one definition. To add a layer, add it there (a setting it needs
comes in `config`, from params.yaml's train section): what `load_model`, the exports and
`lenet5-predict` accept is derived from it, so they take the new network with no other edit.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lenet5.data.splits import CHANNELS, DEFAULT_CLASSES, IMAGE_SHAPE
from lenet5.errors import PipelineError, first_line
from lenet5.files import write_bytes

# Layers that pass their input through unchanged outside training: a model with or without them
# (dropout at rate 0 or 0.3) is the same network when it classifies, so the guard skips them.
TRAINING_ONLY_LAYERS = frozenset(
    {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout"}
)
INPUT_SHAPE = (*IMAGE_SHAPE, CHANNELS)  # the data's pixels, 0-255
PAD = 2  # 28x28 -> 32x32, the input size LeNet-5 was designed for
PREDICT_BATCH = 2000  # images per forward pass when scoring: memory only, results are the same
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def build_lenet5(classes: int = DEFAULT_CLASSES, config: Any = None) -> keras.Model:
    """Scale, pad, then conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84 -> `classes` softmax.

    `config` is the run's TrainConfig (lenet5/config.py), for a layer that takes a setting; None
    where only the network's shape matters (loading a saved model)."""
    layers = keras.layers
    # Explicit names: Keras would number them per process (conv2d_2, ...), changing saved files.
    model = keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="pixels"),
            layers.Rescaling(1.0 / 255.0, name="scale"),
            layers.ZeroPadding2D(PAD, name="pad"),
            layers.Conv2D(6, 5, padding="valid", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, strides=2, name="pool1"),
            layers.Conv2D(16, 5, padding="valid", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, strides=2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(120, activation="relu", name="fc1"),
            layers.Dense(84, activation="relu", name="fc2"),
            # "digit" for every data set: the name is in the saved file, and MNIST's stays byte for byte.
            layers.Dense(classes, activation="softmax", name="digit"),
        ],
        name="lenet5",
    )
    return model


def architecture(model: keras.Model) -> tuple[Any, ...]:
    """What makes a network this one when it classifies: input and output shapes, and each layer's
    kind, output shape and weight shapes (the layers that act only in training left out)."""
    layers = tuple(
        (type(layer).__name__, tuple(layer.output.shape), tuple(tuple(w.shape) for w in layer.weights))
        for layer in model.layers
        if type(layer).__name__ not in TRAINING_ONLY_LAYERS
    )
    return tuple(model.input_shape), tuple(model.output_shape), layers


def renumber_shared_objects(node: Any, numbers: dict[int, int]) -> Any:
    """Replace each `shared_object_id` (a Python id(), new every run) by its order of appearance."""
    if isinstance(node, dict):
        return {
            key: numbers.setdefault(value, len(numbers) + 1)
            if key == "shared_object_id"
            else renumber_shared_objects(value, numbers)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [renumber_shared_objects(value, numbers) for value in node]
    return node


def save_model(model: keras.Model, path: Path) -> None:
    """Save a .keras archive atomically, with everything that changes run to run made fixed.

    Keras stamps the save time into metadata.json and every zip entry, and memory addresses into
    config.json; with those fixed, equal weights give equal bytes, so DVC sees no change.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.scratch.keras")
    try:
        model.save(scratch)
        source = zipfile.ZipFile(scratch)
        buffer = io.BytesIO()
        with source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
            for name in sorted(source.namelist()):
                data = source.read(name)
                if name == "metadata.json":
                    metadata = json.loads(data)
                    metadata["date_saved"] = "reproducible"
                    data = json.dumps(metadata, sort_keys=True).encode()
                elif name == "config.json":
                    data = json.dumps(renumber_shared_objects(json.loads(data), {})).encode()
                target.writestr(zipfile.ZipInfo(name, FIXED_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    finally:
        scratch.unlink(missing_ok=True)
    write_bytes(path, buffer.getvalue())


def load_model(path: Path, compile: bool = True) -> keras.Model:
    """The model in a .keras file, checked; `compile=False` leaves out the optimizer and its state."""
    if not path.is_file():
        raise PipelineError(f"{path}: missing")
    try:
        # A .keras file is a zip: its own checksums find a truncated or altered file, which Keras
        # would report as "file not found".
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise PipelineError(f"{path}: damaged (the checksum of {damaged} inside it does not match)")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        raise PipelineError(f"{path}: damaged or not a Keras model (not a complete zip archive: {error})") from None
    try:
        model = keras.models.load_model(path, compile=compile)
    except Exception as error:  # a damaged archive can fail anywhere in Keras's loader, in any type
        raise PipelineError(f"{path}: damaged or not a Keras model ({first_line(error)})") from None
    if not is_lenet5(model):
        raise PipelineError(
            f"{path}: a Keras model, but not LeNet-5 taking 28x28 images and giving one probability per class "
            "(the network build_lenet5 in lenet5/training/model.py defines)"
        )
    return model


def is_lenet5(model: Any) -> bool:
    """The network `build_lenet5` defines, for the model's own class count (2 to 256)."""
    if not isinstance(model, keras.Model):
        return False
    try:
        output = tuple(model.output_shape)
    except (AttributeError, ValueError):
        return False
    classes = output[1] if len(output) == 2 and isinstance(output[1], int) else 0
    return 2 <= classes <= 256 and architecture(model) == architecture(build_lenet5(classes))


def class_count(model: keras.Model) -> int:
    """How many classes the model tells apart: the width of its output."""
    return int(model.output_shape[-1])


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) digits -> float32 (N, 28, 28, 1) pixel values, as the model takes them."""
    return images.astype(np.float32)[..., np.newaxis]


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Softmax outputs for uint8 (N, 28, 28) `images`, in batches so memory stays flat."""
    chunks = [
        keras.ops.convert_to_numpy(model(as_model_input(images[i : i + batch_size]), training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, class_count(model)), np.float32)
