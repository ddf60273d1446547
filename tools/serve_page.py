"""Serve the draw-a-digit page (the page stage's web/ folder) on 127.0.0.1, and print its URL.

A plain static server, as any host would be: files as they are, WebAssembly as application/wasm
(so the browser compiles it while it downloads), nothing cached, requests not logged. Ctrl-C stops it.

    python -m tools.serve_page [--folder web] [--port 8000]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from lenet5.errors import PipelineError
from lenet5.process import run_command

TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".json": "application/json",
    ".tflite": "application/octet-stream",
}


class PageHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def server(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    if not (folder / "index.html").is_file():
        raise PipelineError(f"{folder}: no page there; `dvc repro page` (or `make pipeline`) builds it")
    handler = functools.partial(PageHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise PipelineError(f"127.0.0.1:{port}: cannot serve there ({error.strerror}); pass another --port") from None


@contextmanager
def serving(folder: Path, port: int = 0) -> Iterator[str]:
    """The page served in a background thread for the block; its base URL."""
    running = server(folder, port)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{running.server_address[1]}/"
    finally:
        running.shutdown()
        running.server_close()
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("web"))
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    running = server(args.folder, args.port)
    print(f"Serving {args.folder}/ at http://127.0.0.1:{running.server_address[1]}/ (Ctrl-C stops it)", flush=True)
    try:
        running.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        running.server_close()


if __name__ == "__main__":
    run_command("serve_page", main)
