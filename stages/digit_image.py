"""A user's picture of a digit -> the 28x28 light-on-dark frame MNIST's digits come in.

MNIST's recipe: the digit's bounding box scaled to fit 20x20 (keeping its aspect ratio), then
placed in a 28x28 frame so its centre of mass is at the centre. A 28x28 picture is taken as
already framed that way (so a test digit saved to PNG gives exactly what the model saw in
`evaluate`); any other size goes through the recipe. Dark-on-light pictures are inverted.
"""

from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

from stages.errors import PipelineError

MNIST_SIZE = 28
DIGIT_BOX = 20
INK_THRESHOLD = 0.1  # of the stretched 0..1 range: fainter pixels are paper, not ink


def decode_grayscale(data: bytes, name: str) -> np.ndarray:
    """PNG/JPEG/GIF/BMP bytes -> float32 (H, W) in [0, 1]; transparency shows as white paper."""
    if not data:
        raise PipelineError(f"{name}: empty file, not an image")
    try:
        image = tf.io.decode_image(data, expand_animations=False).numpy().astype(np.float32) / 255.0
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        # TensorFlow wraps the decoder's reason in op names: keep the reason alone.
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "", str(error)).strip() or type(error).__name__
        raise PipelineError(f"{name}: not a readable image ({reason})") from None
    channels = image.shape[-1]
    color, alpha = (image[..., :-1], image[..., -1:]) if channels in (2, 4) else (image, None)
    gray = color.mean(axis=-1, keepdims=True)
    if alpha is not None:
        gray = gray * alpha + (1.0 - alpha)
    return gray[..., 0]


def light_on_dark(gray: np.ndarray) -> np.ndarray:
    """Invert when the border (the paper) is brighter than mid-grey, as in a scan or photo."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 1.0 - gray if np.median(border) > 0.5 else gray


def frame_like_mnist(ink: np.ndarray, name: str) -> np.ndarray:
    """Light-on-dark (H, W) in [0, 1] of any size -> (28, 28) float32 framed by MNIST's recipe."""
    background, peak = float(np.median(ink)), float(ink.max())
    if peak - background < INK_THRESHOLD:
        raise PipelineError(f"{name}: blank image, no digit to read")
    stretched = np.clip((ink - background) / (peak - background), 0.0, 1.0)
    rows, cols = np.nonzero(stretched > INK_THRESHOLD)
    box = stretched[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = DIGIT_BOX / max(box.shape)
    size = (max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale)))
    digit = tf.image.resize(box[..., np.newaxis], size, method="area", antialias=True).numpy()[..., 0]
    # Place the digit so its centre of mass lands on the frame's centre, kept inside the frame.
    total = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(size[0])).sum() / total
    centre_col = (digit.sum(axis=0) * np.arange(size[1])).sum() / total
    top = int(np.clip(round(MNIST_SIZE / 2 - centre_row), 0, MNIST_SIZE - size[0]))
    left = int(np.clip(round(MNIST_SIZE / 2 - centre_col), 0, MNIST_SIZE - size[1]))
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    frame[top : top + size[0], left : left + size[1]] = np.clip(digit, 0.0, 1.0)
    return frame


def to_mnist_uint8(data: bytes, name: str) -> np.ndarray:
    """Image file bytes -> (28, 28) uint8 light-on-dark, ready for `pad_and_scale`."""
    gray = light_on_dark(decode_grayscale(data, name))
    frame = gray if gray.shape == (MNIST_SIZE, MNIST_SIZE) else frame_like_mnist(gray, name)
    return np.round(frame * 255.0).astype(np.uint8)
