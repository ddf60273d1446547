"""Atomic file writing: a reader sees the old file or the complete new one, never a part.

Every output of the pipeline goes through here, so an interrupted stage (Ctrl-C, SIGKILL, a full
disk) leaves no half-written file behind that a later run or DVC would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lenet5.errors import PipelineError

# mkstemp makes its file private (0600); the finished output gets the mode a plain open() would.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
FOLDER_MODE = 0o777 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` whole only if the block succeeds."""
    import shutil

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = target.with_name(f".{target.name}.old")
    try:
        yield scratch
        for folder in [scratch, *(p for p in scratch.rglob("*") if p.is_dir())]:
            folder.chmod(FOLDER_MODE)  # mkdtemp makes it private; the output gets a plain mkdir's mode
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], payload: Any, keep_order: bool = False) -> None:
    """JSON with a final newline and sorted keys, or the payload's own order where that order means something.

    Either way equal content gives equal bytes: a dict's order is the order the code built it in.
    """
    write_text(path, json.dumps(payload, indent=2, sort_keys=not keep_order) + "\n")


def write_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """A plain .npy file: unlike .npz it embeds no zip timestamps, so reruns are byte-identical."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def read_json_number(path: Path, key: str) -> float:
    """`key` of a JSON metrics file the pipeline wrote, read back as carefully as outside input."""
    if not path.is_file():
        raise PipelineError(f"{path}: missing")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} is not a number")
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise PipelineError(f"{path}: damaged ({type(error).__name__}: {error})") from None
    return float(value)
