"""The `lenet5-predict` command on test digits saved as pictures, on broken files and on hostile ones."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet5.errors import PipelineError
from lenet5.serving.digits import MAX_FILE_BYTES, frame_like_mnist, read_digit, read_grayscale
from tests.conftest import (
    COUNT,
    HANG_GUARD_SECONDS,
    PREDICT,
    Project,
    first_test_digits,
    needs_memory_limits,
    predict,
    save_png,
)
from tests.hostile import png_of_size

HOSTILE_PICTURE_CAP_MB = 256  # below what decoding the hostile picture needs (400 MB)


def test_saved_test_digits_get_the_evaluate_stage_predictions(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    files = [save_png(tmp_path / f"digit{i}.png", image) for i, image in enumerate(images)]
    result = predict(trained_project, "--json", *files)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [answer["file"] for answer in answers] == [str(file) for file in files]
    assert [answer["class"] for answer in answers] == predicted.tolist()
    for answer in answers:
        assert answer["probability"] == max(answer["probabilities"])
        assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-4)


def test_any_size_and_either_polarity_read_like_the_original(trained_project: Project, tmp_path: Path) -> None:
    """A big dark-on-light colour JPEG of a digit reads as the same digit framed by MNIST's recipe."""
    images, _ = first_test_digits(trained_project)
    photos, framed = [], []
    for i, noisy in enumerate(images):
        image = np.where(noisy > 64, noisy, 0).astype(np.uint8)  # clean paper: the test set's noise removed
        # Dark ink on white paper, three times the size, off-centre, in colour, as JPEG.
        paper = np.full((110, 130), 255, np.uint8)
        big = np.asarray(Image.fromarray(image).resize((84, 84), Image.Resampling.NEAREST))
        paper[20:104, 40:124] = 255 - big
        photos.append(tmp_path / f"photo{i}.jpg")
        Image.fromarray(np.repeat(paper[..., np.newaxis], 3, axis=-1)).save(photos[-1], format="JPEG", quality=95)
        frame = np.round(frame_like_mnist(image / 255.0, "original") * 255).astype(np.uint8)
        framed.append(save_png(tmp_path / f"framed{i}.png", frame))
        converted = read_digit(photos[-1]).astype(float)
        # The same picture, give or take JPEG, resampling, and a pixel of centring after rounding.
        shifts = [(rows, cols) for rows in (-1, 0, 1) for cols in (-1, 0, 1)]
        assert min(np.abs(np.roll(converted, shift, (0, 1)) - frame).mean() for shift in shifts) < 13, i
    result = predict(trained_project, "--json", *photos, *framed)
    assert result.returncode == 0, result.stderr
    digits = np.array([answer["class"] for answer in json.loads(result.stdout)])
    # The test model saw one epoch of rendered digits, so a few borderline pictures may flip.
    assert (digits[:COUNT] == digits[COUNT:]).mean() >= 0.8, digits


def test_bad_files_are_named_and_the_good_ones_still_classified(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    good = save_png(tmp_path / "good.png", images[0])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:20])
    missing = tmp_path / "missing.png"
    result = predict(trained_project, empty, good, text, tmp_path, truncated, missing)
    assert result.returncode == 2
    # The one readable picture is classified, its probability printed to four places (0.1 to 1).
    assert re.fullmatch(
        rf"{re.escape(str(good))}: {predicted[0]} \(probability (0\.\d{{4}}|1\.0000)\)\n", result.stdout
    )
    assert float(result.stdout.split()[-1].rstrip(")")) > 0.1
    errors = [line for line in result.stderr.splitlines() if line.startswith("lenet5-predict: error:")]
    assert len(errors) == 5, result.stderr
    assert errors[:3] + errors[4:] == [
        f"lenet5-predict: error: {empty}: empty file, not an image",
        f"lenet5-predict: error: {text}: not a readable image (one of PNG, JPEG, GIF, BMP, WEBP required)",
        f"lenet5-predict: error: {tmp_path}: not a file",
        f"lenet5-predict: error: {missing}: cannot read (No such file or directory)",
    ]
    # Pillow's own words for the truncated file follow in brackets; they vary between its versions.
    assert errors[3].startswith(f"lenet5-predict: error: {truncated}: not a readable image (")


def test_json_output_keeps_the_errors_in_order(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    good = save_png(tmp_path / "good.png", images[1])
    result = predict(trained_project, "--json", tmp_path / "missing.png", good)
    assert result.returncode == 2
    answers = json.loads(result.stdout)
    missing = tmp_path / "missing.png"
    assert answers[0] == {"file": str(missing), "error": f"{missing}: cannot read (No such file or directory)"}
    assert answers[1]["class"] == predicted[1]


def test_a_missing_model_is_named(trained_project: Project, tmp_path: Path) -> None:
    images, _ = first_test_digits(trained_project)
    good = save_png(tmp_path / "good.png", images[0])
    result = predict(trained_project, "--model", tmp_path / "nope.keras", good)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"lenet5-predict: error: {tmp_path / 'nope.keras'}: no trained model there; pass --model PATH "
        "(or set LENET5_MODEL), or run `dvc repro` / `dvc pull` in the project"
    ]


def test_the_model_defaults_to_lenet5_model_from_the_environment(trained_project: Project, tmp_path: Path) -> None:
    """Without --model, $LENET5_MODEL names the model (here the int8 file, from a folder with no
    models/ of its own): the same answers as naming it with --model."""
    images, _ = first_test_digits(trained_project)
    digit = save_png(tmp_path / "digit.png", images[1])
    model = trained_project.path / "models/lenet5_int8.tflite"
    named = predict(trained_project, "--json", "--model", model, digit, cwd=tmp_path)
    env = {**trained_project.env, "LENET5_MODEL": str(model)}
    from_env = subprocess.run(
        [str(PREDICT), "--json", str(digit)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert named.returncode == from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout) == json.loads(named.stdout)
    missing = subprocess.run(
        [str(PREDICT), str(digit)], cwd=tmp_path, env={**env, "LENET5_MODEL": str(tmp_path / "gone.keras")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert missing.returncode == 2 and f"{tmp_path / 'gone.keras'}: no trained model there" in missing.stderr


def test_works_from_any_folder_and_answers_help_at_once(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    save_png(tmp_path / "digit.png", images[2])
    model = trained_project.path / "models/lenet5.keras"
    result = predict(trained_project, "--model", model, "digit.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"digit.png: {predicted[2]} (probability ")
    # `--help` at once: the command's own main, asked at exit whether TensorFlow was ever imported.
    probe = (
        "import atexit, sys; atexit.register(lambda: print(sorted({'tensorflow', 'keras', 'ai_edge_litert'} & "
        "set(sys.modules)), file=sys.stderr)); sys.argv = ['lenet5-predict', '--help']; "
        "from lenet5.serving.predict import main; main()"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=trained_project.env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: lenet5-predict")
    assert shown.stderr == "[]\n"  # no model runtime was imported
    # docs/predict.md: a .tflite file never imports TensorFlow (or Keras), only LiteRT's interpreter.
    int8 = trained_project.path / "models/lenet5_int8.tflite"
    probe = probe.replace("['lenet5-predict', '--help']", f"['lenet5-predict', '--model', {str(int8)!r}, 'digit.png']")
    classified = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=trained_project.env, capture_output=True, text=True, timeout=60
    )
    assert classified.returncode == 0 and classified.stdout.startswith("digit.png: "), classified.stderr
    assert classified.stderr.splitlines()[-1] == "['ai_edge_litert']"


@needs_memory_limits
def test_hostile_images_are_refused_in_bounded_memory(trained_project: Project, tmp_path: Path) -> None:
    """A 20000x20000 PNG (400 megapixels in about 400 KB) and a 200-frame GIF, each refused unread."""
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_of_size(20_000, 20_000))
    frames = [Image.new("L", (8, 8), value) for value in range(200)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    gif = tmp_path / "flipbook.gif"
    gif.write_bytes(animated.getvalue())
    started = time.monotonic()
    # Decoding the PNG would take 400 MB (20000 x 20000 one-byte pixels); refusing it takes under
    # 192 MB of address space (measured), so a cap between the two fails if the check moves later.
    result = predict(trained_project, huge, gif, memory_mb=HOSTILE_PICTURE_CAP_MB)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"lenet5-predict: error: {huge}: 20000x20000 pixels; at most 40,000,000 pixels are read",
        f"lenet5-predict: error: {gif}: 200 frames; an image with more than 100 is refused",
    ]
    assert time.monotonic() - started < HANG_GUARD_SECONDS


def test_framing_centres_the_digit_and_fits_it_in_20_pixels() -> None:
    canvas = np.zeros((200, 100), np.float32)
    canvas[10:90, 60:80] = 1.0  # a tall bar in the top-right corner
    frame = frame_like_mnist(canvas, "bar")
    rows, cols = np.nonzero(frame > 0.1)
    assert rows.max() - rows.min() + 1 == 20
    assert cols.max() - cols.min() + 1 == 5
    centre = (np.array(np.nonzero(frame)) * frame[np.nonzero(frame)]).sum(axis=1) / frame.sum()
    assert np.abs(centre - 13.5).max() <= 1.0


def test_transparent_png_reads_as_ink_on_white_paper(tmp_path: Path) -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22] = (0, 0, 0, 255)  # opaque black stroke; the rest is transparent black
    frame = read_digit(save_png(tmp_path / "stroke.png", rgba))
    assert frame.shape == (28, 28)
    assert frame[14, 14] > 200 and frame[0, 0] == 0


def test_a_blank_picture_is_refused(tmp_path: Path) -> None:
    white = save_png(tmp_path / "white.png", np.full((30, 30), 255, np.uint8))
    with pytest.raises(PipelineError, match=r"white.png: blank image, no digit to read$"):
        read_digit(white)


def test_a_picture_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    """One byte over 50 MB on disk (a sparse file: it takes no space), refused by its size alone."""
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(
        PipelineError, match=rf"big.png: {MAX_FILE_BYTES + 1:,} bytes; a picture of a digit may be at most"
    ):
        read_digit(big)


def test_only_the_first_frame_of_an_animation_is_read(tmp_path: Path) -> None:
    """A two-frame GIF: a bar on the left, then one on the right. What is read is the first."""
    left, right = np.zeros((28, 28), np.uint8), np.zeros((28, 28), np.uint8)
    left[4:24, 5:9], right[4:24, 19:23] = 255, 255
    frames = [Image.fromarray(left), Image.fromarray(right)]
    gif = tmp_path / "two.gif"
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert np.array_equal(read_grayscale(gif), left / 255.0)
