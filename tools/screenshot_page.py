"""README's picture of the page: a 7 drawn with the mouse on the built page, in headless Chromium.

The same set-up as the page tests (tools/browser.py: Debian's Chromium driven by Playwright, the
page served on 127.0.0.1 by tools/serve_page.py), so anyone can make it again after `make pipeline`:

    python -m tools.screenshot_page --folder web --out docs/images/page.png     (`make screenshot`)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.errors import PipelineError
from lenet5.process import run_command
from tools.browser import chromium_page, find_chromium
from tools.serve_page import serving

# A 7 as a hand draws it, in pad pixels (280 a side): the bar, then the stem, in two strokes.
SEVEN = (((70, 60), (210, 60)), ((210, 60), (185, 120), (160, 180), (140, 235)))


def draw(page: object, strokes: tuple[tuple[tuple[int, int], ...], ...]) -> None:
    box = page.locator("#digit-pad").bounding_box()  # type: ignore[attr-defined]
    scale = box["width"] / 280
    for stroke in strokes:
        (x, y), *rest = stroke
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)  # type: ignore[attr-defined]
        page.mouse.down()  # type: ignore[attr-defined]
        for x, y in rest:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=8)  # type: ignore[attr-defined]
        page.mouse.up()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("web"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    browser = find_chromium()
    if browser is None:
        raise PipelineError("no Chromium found; install it (Debian: apt-get install chromium; `make browser`)")
    with serving(args.folder) as url, chromium_page(browser, {"width": 1000, "height": 820}) as (page, log):
        page.goto(url)
        page.evaluate("window.lenet5.ready")
        draw(page, SEVEN)
        page.wait_for_function("window.lenet5.pending === 0 && window.lenet5.lastInput !== null")
        prediction = page.text_content("#prediction")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
    if log.errors or log.outside:
        raise PipelineError(f"the page reported {[*log.errors, *log.outside][:3]}")
    print(f"screenshot_page: {args.out} (the page read the 7 as {prediction})")


if __name__ == "__main__":
    run_command("screenshot_page", main)
