"""`python -m stages.predict` on test digits saved as pictures, and on files that are not pictures."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from stages.digit_image import frame_like_mnist, to_mnist_uint8
from stages.errors import PipelineError
from tests.conftest import Project

COUNT = 30


def first_test_digits(project: Project) -> tuple[np.ndarray, np.ndarray]:
    """The first test digits as the uint8 28x28 frames MNIST ships, and what `evaluate` predicted."""
    images = np.load(project.path / "data/prepared/test_images.npy")[:COUNT, 2:30, 2:30, 0]
    with (project.path / "metrics/predictions.csv").open() as file:
        predicted = np.array([int(row["predicted"]) for row in csv.DictReader(file)][:COUNT])
    return np.round(images * 255).astype(np.uint8), predicted


def save_png(path: Path, image: np.ndarray) -> Path:
    path.write_bytes(tf.io.encode_png(image).numpy())
    return path


def predict(project: Project, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stages.predict", *map(str, args)]
    return subprocess.run(command, cwd=project.path, env=project.env, capture_output=True, text=True, timeout=300)


def test_saved_test_digits_get_the_evaluate_stage_predictions(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    files = [save_png(tmp_path / f"digit{i}.png", image[..., np.newaxis]) for i, image in enumerate(images)]
    result = predict(trained_project, "--json", *files)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [answer["file"] for answer in answers] == [str(file) for file in files]
    assert [answer["digit"] for answer in answers] == predicted.tolist()
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
        big = tf.image.resize(image[..., np.newaxis], (84, 84)).numpy()[..., 0]
        paper[20:104, 40:124] = 255 - np.clip(big, 0, 255).astype(np.uint8)
        photos.append(tmp_path / f"photo{i}.jpg")
        photos[-1].write_bytes(tf.io.encode_jpeg(np.repeat(paper[..., np.newaxis], 3, axis=-1), quality=95).numpy())
        frame = np.round(frame_like_mnist(image / 255.0, "original") * 255).astype(np.uint8)
        framed.append(save_png(tmp_path / f"framed{i}.png", frame[..., np.newaxis]))
        converted = to_mnist_uint8(photos[-1].read_bytes(), "photo").astype(float)
        assert np.abs(converted - frame).mean() < 12, i  # the same picture, give or take JPEG and resampling
    result = predict(trained_project, "--json", *photos, *framed)
    assert result.returncode == 0, result.stderr
    digits = np.array([answer["digit"] for answer in json.loads(result.stdout)])
    assert (digits[:COUNT] == digits[COUNT:]).mean() >= 0.9, digits


def test_bad_files_are_named_and_the_good_ones_still_classified(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    good = save_png(tmp_path / "good.png", images[0][..., np.newaxis])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:20])
    missing = tmp_path / "missing.png"
    result = predict(trained_project, empty, good, text, tmp_path, truncated, missing)
    assert result.returncode == 2
    assert result.stdout.splitlines() == [f"{good}: {predicted[0]} (probability {result.stdout.split()[-1]}"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("predict: error:")]
    assert errors == [
        f"predict: error: {empty}: empty file, not an image",
        f"predict: error: {text}: not a readable image (Unknown image file format. {errors[1].split('format. ')[-1]}",
        f"predict: error: {tmp_path}: cannot read (Is a directory)",
        errors[3],
        f"predict: error: {missing}: cannot read (No such file or directory)",
    ]
    assert errors[3].startswith(f"predict: error: {truncated}: not a readable image (")


def test_json_output_keeps_the_errors_in_order(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    good = save_png(tmp_path / "good.png", images[1][..., np.newaxis])
    result = predict(trained_project, "--json", tmp_path / "missing.png", good)
    assert result.returncode == 2
    answers = json.loads(result.stdout)
    missing = tmp_path / "missing.png"
    assert answers[0] == {"file": str(missing), "error": f"{missing}: cannot read (No such file or directory)"}
    assert answers[1]["digit"] == predicted[1]


def test_a_missing_model_is_named(trained_project: Project, tmp_path: Path) -> None:
    images, _ = first_test_digits(trained_project)
    good = save_png(tmp_path / "good.png", images[0][..., np.newaxis])
    result = predict(trained_project, "--model", tmp_path / "nope.keras", good)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"predict: error: {tmp_path / 'nope.keras'}: missing; run `dvc repro` (or `dvc pull`) to get the trained model"
    )


def test_framing_centres_the_digit_and_fits_it_in_20_pixels() -> None:
    canvas = np.zeros((200, 100), np.float32)
    canvas[10:90, 60:80] = 1.0  # a tall bar in the top-right corner
    frame = frame_like_mnist(canvas, "bar")
    rows, cols = np.nonzero(frame > 0.1)
    assert rows.max() - rows.min() + 1 == 20
    assert cols.max() - cols.min() + 1 == 5
    centre = (np.array(np.nonzero(frame)) * frame[np.nonzero(frame)]).sum(axis=1) / frame.sum()
    assert np.abs(centre - 13.5).max() <= 1.0


def test_transparent_png_reads_as_ink_on_white_paper() -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22] = (0, 0, 0, 255)  # opaque black stroke; the rest is transparent black
    frame = to_mnist_uint8(tf.io.encode_png(rgba).numpy(), "stroke.png")
    assert frame.shape == (28, 28)
    assert frame[14, 14] > 200 and frame[0, 0] == 0


def test_a_blank_picture_is_refused() -> None:
    white = np.full((30, 30, 1), 255, np.uint8)
    with pytest.raises(PipelineError, match=r"^white.png: blank image, no digit to read$"):
        to_mnist_uint8(tf.io.encode_png(white).numpy(), "white.png")
