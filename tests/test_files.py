"""Atomic writes: all or nothing, no temporary files left behind, the usual file mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lenet5.files import FILE_MODE, atomic_path, write_json, write_text


def test_write_replaces_the_whole_file_with_a_normal_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.json"
    write_json(target, {"accuracy": 0.99})
    assert target.read_text() == '{\n  "accuracy": 0.99\n}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == FILE_MODE == 0o666 & ~umask  # as open() would make it, not 0600
    assert sorted(path.name for path in target.parent.iterdir()) == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_scrap(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as scratch:
        scratch.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["out.txt"]
