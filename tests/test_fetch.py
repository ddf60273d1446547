"""Fetching MNIST: checksums, mirrors that fail or attack, bounded memory and time, nothing partial left."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lenet5.data.download import fetch_verified, list_sources
from lenet5.data.sources import DataFile
from lenet5.errors import PipelineError
from tests.conftest import ROOT, Mirror, memory_limit, needs_memory_limits, run_env, write_sources

NAME = "train-labels-idx1-ubyte"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """/good/ serves `folder`; the other prefixes misbehave the ways a broken or hostile server can."""

    folder: Path
    protocol_version = "HTTP/1.0"  # no Content-Length needed: the body ends when the connection closes

    def do_GET(self) -> None:
        prefix, _, filename = self.path.strip("/").partition("/")
        path = self.folder / filename
        if prefix == "good" and path.is_file():
            self.reply(200, path.read_bytes())
        elif prefix == "html":
            self.reply(200, b"<html><body>Please log in</body></html>")
        elif prefix == "liar":  # claims a small body, then never stops sending
            self.send_response(200)
            self.end_headers()
            for _ in range(2000):  # 2 GB at most: the client must hang up long before
                self.wfile.write(bytes(1 << 20))
        elif prefix == "stall":  # headers, then silence
            self.send_response(200)
            self.end_headers()
            time.sleep(3)
        elif prefix == "drip":  # a byte now and then: never stalls, never finishes
            self.send_response(200)
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"\x1f")
                self.wfile.flush()
                time.sleep(0.1)
        elif prefix == "redirect":
            self.send_response(302)
            self.send_header("Location", f"ftp://127.0.0.1/{filename}")
            self.end_headers()
        else:
            self.reply(404, b"not found")

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client hung up, as it should
            super().handle()


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


def expected(mirror: Mirror, name: str = NAME) -> DataFile:
    return DataFile(name, **mirror[1][name])


def test_local_mirror_copy_is_verified(tmp_path: Path, mirror: Mirror) -> None:
    folder = mirror[0]
    size = fetch_verified(expected(mirror), [str(folder)], 5, tmp_path / "out.gz")
    assert (tmp_path / "out.gz").read_bytes() == (folder / f"{NAME}.gz").read_bytes()
    assert size == (folder / f"{NAME}.gz").stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["out.gz"]


def test_a_file_url_mirror_is_a_folder(tmp_path: Path, mirror: Mirror) -> None:
    """docs/data.md: $MNIST_MIRROR may be a file:// base URL."""
    fetch_verified(expected(mirror), [mirror[0].as_uri() + "/"], 5, tmp_path / "out.gz")
    assert (tmp_path / "out.gz").read_bytes() == (mirror[0] / f"{NAME}.gz").read_bytes()


def test_checksum_mismatch_names_file_expected_and_actual(
    tmp_path: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNIST_MIRROR", raising=False)  # as on a fresh machine: the hint names it
    (tmp_path / f"{NAME}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05"))
    with pytest.raises(PipelineError) as error:
        fetch_verified(expected(mirror), [str(tmp_path)], 5, tmp_path / "out.gz")
    message = str(error.value)
    assert message.startswith(f"{NAME}.gz: no valid copy found")
    assert f"expected {expected(mirror).sha256}" in message and "SHA-256 of decompressed" in message
    assert message.endswith("holding the four .gz files data/sources.yaml names")
    assert not (tmp_path / "out.gz").exists()


def test_http_mirror_and_fallback_after_failures(tmp_path: Path, http_mirror: str, mirror: Mirror) -> None:
    sources = [closed_port_url(), f"{http_mirror}/missing/", f"{http_mirror}/html/", f"{http_mirror}/good/"]
    fetch_verified(expected(mirror), sources, 5, tmp_path / "out.gz")
    assert gzip.decompress((tmp_path / "out.gz").read_bytes())[:4] == b"\x00\x00\x08\x01"


def test_every_source_failing_says_why_for_each(tmp_path: Path, http_mirror: str, mirror: Mirror) -> None:
    dead = closed_port_url()
    sources = [dead, f"{http_mirror}/missing/", f"{http_mirror}/html/"]
    with pytest.raises(PipelineError) as error:
        fetch_verified(expected(mirror), sources, 5, tmp_path / "out.gz")
    message = str(error.value)
    assert "\n" not in message
    assert f"{dead}: unreachable" in message
    assert f"{http_mirror}/missing/: HTTP 404" in message
    assert f"{http_mirror}/html/: not a valid gzip file" in message


def test_hostile_servers_are_cut_off(tmp_path: Path, http_mirror: str, mirror: Mirror) -> None:
    """An endless body, a stall, a drip that never ends, a redirect off http(s): each refused."""
    started = time.monotonic()
    sources = [f"{http_mirror}/{kind}/" for kind in ("liar", "stall", "drip", "redirect")]
    with pytest.raises(PipelineError) as error:
        fetch_verified(expected(mirror), sources, 0.5, tmp_path / "out.gz")
    reasons = str(error.value).rsplit(". ", 1)[0].split("; ")  # the sources' reasons, before what to do
    limit = expected(mirror).size + expected(mirror).size // 100 + 64 * 1024
    assert reasons[0].endswith(f"/liar/: more than {limit:,} bytes, larger than any gzip of the real file")
    assert "/stall/: " in reasons[1] and "timed out" in reasons[1]
    assert "/drip/: transfer still running after its deadline" in reasons[2]
    assert reasons[3].endswith("/redirect/: redirected to a ftp:// URL, refused")
    # The promise: 0.5 s without data ends the stall, 10 times that in all ends the drip; about
    # 6 s of waiting, with room for a loaded machine (a fetch without the deadlines never ends).
    assert time.monotonic() - started < 20  # in-process (no start-up counted): about 6 s of promised waits
    assert list(tmp_path.iterdir()) == []


def test_no_source_at_all(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no source; set MNIST_MIRROR or list mirrors in data/sources.yaml"):
        fetch_verified(DataFile(NAME, "0" * 64, 10), [], 5, tmp_path / "out.gz")


def test_mirror_env_comes_first_and_is_made_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MIRROR", "some/folder")
    assert list_sources(("https://example.org/",)) == [str(Path("some/folder").resolve()), "https://example.org/"]
    monkeypatch.setenv("MNIST_MIRROR", "https://mirror.local/mnist/")
    assert list_sources(()) == ["https://mirror.local/mnist/"]
    monkeypatch.delenv("MNIST_MIRROR")
    assert list_sources(("https://example.org/",)) == ["https://example.org/"]


def run_fetch(project: Path, mirror_folder: Path, memory_mb: int = 400) -> subprocess.CompletedProcess[str]:
    """The fetch stage in a child limited to `memory_mb` of address space, from a project copy."""
    env = run_env(mirror_folder) | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "stages.fetch", "--sources", "data/sources.yaml", "--out", "raw"]
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, preexec_fn=memory_limit(memory_mb), timeout=120
    )


def bad_mirror(
    tmp_path: Path, mirror: Mirror, bad_file: bytes, name: str = "t10k-labels-idx1-ubyte"
) -> tuple[Path, Path]:
    """A mirror whose files are good but `name`, which holds `bad_file`; a project to fetch into."""
    folder = tmp_path / "bad"
    folder.mkdir()
    for good in mirror[1]:
        (folder / f"{good}.gz").write_bytes((mirror[0] / f"{good}.gz").read_bytes())
    (folder / f"{name}.gz").write_bytes(bad_file)
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_sources(project, mirror[1])
    return folder, project


def test_failed_fetch_leaves_no_file_and_exits_nonzero(tmp_path: Path, mirror: Mirror) -> None:
    folder, project = bad_mirror(tmp_path, mirror, gzip.compress(b"another data set"))
    result = run_fetch(project, folder)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("fetch: error: t10k-labels-idx1-ubyte.gz: no valid copy")
    assert len(result.stderr.strip().splitlines()) == 1
    hint = "check that $MNIST_MIRROR holds a good copy of the four .gz files data/sources.yaml names"
    assert result.stderr.strip().endswith(hint)
    assert sorted(p.name for p in (project / "raw").iterdir()) == sorted(f"{n}.gz" for n in list(mirror[1])[:3])


@needs_memory_limits
def test_gzip_bomb_is_refused_in_bounded_memory_and_time(tmp_path: Path, mirror: Mirror) -> None:
    """800 KB that decompress to 800 MB of zeros, refused by a fetch that may use 400 MB in all."""
    member = gzip.compress(bytes(1 << 20), mtime=0)  # 1 MiB of zeros in about 1 KB; gzip allows many members
    bomb = member * 800
    name = "train-images-idx3-ubyte"
    folder, project = bad_mirror(tmp_path, mirror, bomb, name)
    started = time.monotonic()
    result = run_fetch(project, folder)
    assert time.monotonic() - started < 30  # refused in 0.6 s when measured; a hang guard beyond that
    assert result.returncode == 2, result.stderr
    limit = mirror[1][name]["size"]
    assert f"{name}.gz: no valid copy found: {folder}: decompresses to more than {limit:,} bytes" in result.stderr
    assert not (project / "raw").exists() or not list((project / "raw").iterdir())


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path, mirror: Mirror) -> None:
    oversized = gzip.compress(bytes(1 << 20), mtime=0) * 2048  # about 2 MB; the exact size is zlib's build's
    folder, project = bad_mirror(tmp_path, mirror, oversized)
    result = run_fetch(project, folder)
    assert result.returncode == 2
    expected_line = f"{folder}: {len(oversized):,} bytes, larger than any gzip of the real file (65,645 at most)"
    assert expected_line in result.stderr
