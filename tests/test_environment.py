"""The locked environment: uv.lock matches pyproject.toml, and the check notices a hand-edited pin."""

from __future__ import annotations

import os
import re
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


def exported(extra: str) -> str:
    """The packages `make setup DEVICE=<extra>` installs, read from the lock without installing."""
    command = [str(UV), "export", "--frozen", "--no-dev", "--no-hashes", "--extra", extra, "--python", sys.executable]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_lock_holds_both_tensorflow_builds() -> None:
    cpu, gpu = exported("cpu"), exported("gpu")
    assert "tensorflow-cpu==2.21.0" in cpu and "nvidia-cudnn-cu12" not in cpu
    assert "tensorflow==2.21.0" in gpu and "nvidia-cudnn-cu12==" in gpu and "tensorflow-cpu" not in gpu
    for line in ("keras==3.15.1", "numpy==2.4.6"):  # everything else the same in both
        assert line in cpu and line in gpu


def test_make_setup_picks_the_build_from_device() -> None:
    def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", "-n", "setup", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert "--extra cpu" in dry_run().stdout
    assert "--extra gpu" in dry_run("DEVICE=gpu").stdout
    wrong = subprocess.run(["make", "setup", "DEVICE=tpu"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0 and "DEVICE=tpu: expected cpu or gpu" in wrong.stderr


# Where `make setup` must work, the TensorFlow package the cpu extra picks there, and its wheel tag.
PLATFORMS = {
    "Linux x86_64": (
        "tensorflow-cpu",
        "platform_machine == 'x86_64' and sys_platform == 'linux'",
        "manylinux_2_27_x86_64",
    ),
    "Linux aarch64": (
        "tensorflow",
        "platform_machine == 'aarch64' and sys_platform == 'linux'",
        "manylinux_2_27_aarch64",
    ),
    "macOS arm64": ("tensorflow", "platform_machine == 'arm64' and sys_platform == 'darwin'", "macosx_12_0_arm64"),
}


def test_the_lock_installs_tensorflow_on_each_platform() -> None:
    """uv.lock resolves for all three (pyproject's required-environments makes locking fail otherwise)
    and holds a TensorFlow wheel for each platform and each supported Python."""
    cpu = exported("cpu")
    lock = (ROOT / "uv.lock").read_text()
    for platform, (package, marker, tag) in PLATFORMS.items():
        assert re.search(
            rf"^{package}==2\.21\.0 ; .*\({re.escape(marker)}\)|^{package}==2\.21\.0 ; {re.escape(marker)}$",
            cpu,
            flags=re.M,
        ), (platform, cpu)
        for python in ("cp310", "cp311", "cp312", "cp313"):
            wheel = f"{package.replace('-', '_')}-2.21.0-{python}-{python}-{tag}.whl"
            assert f"/{wheel}" in lock, (platform, wheel)
