"""A user's picture of a digit -> the 28x28 light-on-dark frame MNIST's digits come in.

MNIST's recipe: the digit's bounding box scaled to fit 20x20 (keeping its aspect ratio), then
placed in a 28x28 frame so its centre of mass is at the centre. A 28x28 picture is taken as
already framed that way (so a test digit saved to PNG gives exactly what the model saw in
`evaluate`); any other size goes through the recipe. Dark-on-light pictures are inverted.

Pictures come from outside, so they are opened with Pillow, which reads the header first: the
format, the pixel count and the number of frames are checked before any pixel is decoded, and
only the first frame is ever decoded. Memory stays bounded for any file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lenet5.data.splits import IMAGE_SIDE
from lenet5.errors import PipelineError

DIGIT_BOX = 20
INK_THRESHOLD = 0.1  # of the stretched 0..1 range: fainter pixels are paper, not ink
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 megapixels: more than any camera photo of a digit needs
MAX_FRAMES = 100  # an animation with more frames is not a picture of a digit
WORKING_SIZE = 1024  # larger pictures are reduced to this before framing (the digit ends up 20 px)


def open_checked(path: Path) -> Image.Image:
    """Open `path` as an image, its header checked against the limits; nothing decoded yet."""
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise PipelineError(f"{name}: cannot read ({error.strerror or error})") from None
    if not path.is_file():
        raise PipelineError(f"{name}: not a file")
    if size == 0:
        raise PipelineError(f"{name}: empty file, not an image")
    if size > MAX_FILE_BYTES:
        raise PipelineError(f"{name}: {size:,} bytes; a picture of a digit may be at most {MAX_FILE_BYTES:,}")
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our own, lower limit follows
    try:
        image = Image.open(path, formats=FORMATS)  # reads the header only
    except UnidentifiedImageError:
        raise PipelineError(f"{name}: not a readable image (one of {', '.join(FORMATS)} required)") from None
    except OSError as error:  # with an errno the system refused; without, Pillow found the file broken
        reason = f"cannot read ({error.strerror})" if error.strerror else f"not a readable image ({error})"
        raise PipelineError(f"{name}: {reason}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise PipelineError(f"{name}: {width}x{height} pixels; at most {MAX_PIXELS:,} pixels are read")
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_FRAMES:
        image.close()
        raise PipelineError(f"{name}: {frames} frames; an image with more than {MAX_FRAMES} is refused")
    return image


def read_grayscale(path: Path) -> np.ndarray:
    """The first frame as float32 (H, W) in [0, 1], at most WORKING_SIZE a side; transparency is paper."""
    name = str(path)
    with open_checked(path) as image:
        try:
            image.seek(0)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                paper = Image.new("RGBA", image.size, "white")
                gray = Image.alpha_composite(paper, image.convert("RGBA")).convert("L")
            else:
                gray = image.convert("L")
        except (OSError, ValueError, SyntaxError) as error:
            raise PipelineError(f"{name}: not a readable image ({error})") from None
    if max(gray.size) > WORKING_SIZE:
        gray.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32) / 255.0


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
    # BOX resampling averages the source pixels each target pixel covers (area interpolation).
    resized = Image.fromarray(box.astype(np.float32), mode="F").resize((size[1], size[0]), Image.Resampling.BOX)
    digit = np.asarray(resized, dtype=np.float32)
    # Place the digit so its centre of mass lands on the frame's centre, kept inside the frame.
    total = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(size[0])).sum() / total
    centre_col = (digit.sum(axis=0) * np.arange(size[1])).sum() / total
    top = int(np.clip(round(IMAGE_SIDE / 2 - centre_row), 0, IMAGE_SIDE - size[0]))
    left = int(np.clip(round(IMAGE_SIDE / 2 - centre_col), 0, IMAGE_SIDE - size[1]))
    frame = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    frame[top : top + size[0], left : left + size[1]] = np.clip(digit, 0.0, 1.0)
    return frame


def read_digit(path: Path) -> np.ndarray:
    """An image file -> (28, 28) uint8 light-on-dark, as MNIST's digits are stored."""
    gray = light_on_dark(read_grayscale(path))
    frame = gray if gray.shape == (IMAGE_SIDE, IMAGE_SIDE) else frame_like_mnist(gray, str(path))
    return np.round(frame * 255.0).astype(np.uint8)
