"""The training-time augmentation: a Keras layer that shifts and rotates each image, on any backend.

It runs inside the compiled training step, on the device that trains (a GPU's gather is far
cheaper than a host's), and is written with `keras.ops` only, so TensorFlow and JAX run the same
code. Its randomness is not its own: each image's row of `draws` (uniform in [-1, 1], drawn per
(seed, epoch) by lenet5/inputs.py) says how far to move it, so an epoch is the same on every run,
resumed or not, on either backend. Outside training, and for rows of zeros, the image passes unchanged.
To change the augmentation, change `Augment.call`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

DRAWS = 3  # per image: rotation, horizontal shift, vertical shift, each in [-1, 1]


def affine_transforms(draws: Any, max_shift: float, max_rotation: float, size: int) -> Any:
    """(N, 8) transforms in the form `keras.ops.image.affine_transform` takes: each maps an output
    pixel to the input pixel it samples; rotate about the centre by up to `max_rotation` degrees,
    then shift by up to `max_shift` pixels."""
    angle = draws[:, 0] * (max_rotation * math.pi / 180.0)
    shift_x, shift_y = draws[:, 1] * max_shift, draws[:, 2] * max_shift
    cos, sin = ops.cos(angle), ops.sin(angle)
    center = (size - 1.0) / 2.0
    zeros = ops.zeros_like(angle)
    return ops.stack(
        [
            cos,
            -sin,
            center - cos * center + sin * center - shift_x,
            sin,
            cos,
            center - sin * center - cos * center - shift_y,
            zeros,
            zeros,
        ],
        axis=1,
    )


class Augment(keras.layers.Layer):
    """{"pixels": uint8 (N, H, W, 1), "draws": (N, 3)} -> float32 pixels, moved when training."""

    def __init__(self, max_shift: float, max_rotation: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_shift, self.max_rotation = max_shift, max_rotation

    def call(self, inputs: dict[str, Any], training: bool = False) -> Any:
        images = ops.cast(inputs["pixels"], "float32")
        if not training or not (self.max_shift or self.max_rotation):
            return images
        transforms = affine_transforms(inputs["draws"], self.max_shift, self.max_rotation, images.shape[2])
        # Bilinear, black outside: on TensorFlow one fused kernel (ImageProjectiveTransformV3),
        # on JAX `map_coordinates`. A row of zeros is the identity: every pixel is sampled exactly.
        return ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant")

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"max_shift": self.max_shift, "max_rotation": self.max_rotation}
