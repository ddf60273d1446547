"""The trained model in the formats that serve it outside Python: TensorFlow Serving and LiteRT.

- A SavedModel in TensorFlow Serving's layout, `<model name>/1/`, whose `serving_default`
  signature takes raw uint8 digits (N, 28, 28) as `pixels` and returns `probabilities` (N, classes).
- A LiteRT (TFLite) float32 file: the same network for a phone or an edge server.
- A LiteRT full-integer int8 file: 8-bit weights and activations, uint8 pixels in and quantized
  probabilities out, calibrated on a seeded sample of the training split; the classic model for a
  microcontroller.

Every file is byte-identical when written again from the same model, so DVC's lock and run cache
hold: Keras's own `model.export` lists variables in a different order in each process, so the
SavedModel is written from a small tf.Module, and the one random field TensorFlow stamps into it
(the fingerprint's uuid) is cleared.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import fingerprint_pb2

from lenet5.data.splits import IMAGE_SHAPE
from lenet5.files import atomic_folder, write_bytes
from lenet5.training.model import INPUT_SHAPE, as_model_input

SERVING_VERSION = 1  # TF Serving serves the highest numbered version folder under the model's
CALIBRATION_IMAGES = 500  # training images the int8 converter measures activation ranges on
CALIBRATION_SEED = 98  # which ones: a fixed sample, so the int8 file is reproducible
FINGERPRINT = "fingerprint.pb"


class Serving(tf.Module):
    """What TensorFlow Serving calls: raw uint8 images in, class probabilities out."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], tf.uint8, name="pixels")])
    def serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        inputs = tf.cast(pixels, tf.float32)[..., tf.newaxis]
        return {"probabilities": self.model(inputs, training=False)}


def write_saved_model(model: keras.Model, base: Path) -> Path:
    """Write the SavedModel into `base`/1/ (`base` is TF Serving's model base path, named after the
    model), replacing `base` whole once the new one is complete; the version folder's path.
    """
    with atomic_folder(base) as scratch:
        module = Serving(model)
        folder = scratch / str(SERVING_VERSION)
        tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
        clear_fingerprint_uuid(folder / FINGERPRINT)
    return base / str(SERVING_VERSION)


def clear_fingerprint_uuid(path: Path) -> None:
    """TensorFlow writes a random uuid into each SavedModel's fingerprint; the checksums stay."""
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    write_bytes(path, fingerprint.SerializeToString(deterministic=True))


def calibration_sample(images: np.ndarray) -> np.ndarray:
    """The fixed sample of training images (uint8 N, 28, 28) that the int8 converter calibrates on."""
    count = min(CALIBRATION_IMAGES, len(images))
    rows = np.random.default_rng(CALIBRATION_SEED).choice(len(images), count, replace=False)
    return images[np.sort(rows)]


@contextlib.contextmanager
def quiet_converter() -> Iterator[None]:
    """Hide what the converter says on every run and asks nothing of the user.

    It warns that TensorFlow's LiteRT converter moves to another package (this one is what TF 2.21
    ships, and ai-edge-litert's runtime reads its files), and prints each temporary SavedModel it
    makes ("Saved artifact at /tmp/...") on stdout.
    """
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _converter(model: keras.Model) -> tf.lite.TFLiteConverter:
    """A converter of `model` for one image at a time, (1, 28, 28, 1): the shape a device and
    LiteRT.js in a browser feed (a model of any batch asks for a shape they cannot give), and no
    ops to work out a batch size at run time."""
    inputs = keras.Input(INPUT_SHAPE, batch_size=1, name="pixels")
    one_at_a_time = keras.Model(inputs, model(inputs), name=model.name)
    with quiet_converter():
        return tf.lite.TFLiteConverter.from_keras_model(one_at_a_time)


def _convert(converter: tf.lite.TFLiteConverter) -> bytes:
    with quiet_converter():
        return bytes(converter.convert())


def tflite_float32(model: keras.Model) -> bytes:
    """The model as a LiteRT float32 flatbuffer: float pixels 0-255 (1, 28, 28, 1) in."""
    return _convert(_converter(model))


def tflite_int8(model: keras.Model, calibration_images: np.ndarray) -> bytes:
    """Full-integer int8: weights and activations 8-bit, uint8 pixels in, uint8 probabilities out."""

    def representative_data() -> Iterator[list[np.ndarray]]:
        for image in calibration_images:
            yield [as_model_input(image[np.newaxis])]

    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # uint8 at both ends: the pixels are uint8 already (scale 1, zero point 0), so a device feeds
    # its camera's bytes as they are and reads probabilities in steps of 1/256.
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return _convert(converter)
