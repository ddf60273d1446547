"""Headless Chromium driven by Playwright, reporting what a person would see and what went wrong.

Playwright (the `playwright` package) drives an installed Chromium, found as $CHROMIUM or on the
PATH (Debian's `chromium` package; `make browser` installs it): it never downloads a browser of
its own. Every page opened here records its errors (uncaught exceptions, console.error, failed
requests, responses of 400 and above) and every request that would leave this machine, which is
refused. Used by the tests of the pages, the page's screenshot and the lab's page stage.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome")
# As root and offline: no sandbox (it needs a user namespace), no GPU, and none of Chromium's own
# background connections (updates, sync), which a closed network would refuse many times over.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def find_chromium() -> str | None:
    """$CHROMIUM if set (any Chromium-based browser, e.g. Google Chrome on macOS), else one on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@dataclass
class PageLog:
    """What went wrong on a page, and the requests it tried to send away from this machine."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("file", "data", "blob", "about") or parts.hostname in LOCAL_HOSTS


def watch(page: Any, log: PageLog) -> None:
    page.on("pageerror", lambda error: log.errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: message.type == "error" and log.errors.append(f"console: {message.text}"))
    page.on("requestfailed", lambda request: log.errors.append(f"failed: {request.url} ({request.failure})"))
    page.on(
        "response",
        lambda response: response.status >= 400 and log.errors.append(f"HTTP {response.status}: {response.url}"),
    )

    def refuse_outside(route: Any) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            log.outside.append(route.request.url)
            route.abort()

    page.route("**/*", refuse_outside)


@contextmanager
def chromium_page(executable: str, viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, PageLog]]:
    """A fresh page in a fresh headless Chromium, with its log; all closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS, headless=True)
        try:
            context = browser.new_context(viewport=viewport or {"width": 1000, "height": 800})
            page = context.new_page()
            log = PageLog()
            watch(page, log)
            yield page, log
        finally:
            browser.close()
