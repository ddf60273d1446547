"""The draw-a-digit page the page stage builds, in a real browser: Debian's Chromium through Playwright.

The project here trains on digits framed as MNIST frames them (the font digits of the generated
data set, through lenet5/serving/digits.py's recipe), so a digit traced on the pad with the mouse, which
the page frames the same way, is one the model knows. The page is served on 127.0.0.1 by the
same server `make demo` runs; every request that would leave this machine is refused and fails
the test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from lenet5.serving.digits import frame_like_mnist
from tests.conftest import Chromium, Project, new_project, predict
from tests.mnist_fixture import render_digit_templates, write_idx_set
from tools.browser import chromium_page
from tools.describe_data import describe
from tools.serve_page import serving

AGREEMENT_DIGITS = 300  # test digits put on the page through its hook and through lenet5-predict
STEP = 1 / 256  # the int8 file's output step: the most two correct runs of it may differ by


def framed_templates() -> np.ndarray:
    """(10, 28, 28) uint8: each font digit framed as MNIST's digits (and the page's drawings) are."""
    return np.stack(
        [np.round(frame_like_mnist(t.astype(np.float32) / 255, "t") * 255) for t in render_digit_templates()]
    ).astype(np.uint8)


def framed_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    templates = framed_templates().astype(np.int16)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = np.empty((count, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        shifted = np.roll(templates[label], tuple(rng.integers(-1, 2, size=2)), axis=(0, 1))
        images[i] = np.clip(shifted + rng.integers(-20, 21, size=(28, 28)), 0, 255)
    return images, labels


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, mirror: Any) -> Iterator[tuple[Project, str]]:
    """A project trained on framed digits, its page built by `dvc repro`, served on 127.0.0.1."""
    project = new_project(tmp_path_factory, mirror)
    folder = tmp_path_factory.mktemp("framed")
    train, test = framed_digits(1200, seed=1), framed_digits(AGREEMENT_DIGITS, seed=2)
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    write_idx_set(folder, dict(zip(names, (*train, *test), strict=True)))
    sources = yaml.safe_load((project.path / "data/sources.yaml").read_text())
    sources["files"] = yaml.safe_load(describe(folder))["files"]
    (project.path / "data/sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    project.env["MNIST_MIRROR"] = str(folder)
    project.set_params("train", epochs=3)
    result = project.dvc("repro")
    assert "page: web/ (MNIST, 10 classes)" in result.stdout
    with serving(project.path / "web") as url:
        yield project, url


@pytest.fixture
def browser(chromium: Chromium) -> str:
    return chromium.executable


def wait_ready(page: Any) -> None:
    page.evaluate("window.lenet5.ready")


def answered(page: Any) -> None:
    """Until the page shows the prediction of the last stroke drawn."""
    page.wait_for_function("window.lenet5.pending === 0 && window.lenet5.lastInput !== null")


def trace(page: Any, frame: np.ndarray) -> None:
    """Draw a 28x28 frame on the pad with the mouse: one stroke along each run of ink in each row."""
    box = page.locator("#digit-pad").bounding_box()
    cell = box["width"] / 28
    for row in range(28):
        ink = np.flatnonzero(frame[row] > 127)
        runs = np.split(ink, np.flatnonzero(np.diff(ink) > 1) + 1) if ink.size else []
        for run in runs:
            y = box["y"] + (row + 0.5) * cell
            page.mouse.move(box["x"] + (run[0] + 0.5) * cell, y)
            page.mouse.down()
            page.mouse.move(box["x"] + (run[-1] + 0.5) * cell, y, steps=max(2, len(run)))
            page.mouse.up()


def test_digits_drawn_with_the_mouse_are_read_as_the_digits_they_draw(site: tuple[Project, str], browser: str) -> None:
    _, url = site
    with chromium_page(browser) as (page, log):
        page.goto(url)
        wait_ready(page)
        assert page.text_content("#status") == "Draw a digit"
        for digit, frame in enumerate(framed_templates()):
            page.click("#clear")
            trace(page, frame)
            answered(page)
            assert page.text_content("#prediction").startswith(f"{digit} ("), digit
        bars = page.locator("#bars li").count()
        shown = page.evaluate("Array.from(window.lenet5.lastInput)")
    assert bars == 10 and len(shown) == 28 * 28
    assert log.errors == [] and log.outside == []


def test_the_page_frames_a_drawing_as_lenet5_predict_does(
    site: tuple[Project, str], browser: str, tmp_path: Path
) -> None:
    """The pad saved as a PNG and read by lenet5-predict: the same 28x28 frame, the same answer."""
    project, url = site
    with chromium_page(browser) as (page, log):
        page.goto(url)
        wait_ready(page)
        trace(page, np.rot90(framed_templates()[4]))  # a shape of its own, off-centre after framing
        answered(page)
        drawn = page.evaluate("document.getElementById('digit-pad').toDataURL('image/png')")
        seen = np.array(page.evaluate("Array.from(window.lenet5.lastInput)"), np.uint8).reshape(28, 28)
        probabilities = page.evaluate("window.lenet5.lastProbabilities")
    picture = tmp_path / "drawn.png"
    picture.write_bytes(base64.b64decode(drawn.split(",", 1)[1]))
    from lenet5.serving.digits import read_digit

    np.testing.assert_array_equal(seen, read_digit(picture))
    answer = json.loads(predict(project, "--json", "--model", "models/lenet5_int8.tflite", picture).stdout)[0]
    assert np.max(np.abs(np.array(probabilities) - answer["probabilities"])) <= STEP + 1e-6
    assert log.errors == [] and log.outside == []


def test_the_page_gives_lenet5_predicts_probabilities_for_test_digits(
    site: tuple[Project, str], browser: str, tmp_path: Path
) -> None:
    """Test digits saved as 28x28 PNGs, through the page's hook and through lenet5-predict with the
    same int8 file: LiteRT.js (XNNPack in WebAssembly) and LiteRT in Python agree to one output step."""
    project, url = site
    images = np.load(project.path / "data/prepared/test_images.npy")[:AGREEMENT_DIGITS]
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(files[-1])
    python = json.loads(predict(project, "--json", "--model", "models/lenet5_int8.tflite", *files).stdout)
    with chromium_page(browser) as (page, log):
        page.goto(url)
        wait_ready(page)
        browser_rows = page.evaluate(
            "async (all) => { const rows = []; "
            "for (const pixels of all) rows.push(await window.lenet5.classifyPixels(pixels)); return rows; }",
            [image.ravel().tolist() for image in images],
        )
    difference = np.abs(np.array(browser_rows) - np.array([answer["probabilities"] for answer in python]))
    assert difference.max() <= STEP + 1e-6, difference.max()
    assert [int(np.argmax(row)) for row in browser_rows] == [answer["class"] for answer in python]
    assert log.errors == [] and log.outside == []


def test_clearing_empties_the_pad_and_the_prediction(site: tuple[Project, str], browser: str) -> None:
    _, url = site
    with chromium_page(browser) as (page, log):
        page.goto(url)
        wait_ready(page)
        for clear in (lambda: page.click("#clear"), lambda: page.keyboard.press("Escape")):
            trace(page, framed_templates()[1])
            answered(page)
            assert page.text_content("#prediction") != ""
            clear()
            assert page.text_content("#prediction") == ""
            assert page.text_content("#status") == "Draw a digit"
            ink = page.evaluate(
                "Array.from(document.getElementById('digit-pad').getContext('2d').getImageData(0, 0, 280, 280).data)"
                ".some((v, i) => i % 4 !== 3 && v > 0)"
            )
            assert not ink
    assert log.errors == [] and log.outside == []


def test_a_model_that_fails_to_load_says_so_in_one_line(site: tuple[Project, str], browser: str) -> None:
    _, url = site
    with chromium_page(browser) as (page, log):
        page.route("**/model.tflite", lambda route: route.fulfill(status=404, body="not here"))
        page.goto(url)
        wait_ready(page)
        status = page.text_content("#status")
        assert page.get_attribute("#status", "class") == "error"
    assert status.startswith("The model could not be loaded (") and "\n" not in status, status
    assert log.outside == []


def test_a_browser_without_webassembly_is_told_so(site: tuple[Project, str], browser: str) -> None:
    _, url = site
    with chromium_page(browser) as (page, log):
        page.add_init_script("delete globalThis.WebAssembly")
        page.goto(url)
        wait_ready(page)
        status = page.text_content("#status")
    assert status == "This browser has no WebAssembly, which the model needs to run here."
    assert log.errors == [] and log.outside == []


def test_a_request_leaving_the_machine_is_refused_and_seen(browser: str, tmp_path: Path) -> None:
    """The check every page test makes can fail: a page that asks another host is caught."""
    page_file = tmp_path / "index.html"
    page_file.write_text('<img src="https://example.com/x.png"><script>console.error("drawn wrong")</script>')
    with serving(tmp_path) as url, chromium_page(browser) as (page, log):
        page.goto(url)
        page.wait_for_timeout(500)
    assert log.outside == ["https://example.com/x.png"]
    assert "console: drawn wrong" in log.errors
