"""Getting the data set's files from a local folder or mirror URL, verified, in bounded memory, disk and time.

Sources are tried in order: the folder or base URL named by $MNIST_MIRROR, then the mirrors of
data/sources.yaml. A copy is streamed to a temporary file beside its destination, never held in
memory, and refused as soon as it is larger than a gzip of the real file can be, stalls, or runs
past its deadline. Its decompressed bytes are then hashed in a stream that stops past the real
file's size. Only a copy whose hash matches replaces the destination, atomically.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from lenet5.data.idx import CHUNK, gunzip_digest
from lenet5.data.sources import DataFile
from lenet5.errors import PipelineError
from lenet5.files import atomic_path

MIRROR_ENV = "MNIST_MIRROR"
USER_AGENT = "lenet5-mnist-dvc/2.0 (+python urllib)"
DEADLINE_FACTOR = 10  # a whole transfer may take this many stall timeouts


class SourceError(Exception):
    """This source cannot give a valid copy; the next one is tried."""


def max_download_bytes(expected: DataFile) -> int:
    """A gzip stream is never much larger than its payload (stored blocks add 5 bytes in 64 KiB)."""
    return expected.size + expected.size // 100 + 64 * 1024


def list_sources(mirrors: tuple[str, ...]) -> list[str]:
    """$MNIST_MIRROR first (a folder is made absolute: queued experiments run elsewhere)."""
    local = os.environ.get(MIRROR_ENV, "").strip()
    if not local:
        return list(mirrors)
    if "://" not in local:
        local = str(Path(local).expanduser().resolve())
    return [local, *mirrors]


class HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only: never to file://, ftp:// or anything else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        scheme = urllib.parse.urlsplit(newurl).scheme
        if scheme not in ("http", "https"):
            raise SourceError(f"redirected to a {scheme or 'relative'}:// URL, refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def copy_bounded(source: BinaryIO, target: BinaryIO, max_bytes: int, deadline: float, read: str = "read1") -> int:
    """Copy in chunks; stop once more than `max_bytes` arrived or the deadline passed."""
    total = 0
    while chunk := getattr(source, read)(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise SourceError(f"more than {max_bytes:,} bytes, larger than any gzip of the real file")
        if time.monotonic() > deadline:
            raise SourceError(f"transfer still running after its deadline ({total:,} bytes received)")
        target.write(chunk)
    return total


def download(source: str, filename: str, target: Path, max_bytes: int, timeout: float) -> int:
    """Write `filename` from a folder or base URL to `target`; the number of bytes written."""
    deadline = time.monotonic() + DEADLINE_FACTOR * timeout
    if source.startswith("file://"):
        source = urllib.request.url2pathname(urllib.parse.urlsplit(source).path)
    if "://" not in source:
        path = Path(source) / filename
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"{size:,} bytes, larger than any gzip of the real file ({max_bytes:,} at most)")
        with open(path, "rb") as stream, open(target, "wb") as out:
            return copy_bounded(stream, out, max_bytes, deadline)
    opener = urllib.request.build_opener(HttpOnlyRedirects)
    request = urllib.request.Request(f"{source.rstrip('/')}/{filename}", headers={"User-Agent": USER_AGENT})
    with opener.open(request, timeout=timeout) as response, open(target, "wb") as out:
        claimed = int(response.headers.get("Content-Length") or 0)
        if claimed > max_bytes:
            raise SourceError(f"Content-Length {claimed:,}, larger than any gzip of the real file ({max_bytes:,})")
        return copy_bounded(response, out, max_bytes, deadline)


def fetch_verified(expected: DataFile, sources: list[str], timeout: float, target: Path) -> int:
    """Write NAME.gz to `target` from the first source whose payload is the expected one."""
    name = expected.name
    filename = f"{name}.gz"
    if not sources:
        raise PipelineError(f"{filename}: no source; set {MIRROR_ENV} or list mirrors in data/sources.yaml")
    failures = []
    for source in sources:
        try:
            with atomic_path(target) as tmp:
                size = download(source, filename, tmp, max_download_bytes(expected), timeout)
                digest, _ = gunzip_digest(tmp, expected.size, filename)
                if digest != expected.sha256:
                    raise SourceError(f"SHA-256 of decompressed {name} is {digest}, expected {expected.sha256}")
            return size
        except urllib.error.HTTPError as error:
            failures.append(f"{source}: HTTP {error.code} {error.reason}")
        except urllib.error.URLError as error:
            failures.append(f"{source}: unreachable ({error.reason})")
        except (SourceError, PipelineError) as error:
            failures.append(f"{source}: {str(error).removeprefix(f'{filename}: ')}")
        except (OSError, ValueError) as error:  # a missing file, a reset connection, a timeout
            failures.append(f"{source}: {getattr(error, 'strerror', None) or error}")
    # What to do next: without a network the public mirrors cannot answer, a local mirror can.
    if os.environ.get(MIRROR_ENV, "").strip():
        hint = f"check that ${MIRROR_ENV} holds a good copy of the four .gz files data/sources.yaml names"
    else:
        hint = f"offline? set {MIRROR_ENV} to a folder or base URL holding the four .gz files data/sources.yaml names"
    raise PipelineError(f"{filename}: no valid copy found: " + "; ".join(failures) + f". {hint}")
