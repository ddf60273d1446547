"""Stage fetch: get the data set's four files, verified, into data/raw/ (which: data/sources.yaml).

$MNIST_MIRROR (a local folder or base URL) is tried first, then the public mirrors. A copy is kept
only if its decompressed bytes have the SHA-256 listed for it; see lenet5/data/download.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.data.download import fetch_verified, list_sources
from lenet5.data.sources import ROLES, load_sources
from lenet5.process import run_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sources = load_sources(args.sources)
    places = list_sources(sources.mirrors)
    for role in ROLES:
        file = sources.files[role]
        size = fetch_verified(file, places, sources.timeout_seconds, args.out / f"{file.name}.gz")
        print(f"fetch: {file.name}.gz verified ({size:,} bytes)")


if __name__ == "__main__":
    run_command("fetch", main)
