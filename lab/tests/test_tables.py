"""The published tables: each written from the lab's outputs, and `make docs-check` failing, with
the command that fixes it, on a number typed by hand or a lab stage that today's code made stale."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.docs_tables import RESULTS, TABLES, regenerate
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_table_it_makes_is_in_some_page() -> None:
    """What the pages publish is checked by `make docs-check` (CI runs it), not here: a user's own
    experiment changes metrics/ and params.yaml, and their `make test` must not fail on that."""
    used = {name for page in PAGES for name in re.findall(r"^<!-- table: ([\w-]+) -->$", page.read_text(), re.M)}
    assert used == set(TABLES)


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A git and DVC repository of this checkout's tracked files, its tables brought up to date with
    the committed data: the state `make docs` leaves, whatever the workspace's own runs changed."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", *command], cwd=tmp_path, check=True, capture_output=True)
    regenerate(tmp_path, write=True)
    return tmp_path


def docs_check(root: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lab.docs_tables", "--check", "--root", str(root)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_check_fails_on_a_number_edited_by_hand_and_names_the_fix(published: Path) -> None:
    assert docs_check(published).returncode == 0, docs_check(published).stderr
    readme = published / "README.md"
    original = readme.read_text()
    figure = re.compile(r"\d\d\.\d\d ± ").search(original, original.index("<!-- table: headline -->"))
    assert figure is not None
    edited = original[: figure.start()] + str((int(original[figure.start()]) + 1) % 10) + original[figure.start() + 1 :]
    readme.write_text(edited)
    result = docs_check(published)
    assert result.returncode == 2  # a PipelineError's exit status, as every command here
    assert result.stderr.strip().splitlines() == [
        "docs_tables: error: README.md: headline: differs from its data; `make docs` (python -m lab.docs_tables) "
        "rewrites it"
    ]
    assert readme.read_text() == edited  # --check changes nothing
    assert regenerate(published, write=True) == ["README.md: headline"]
    assert readme.read_text() == original


def test_the_check_fails_after_an_edit_to_the_training_code_and_names_the_stages(published: Path) -> None:
    loop = published / "lenet5/training/loop.py"
    loop.write_text(loop.read_text() + "\n# an edit\n")
    result = docs_check(published)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    stale = re.compile(r"lab/dvc.yaml:([\w@]+): stale; `dvc repro lab/dvc.yaml:\1` remakes it \(lab/README.md")
    stages = {match[1] for line in lines if (match := stale.search(line))}
    # Every stage runs the library that holds the training code.
    assert {"defaults@101", "preset@105", "split@1", "speed", "profile", "serving", "limits", "sizes@1000"} <= stages
    (loop.parent / "loop.py").write_text((ROOT / "lenet5/training/loop.py").read_text())
    assert docs_check(published).returncode == 0  # the edit undone: nothing stale


def test_a_table_of_two_machines_is_refused(published: Path) -> None:
    run = published / RESULTS / "runs/defaults-101.json"
    record = json.loads(run.read_text())
    record["machine"]["cpu"] = "Another CPU"
    run.write_text(json.dumps(record))
    with pytest.raises(Exception, match=r"README.md: table '[\w-]+': its data: .*2 machines .*Another CPU"):
        regenerate(published, write=False)


def test_every_export_stays_within_a_tenth_of_a_point_on_every_reporting_seed() -> None:
    """README and docs/deploying.md: every format within 0.1 point of the Keras model on every seed
    of the reporting sweep, the int8 file at most 80 KB."""
    runs = [json.loads(path.read_text()) for path in sorted((ROOT / RESULTS / "runs").glob("defaults-*.json"))]
    assert len(runs) == 10
    for run in runs:
        formats = run["formats"]
        assert formats["keras"]["accuracy"] == run["test_accuracy"]  # the stages agree on the model
        for name, scores in formats.items():
            assert abs(scores["accuracy"] - formats["keras"]["accuracy"]) <= 0.001 + 1e-9, (run["seed"], name)
        assert formats["tflite_int8"]["bytes"] <= 80_000
