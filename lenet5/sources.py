"""data/sources.yaml, typed: where MNIST comes from, and what a genuine copy of each file is.

Read and checked like params.yaml (lenet5/config.py): YAML 1.2, one line per problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lenet5.config import Document, check_section, integer, number, raise_if, setting

# The four files every MNIST mirror serves (as NAME.gz), by their decompressed names.
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MAX_MNIST_FILE_BYTES = 100_000_000  # the largest, train-images, is 47,040,016


def url_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and re.match(r"^(https?|file)://", v) for v in value):
        raise ValueError("expected a list of http(s):// or file:// base URLs")
    return tuple(value)


@dataclass(frozen=True)
class MnistFile:
    sha256: str  # of the decompressed bytes: the same for every correct copy, however gzipped
    size: int  # decompressed bytes: decompression stops past it


@dataclass(frozen=True)
class Sources:
    """data/sources.yaml: the public mirrors and what a genuine copy of each file is."""

    mirrors: tuple[str, ...] = setting(url_list)  # base URLs, tried after $MNIST_MIRROR
    timeout_seconds: float = setting(number(0, 600, low_open=True))  # a stalled transfer is abandoned
    files: Mapping[str, MnistFile] = setting(lambda value: _mnist_files(value))  # sha256 and size of each


def _mnist_files(value: Any) -> dict[str, MnistFile]:
    if not isinstance(value, dict) or set(value) != set(MNIST_FILES):
        raise ValueError(f"expected exactly the keys {', '.join(MNIST_FILES)}")
    files = {}
    for name, entry in value.items():
        if not isinstance(entry, dict) or set(entry) != {"sha256", "size"}:
            raise ValueError(f"expected {name} to have exactly sha256 and size")
        if not isinstance(entry["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise ValueError(f"expected {name}.sha256 to be a lowercase hex SHA-256")
        files[name] = MnistFile(entry["sha256"], integer(1, MAX_MNIST_FILE_BYTES)(entry["size"]))
    return files


def load_sources(path: Path) -> Sources:
    """data/sources.yaml, checked; all problems raised together."""
    doc, problems = Document(path), []
    sources = check_section(Sources, doc.values, doc, (), problems)
    raise_if(problems)
    return sources
