"""The locked environment: uv.lock matches pyproject.toml, and the check notices a hand-edited pin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

UV = Path(sys.executable).parent / "uv"  # the dev group's uv, the version `make setup` installs


def lock_check(folder: Path) -> subprocess.CompletedProcess[str]:
    command = [str(UV), "lock", "--check", "--python", sys.executable]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}  # the machine's certificates and proxies too
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_the_lock_matches_pyproject(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, tmp_path / name)
    result = lock_check(tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_hand_edited_pin_fails_the_check(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert '"pyyaml==6.0.3"' in text
    pyproject.write_text(text.replace('"pyyaml==6.0.3"', '"pyyaml==6.0.2"'))
    result = lock_check(tmp_path)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr, result.stderr
