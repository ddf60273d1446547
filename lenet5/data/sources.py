"""data/sources.yaml, typed: which data set this is, where it comes from, what a genuine copy is.

The data set is any set of 28x28 grayscale images in MNIST's IDX format, gzip-compressed: MNIST
itself (the default), Fashion-MNIST, KMNIST, EMNIST, or one's own. The file says its name, the
names of its classes (optional: without them the classes are named by their labels 0, 1, ...),
the public mirrors to try after $MNIST_MIRROR, and for each of the four files its name and the
SHA-256 and size of its decompressed bytes. Editing it, and nothing in the code, changes the data
set (docs/make-it-yours.md).

Read and checked like params.yaml (lenet5/config.py): YAML 1.2, one line per problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lenet5.checks import Document, check_section, described, integer, number, raise_if, setting

# The four files, by what each holds; their names are the data set's own.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
# A label is one byte in IDX, so a data set has at most 256 classes.
MAX_CLASSES = 256
# EMNIST's largest split, byclass, has 547 MB of training images; anything past this is not such a set.
MAX_FILE_BYTES = 2**30
NAME_PATTERN = r"[\w][\w.+-]*"  # a file name, never a path


def url_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and re.match(r"^(https?|file)://", v) for v in value):
        raise ValueError("expected a list of http(s):// or file:// base URLs")
    return tuple(value)


@dataclass(frozen=True)
class DataFile:
    name: str  # the decompressed file's name; mirrors serve it as NAME.gz
    sha256: str  # of the decompressed bytes: the same for every correct copy, however gzipped
    size: int  # decompressed bytes: decompression stops past it


def _data_files(value: Any) -> dict[str, DataFile]:
    if not isinstance(value, dict) or set(value) != set(ROLES):
        raise ValueError(f"expected exactly the keys {', '.join(ROLES)}")
    files = {}
    for role in ROLES:
        entry = value[role]
        if not isinstance(entry, dict) or set(entry) != {"name", "sha256", "size"}:
            raise ValueError(f"expected {role} to have exactly name, sha256 and size")
        if not isinstance(entry["name"], str) or not re.fullmatch(NAME_PATTERN, entry["name"]):
            raise ValueError(f"expected {role}.name to be a file name (letters, digits, . _ + -), not a path")
        if not isinstance(entry["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise ValueError(f"expected {role}.sha256 to be a lowercase hex SHA-256")
        files[role] = DataFile(entry["name"], entry["sha256"], integer(1, MAX_FILE_BYTES)(entry["size"]))
    if len({file.name for file in files.values()}) != len(ROLES):
        raise ValueError("expected four different file names")
    return files


def _class_names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not all(isinstance(name, (str, int)) and not isinstance(name, bool) for name in value)
        or not 2 <= len(value) <= MAX_CLASSES
    ):
        raise ValueError(f"expected a list of 2 to {MAX_CLASSES} names (or no `classes` key: labels name them)")
    names = tuple(str(name).strip() for name in value)
    if "" in names or len(set(names)) != len(names):
        raise ValueError("expected every class name to be non-empty and different from the others")
    return names


@dataclass(frozen=True)
class Sources:
    """data/sources.yaml: the data set's name and classes, its mirrors, and what each file is."""

    name: str = setting(described(lambda value: _text(value), "text"))  # shown by the stages and the page
    classes: tuple[str, ...] | None = setting(described(_class_names, "a list of names, or absent"))
    mirrors: tuple[str, ...] = setting(url_list)  # base URLs, tried after $MNIST_MIRROR
    timeout_seconds: float = setting(number(0, 600, low_open=True))  # a stalled transfer is abandoned
    files: Mapping[str, DataFile] = setting(lambda value: _data_files(value))  # name, sha256 and size of each


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ValueError("expected a name of 1 to 100 characters")
    return value.strip()


OPTIONAL = {"classes"}  # keys that may be left out of the file


def load_sources(path: Path) -> Sources:
    """data/sources.yaml, checked; all problems raised together."""
    doc, problems = Document(path), []
    if isinstance(doc.values, dict):
        doc.values = {key: None for key in OPTIONAL} | doc.values
    sources = check_section(Sources, doc.values, doc, (), problems)
    raise_if(problems)
    return sources
