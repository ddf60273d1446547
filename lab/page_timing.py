"""The draw-a-digit page, measured: its weight, its first load, and a stroke's end to the prediction.

In headless Chromium (tools/browser.py) against the page served on 127.0.0.1 (tools/serve_page.py),
as a person uses it: each load in a fresh browser with nothing cached (the server sends no-store),
timed from navigation to the model compiled (`window.lenet5.ready`); each stroke drawn with the
mouse, timed inside the page from the stroke's end (pointerup) to the prediction on the page
(`window.lenet5.lastLatencyMs`: framing the drawing, the int8 model in LiteRT.js, the bars).
The weight is what a browser with relaxed SIMD downloads (the compat build is the fallback).
Agreement: the prepared test images, each through the page's hook (LiteRT.js) and through LiteRT
in Python (lenet5-predict's runtime) with the page's own int8 file, compared output by output.

    python -m lab.page_timing --folder web --out lab/results/page.json [--loads 5] [--strokes 30]
      [--test-images data/prepared/test_images.npy]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from lenet5.cpu import describe
from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command
from lenet5.serving.webpage import RUNTIME_PACKAGE, installed_version, page_weight
from tools.browser import chromium_page, find_chromium
from tools.screenshot_page import SEVEN, draw
from tools.serve_page import serving

READY = "window.lenet5.ready.then(() => performance.now())"
CLASSIFY = (
    "async (all) => { const rows = []; "
    "for (const pixels of all) rows.push(await window.lenet5.classifyPixels(pixels)); return rows; }"
)
CHUNK = 500  # images a call: what one page.evaluate carries as JSON stays a few MB
ANSWERED = "window.lenet5.pending === 0 && window.lenet5.lastInput !== null"


def agreement(page: Any, folder: Path, images: np.ndarray) -> dict[str, Any]:
    """The page's probabilities against Python's for the same int8 file and the same images."""
    from lenet5.serving.runtimes import open_tflite

    python = open_tflite(folder / "model.tflite").probabilities(images)
    browser = np.concatenate(
        [
            np.array(page.evaluate(CLASSIFY, [image.ravel().tolist() for image in images[at : at + CHUNK]]))
            for at in range(0, len(images), CHUNK)
        ]
    )
    difference = np.abs(browser - python)
    scale = json.loads((folder / "model.json").read_text())["output"]["scale"]
    return {
        "images": len(images),
        "output_step": scale,
        "max_difference": float(difference.max()),
        "outputs_differing": int((difference > scale / 2).sum()),
        "outputs": int(difference.size),
        "top_class_differing": int((browser.argmax(axis=1) != python.argmax(axis=1)).sum()),
    }


def measure(folder: Path, loads: int, strokes: int, test_images: Path) -> dict[str, Any]:
    browser = find_chromium()
    if browser is None:
        raise PipelineError("no Chromium found; install it (Debian: apt-get install chromium; `make browser`)")
    load_ms, stroke_ms = [], []
    with serving(folder) as url:
        for _ in range(loads):
            with chromium_page(browser) as (page, log):
                page.goto(url)
                load_ms.append(page.evaluate(READY))
                if "error" in (page.get_attribute("#status", "class") or ""):
                    raise PipelineError(f"the page did not load: {page.text_content('#status')}")
        with chromium_page(browser) as (page, log):
            page.goto(url)
            page.evaluate(READY)
            for _ in range(strokes):
                page.click("#clear")
                draw(page, SEVEN[:1])  # one stroke: the bar of a 7
                page.wait_for_function(ANSWERED)
                stroke_ms.append(page.evaluate("window.lenet5.lastLatencyMs"))
            agreed = agreement(page, folder, np.load(test_images))
        if log.errors or log.outside:
            raise PipelineError(f"the page reported {[*log.errors, *log.outside][:3]}")
    version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "machine": describe(),
        "browser": version,
        "runtime": f"{RUNTIME_PACKAGE} {installed_version(Path('node_modules/@litertjs'))}",
        "bytes": page_weight(folder),
        "first_load_ms": load_ms,
        "stroke_to_prediction_ms": stroke_ms,
        "agreement": agreed,
    }


def table(saved: dict[str, Any]) -> str:
    from lab.train_speed import describe_machine

    weight = saved["bytes"]
    loads, strokes = saved["first_load_ms"], saved["stroke_to_prediction_ms"]

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):,.0f} (median of {len(values)}; {min(values):,.0f}-{max(values):,.0f})"

    return "\n".join(
        [
            f"{describe_machine(saved['machine'])}; {saved['browser']}, headless; {saved['runtime']}; one run:",
            "",
            "| measure | value |",
            "| --- | ---: |",
            f"| JavaScript, bytes | {weight['javascript']:,} |",
            f"| WebAssembly, bytes | {weight['webassembly']:,} |",
            f"| the int8 model, bytes | {weight['model']:,} |",
            f"| HTML, CSS and model.json, bytes | {weight['other']:,} |",
            f"| first load from 127.0.0.1 to the model ready, ms | {spread(loads)} |",
            f"| a stroke's end to the prediction on the page, ms | {spread(strokes)} |",
            *agreement_rows(saved.get("agreement")),
        ]
    )


def agreement_rows(agreed: dict[str, Any] | None) -> list[str]:
    if agreed is None:
        return []
    step = agreed["output_step"]
    return [
        f"| {agreed['images']:,} test images, page against LiteRT in Python: largest difference, "
        f"in output steps of {step:.6f} | {agreed['max_difference'] / step:.0f} |",
        f"| outputs that differ, of {agreed['outputs']:,} | {agreed['outputs_differing']:,} |",
        f"| images whose top class differs | {agreed['top_class_differing']:,} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("web"))
    parser.add_argument("--out", type=Path, help="write the measurements to this JSON file")
    parser.add_argument("--table", type=Path, help="measure nothing: the table of this file")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--strokes", type=int, default=30)
    parser.add_argument("--test-images", type=Path, default=Path("data/prepared/test_images.npy"))
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    saved = measure(args.folder, args.loads, args.strokes, args.test_images)
    if args.out:
        write_json(args.out, saved)
    print(table(saved))


if __name__ == "__main__":
    run_command("lab.page_timing", main)
