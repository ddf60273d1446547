"""The product stands without the lab: a copy of the template for one's own data deletes lab/ as
docs/make-it-yours.md says, and its tests still pass; nothing in the product imports the lab."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # runs the fast tier once more, in the copy
LAB_BLOCK = "# The lab (lab/)"  # the first line after the rule that opens the Makefile's lab block
IMPORTS_THE_LAB = re.compile(r"^\s*(?:from|import) lab(?:\.|\b)", re.M)


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    return [name for name in listed.stdout.split("\n") if name and (ROOT / name).is_file()]


def drop_the_lab(copy: Path) -> None:
    """What docs/make-it-yours.md's "What to drop" says for the lab, done to `copy`."""
    shutil.rmtree(copy / "lab")
    makefile = copy / "Makefile"
    text = makefile.read_text()
    block = text.index(LAB_BLOCK)
    makefile.write_text(text[: text.rindex("\n#", 0, block) + 1])
    for path in (copy / ".ci/run", copy / ".github/workflows/ci.yml"):
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if "docs-check" not in line]
        path.write_text("".join(kept))


def test_nothing_outside_the_lab_imports_it() -> None:
    found = [
        name
        for name in tracked_files()
        if name.endswith(".py") and not name.startswith("lab/") and IMPORTS_THE_LAB.search((ROOT / name).read_text())
    ]
    assert found == []


def test_the_check_sees_an_import_of_the_lab() -> None:
    assert IMPORTS_THE_LAB.search("from lab.docs_tables import TABLES\n")
    assert IMPORTS_THE_LAB.search("    import lab\n")
    assert not IMPORTS_THE_LAB.search("from lenet5.data import labels\nimport labels\n")


def test_the_product_stands_without_the_lab(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    for name in tracked_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    drop_the_lab(copy)
    assert "lab" not in (copy / "Makefile").read_text().split("\n.PHONY:")[1].split("\n")[0]
    listed = subprocess.run(["make", "-n", "test"], cwd=copy, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr  # the Makefile still reads
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow"]
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout)
    assert "lab/tests" not in done.stdout
