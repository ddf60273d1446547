"""A copy of the product, as a user's clone has it, for the lab's stages to run the real pipeline in.

The lab measures what a user gets: each stage copies this repository's tracked files (the lab
itself, the docs and the committed outputs left out) into a fresh git repository in a temporary
folder and runs the product's own commands there (`dvc exp run`, `make`-free: the interpreter of
this environment). MNIST comes from $MNIST_MIRROR, else from this checkout's data/raw, so a run
needs no network where `make pipeline` has run once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lenet5.errors import PipelineError

ROOT = Path(__file__).resolve().parent.parent
# What a copy leaves out: the lab, the pages, and what the product's pipeline writes.
LEFT_OUT = ("lab/", "docs/", "metrics/", "dvc.lock", "plots/", "models/", "web/", "README.md", "CHANGELOG.md")


def mnist_folder() -> Path:
    """Where the copies fetch MNIST from: $MNIST_MIRROR, else this checkout's verified data/raw."""
    folder = Path(os.environ.get("MNIST_MIRROR") or ROOT / "data/raw").resolve()
    if not any(folder.glob("*-ubyte.gz")):
        raise PipelineError(
            f"{folder}: no MNIST .gz files; set MNIST_MIRROR to a folder of them, or run `make pipeline` first"
        )
    return folder


def environment(mnist: Path) -> dict[str, str]:
    """This process's environment, with this interpreter's tools first on PATH and the mirror set."""
    bin_folder = str(Path(sys.executable).parent)
    return os.environ | {"PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}", "MNIST_MIRROR": str(mnist)}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Runs `command` in `cwd`; its output, or a one-line error with the end of what it printed."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode:
        tail = (done.stderr.strip() or done.stdout.strip())[-600:]
        raise PipelineError(f"`{' '.join(command)}` in {cwd} failed: {tail}")
    return done.stdout


def copy_into(folder: Path) -> None:
    """This repository's tracked files, less LEFT_OUT, as the first commit of a git repository at `folder`."""
    files = run(["git", "ls-files", "-co", "--exclude-standard"], ROOT).split("\n")
    for name in files:
        if name and not name.startswith(LEFT_OUT) and (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    node_modules = ROOT / "node_modules"  # the page's runtime, as `npm ci` installed it here
    if node_modules.is_dir():
        (folder / "node_modules").symlink_to(node_modules)
    commit(folder, "the product")


def commit(folder: Path, message: str) -> None:
    if not (folder / ".git").is_dir():
        run(["git", "init", "-q"], folder)
    run(["git", "add", "-A"], folder)
    run(["git", "-c", "user.name=lab", "-c", "user.email=lab@localhost", "commit", "-qm", message], folder)


@contextmanager
def product_copy() -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh copy of the product and the environment to run its commands in; removed afterwards."""
    env = environment(mnist_folder())
    with tempfile.TemporaryDirectory(prefix="lenet5-lab-") as temporary:
        folder = Path(temporary) / "project"
        folder.mkdir()
        copy_into(folder)
        yield folder, env


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
