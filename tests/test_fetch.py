"""Fetching MNIST: checksums, local mirrors, HTTP mirrors that fail, and nothing partial left."""

from __future__ import annotations

import gzip
import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages.errors import PipelineError
from stages.fetch import fetch_verified, list_sources
from tests.conftest import ROOT, run_env, small_params, write_params

NAME = "train-labels-idx1-ubyte"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """/good/ serves the files of `folder`; /html/ answers every request with an HTML page."""

    folder: Path

    def do_GET(self) -> None:
        prefix, _, filename = self.path.strip("/").partition("/")
        path = self.folder / filename
        if prefix == "good" and path.is_file():
            body, status = path.read_bytes(), 200
        elif prefix == "html":
            body, status = b"<html><body>Please log in</body></html>", 200
        else:
            body, status = b"not found", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_mirror(mirror: tuple[Path, dict[str, str]]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving the generated mirror; stopped after the test."""
    handler = type("Handler", (MirrorHandler,), {"folder": mirror[0]})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_local_mirror_copy_is_verified(mirror: tuple[Path, dict[str, str]]) -> None:
    folder, hashes = mirror
    data = fetch_verified(NAME, hashes[NAME], [str(folder)], timeout=5)
    assert data == (folder / f"{NAME}.gz").read_bytes()


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> None:
    hashes = mirror[1]
    (tmp_path / f"{NAME}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05"))
    with pytest.raises(PipelineError) as error:
        fetch_verified(NAME, hashes[NAME], [str(tmp_path)], timeout=5)
    message = str(error.value)
    assert message.startswith(f"{NAME}.gz: no valid copy found")
    assert f"expected {hashes[NAME]}" in message and "SHA-256 of decompressed" in message


def test_http_mirror_and_fallback_after_failures(http_mirror: str, mirror: tuple[Path, dict[str, str]]) -> None:
    hashes = mirror[1]
    sources = [closed_port_url(), f"{http_mirror}/missing/", f"{http_mirror}/html/", f"{http_mirror}/good/"]
    assert gzip.decompress(fetch_verified(NAME, hashes[NAME], sources, timeout=5))[:4] == b"\x00\x00\x08\x01"


def test_every_source_failing_says_why_for_each(http_mirror: str, mirror: tuple[Path, dict[str, str]]) -> None:
    dead = closed_port_url()
    sources = [dead, f"{http_mirror}/missing/", f"{http_mirror}/html/"]
    with pytest.raises(PipelineError) as error:
        fetch_verified(NAME, mirror[1][NAME], sources, timeout=5)
    message = str(error.value)
    assert "\n" not in message
    assert f"{dead}: unreachable" in message
    assert f"{http_mirror}/missing/: HTTP 404" in message
    assert f"{http_mirror}/html/: {NAME}.gz: not a valid gzip file" in message


def test_no_source_at_all() -> None:
    with pytest.raises(PipelineError, match="no source; set MNIST_MIRROR or list fetch.mirrors"):
        fetch_verified(NAME, "0" * 64, [], timeout=5)


def test_mirror_env_comes_first_and_is_made_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MIRROR", "some/folder")
    assert list_sources(["https://example.org/"]) == [str(Path("some/folder").resolve()), "https://example.org/"]
    monkeypatch.setenv("MNIST_MIRROR", "https://mirror.local/mnist/")
    assert list_sources([]) == ["https://mirror.local/mnist/"]
    monkeypatch.delenv("MNIST_MIRROR")
    assert list_sources(["https://example.org/"]) == ["https://example.org/"]


def test_failed_fetch_leaves_no_file_and_exits_nonzero(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> None:
    folder, hashes = mirror
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in hashes:  # three good files, then one whose payload is not the expected one
        (bad / f"{name}.gz").write_bytes((folder / f"{name}.gz").read_bytes())
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"another data set"))
    project = tmp_path / "project"
    project.mkdir()
    write_params(project, small_params(hashes))
    env = run_env(bad) | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "stages.fetch", "--out", "raw"], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("fetch: error: t10k-labels-idx1-ubyte.gz: no valid copy")
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (project / "raw").iterdir()) == sorted(f"{n}.gz" for n in list(hashes)[:3])
