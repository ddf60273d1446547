"""Stage fetch: get the four MNIST files, verify them, and store them under data/raw/.

Sources are tried in order: the folder or base URL named by the environment variable
MNIST_MIRROR, then `fetch.mirrors` from params.yaml. A copy is kept only if the SHA-256 of its
decompressed bytes matches `fetch.sha256` (gzip settings differ between mirrors, the payload may
not). Each file is written atomically, so a failed or partial download leaves nothing behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from stages.atomic import write_bytes
from stages.errors import PipelineError, run_stage
from stages.idx import MNIST_FILES, gunzip
from stages.params import load_section

MIRROR_ENV = "MNIST_MIRROR"
USER_AGENT = "lenet5-mnist-dvc/1.0 (+python urllib)"


def list_sources(mirrors: list[str]) -> list[str]:
    """MNIST_MIRROR first (a folder is made absolute: queued experiments run elsewhere)."""
    local = os.environ.get(MIRROR_ENV, "").strip()
    if not local:
        return list(mirrors)
    if "://" not in local:
        local = str(Path(local).expanduser().resolve())
    return [local, *mirrors]


def read_from_source(source: str, filename: str, timeout: float) -> bytes:
    """The bytes of `filename` at a folder or base URL; raises OSError or URLError."""
    if "://" not in source:
        return (Path(source) / filename).read_bytes()
    request = urllib.request.Request(f"{source.rstrip('/')}/{filename}", headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def fetch_verified(name: str, expected_sha256: str, sources: list[str], timeout: float) -> bytes:
    """The gzip bytes of `name`.gz from the first source whose payload has the expected hash."""
    filename = f"{name}.gz"
    if not sources:
        raise PipelineError(f"{filename}: no source; set {MIRROR_ENV} or list fetch.mirrors in params.yaml")
    failures = []
    for source in sources:
        try:
            data = read_from_source(source, filename, timeout)
            actual = hashlib.sha256(gunzip(data, filename)).hexdigest()
        except urllib.error.HTTPError as error:
            failures.append(f"{source}: HTTP {error.code} {error.reason}")
            continue
        except urllib.error.URLError as error:
            failures.append(f"{source}: unreachable ({error.reason})")
            continue
        except (OSError, PipelineError) as error:
            failures.append(f"{source}: {error}")
            continue
        if actual == expected_sha256:
            return data
        failures.append(f"{source}: SHA-256 of decompressed {name} is {actual}, expected {expected_sha256}")
    raise PipelineError(f"{filename}: no valid copy found: " + "; ".join(failures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw"))
    args = parser.parse_args()
    params = load_section("fetch")
    sources = list_sources(params["mirrors"])
    for name in MNIST_FILES:
        data = fetch_verified(name, params["sha256"][name], sources, params["timeout_seconds"])
        write_bytes(args.out / f"{name}.gz", data)
        print(f"fetch: {name}.gz verified ({len(data):,} bytes)")


if __name__ == "__main__":
    run_stage("fetch", main)
