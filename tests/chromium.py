"""Open a page in headless Chromium and report what a person would see: drawn charts and errors.

Speaks the DevTools protocol over `--remote-debugging-pipe` (JSON messages ending in a NUL byte,
commands in on fd 3, replies and events out on fd 4), so it needs no extra Python package.
Errors collected: uncaught exceptions, console.error calls, and log entries of level "error"
(which include resources that failed to load, such as a missing image or a blocked script).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser")


def find_chromium() -> str | None:
    """$CHROMIUM if set (any Chromium-based browser, e.g. Google Chrome on macOS), else one on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@dataclass
class PageReport:
    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class HeadlessChromium:
    def __init__(self, executable: str, profile: Path) -> None:
        command_read, self._command_write = os.pipe()
        self._event_read, event_write = os.pipe()
        # bash puts the two pipe ends on fds 3 and 4, where Chromium expects them.
        shell = f'exec "$0" "$@" 3<&{command_read} 4>&{event_write}'
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", f"--user-data-dir={profile}"]
        self.process = subprocess.Popen(
            ["bash", "-c", shell, executable, *flags, "about:blank"],
            pass_fds=(command_read, event_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(command_read)
        os.close(event_write)
        self._buffer, self._next_id, self._events = b"", 0, []

    def close(self) -> None:
        os.close(self._command_write)
        os.close(self._event_read)
        self.process.terminate()
        self.process.wait(timeout=30)

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._event_read], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self._event_read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply; events seen meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._command_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            reply = self._receive(left)
            if reply is None:
                break
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)
        raise TimeoutError(f"no reply to {method} within {timeout} s")

    def collect_events(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            event = self._receive(left)
            if event is None:
                return
            self._events.append(event)

    def open(self, url: str, expressions: dict[str, str], settle_seconds: float = 3.0) -> PageReport:
        """Load `url`, let its scripts run, then evaluate each JavaScript expression in the page."""
        self._events = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session)
        self.send("Page.navigate", session, url=url)
        self.collect_events(settle_seconds)
        report = PageReport()
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                report.errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                report.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                report.errors.append(f"{entry['text']} {entry.get('url', '')}".strip())
        for name, expression in expressions.items():
            result = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
            report.values[name] = result["result"].get("value")
        return report
