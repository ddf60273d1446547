"""The training-time augmentation: a Keras layer that shifts, rotates and elastically distorts each
image, on any backend.

It runs inside the compiled training step, on the device that trains, and is written with
`keras.ops` only, so TensorFlow and JAX run the same code. Its randomness is not its own: each
image's row of `draws` (uniform in [-1, 1], drawn per (seed, epoch) by lenet5/training/inputs.py) says how
far to move it, so an epoch is the same on every run, resumed or not, on either backend. Outside
training, and for rows of zeros, the image passes unchanged.

Every output pixel samples the input at one point: the affine map (rotate about the centre, then
shift) of its own position, plus an elastic displacement (Simard, Steinkraus and Platt 2003). The
displacement field is a cubic B-spline through a coarse grid of random control points, one every
`elastic_smoothness` pixels, each moved by up to `elastic_strength` pixels along x and y: smooth
by construction, so no blur is needed, and a few dozen draws per image instead of two per pixel.
One bilinear gather then applies both maps.

Why not Keras's own `keras.ops.image.elastic_transform` (Keras 3.15): its randomness comes from a
Keras seed generator, not from the draws of the epoch; on TensorFlow it draws x and y from the
same seed (every displacement lies on the diagonal) and loops over the batch in Python; and its
field, a Gaussian-blurred per-pixel noise, needs two draws per pixel.
To change the augmentation, change `Augment.call`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from lenet5.data.splits import IMAGE_SIDE

AFFINE_DRAWS = 3  # per image: rotation, horizontal shift, vertical shift, each in [-1, 1]
SIZE = IMAGE_SIDE  # the images' side, in pixels, before the model pads it


def control_points(smoothness: float, size: int = SIZE) -> int:
    """Control points per side of the elastic field: one every `smoothness` pixels, and one more
    beyond each edge (a cubic B-spline is set by the two points either side)."""
    return math.ceil((size - 1) / smoothness) + 3


def draw_count(elastic_strength: float, elastic_smoothness: float) -> int:
    """How many draws each image takes: the affine three, then x and y for every control point."""
    return AFFINE_DRAWS + (2 * control_points(elastic_smoothness) ** 2 if elastic_strength else 0)


def bspline_weights(smoothness: float, size: int = SIZE) -> np.ndarray:
    """(size, points): how much each control point moves each pixel of a row (each row sums to 1).
    Control point k sits at (k - 1) * smoothness pixels."""
    positions = (np.arange(control_points(smoothness, size)) - 1) * smoothness
    t = np.abs(np.arange(size)[:, np.newaxis] - positions[np.newaxis, :]) / smoothness
    near, far = 2.0 / 3.0 - t**2 + t**3 / 2.0, (2.0 - t) ** 3 / 6.0
    return np.where(t < 1, near, np.where(t < 2, far, 0.0)).astype(np.float32)


def bilinear_sample(pixels: Any, x: Any, y: Any) -> Any:
    """uint8 pixels (N, H, W, 1) sampled at (x, y) (N, H, W), bilinearly, black outside -> float32.
    At whole-pixel coordinates every value is copied exactly."""
    height, width = pixels.shape[1], pixels.shape[2]
    # Two black pixels around each image: a corner outside the image reads black, and its right
    # and lower neighbours sit at fixed offsets in the flat array. Gathering uint8 moves a quarter
    # of the bytes (measured: about 2x faster than float32, or than one gather of 2x2 blocks).
    row = width + 4
    flat = ops.reshape(ops.pad(pixels[..., 0], [[0, 0], [2, 2], [2, 2]]), (-1,))
    left, top = ops.floor(x), ops.floor(y)
    position = ops.cast((ops.clip(top, -2, height) + 2) * row + ops.clip(left, -2, width) + 2, "int32")
    position += ops.reshape(ops.arange(ops.shape(pixels)[0], dtype="int32") * ((height + 4) * row), (-1, 1, 1))

    upper_left, upper_right, lower_left, lower_right = (
        ops.cast(ops.take(flat, position + offset), "float32") for offset in (0, 1, row, row + 1)
    )
    fx, fy = x - left, y - top
    upper = upper_left + fx * (upper_right - upper_left)
    lower = lower_left + fx * (lower_right - lower_left)
    return ops.expand_dims(upper + fy * (lower - upper), -1)


class Augment(keras.layers.Layer):
    """{"pixels": uint8 (N, H, W, 1), "draws": (N, draw_count)} -> float32 pixels, moved when training."""

    def __init__(
        self,
        max_shift: float,
        max_rotation: float,
        elastic_strength: float = 0.0,
        elastic_smoothness: float = 7.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_shift, self.max_rotation = max_shift, max_rotation
        self.elastic_strength, self.elastic_smoothness = elastic_strength, elastic_smoothness
        self.spline = bspline_weights(elastic_smoothness) if elastic_strength else None

    def call(self, inputs: dict[str, Any], training: bool = False) -> Any:
        pixels = inputs["pixels"]
        if not training or not (self.max_shift or self.max_rotation or self.elastic_strength):
            return ops.cast(pixels, "float32")
        draws = inputs["draws"]
        size = pixels.shape[1]
        centre = (size - 1.0) / 2.0
        column = ops.reshape(ops.arange(size, dtype="float32") - centre, (1, 1, size))
        row = ops.reshape(ops.arange(size, dtype="float32") - centre, (1, size, 1))
        angle = ops.reshape(draws[:, 0] * (self.max_rotation * math.pi / 180.0), (-1, 1, 1))
        shift_x = ops.reshape(draws[:, 1] * self.max_shift, (-1, 1, 1))
        shift_y = ops.reshape(draws[:, 2] * self.max_shift, (-1, 1, 1))
        cos, sin = ops.cos(angle), ops.sin(angle)
        # Each output pixel's source: rotated about the centre, then shifted (content moves by +shift).
        x = cos * column - sin * row + centre - shift_x
        y = sin * column + cos * row + centre - shift_y
        if self.spline is not None:
            points = self.spline.shape[1]
            control = ops.reshape(draws[:, AFFINE_DRAWS:], (-1, 2, points, points)) * self.elastic_strength
            spline = ops.convert_to_tensor(self.spline)
            field = ops.matmul(ops.matmul(spline, control), ops.transpose(spline))  # (N, 2, H, W)
            x, y = x + field[:, 0], y + field[:, 1]
        return bilinear_sample(pixels, x, y)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "max_shift": self.max_shift,
            "max_rotation": self.max_rotation,
            "elastic_strength": self.elastic_strength,
            "elastic_smoothness": self.elastic_smoothness,
        }
