"""Files the pipeline wrote itself, come back damaged: one line naming the file and how to get a
good copy (followed, it works), or, for the checkpoint, a note and training from the start.

Damage as a full disk, an interrupted copy or a bad sector leaves it: cut short, overwritten with
other bytes, or well-formed but not what the pipeline wrote. Through the real `dvc` CLI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Project

CHECKPOINT = "data/checkpoints/train.npz"


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def overwrite(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def assert_unchanged(project: Project) -> None:
    """Every committed file as it was (the training time, which differs on every run, is not one)."""
    assert project.git("status", "--porcelain").stdout == ""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("file", "damage", "stage", "expected", "fix"),
    [
        (
            "models/lenet5.keras",
            cut_in_half,
            "evaluate",
            "models/lenet5.keras: damaged or not a Keras model (not a complete zip archive",
            ["checkout", "--force", "models/lenet5.keras"],
        ),
        (
            "models/lenet5.keras",
            flip_a_byte,
            "evaluate",
            "models/lenet5.keras: damaged (the checksum of",
            ["checkout", "--force", "models/lenet5.keras"],
        ),
        (
            "data/prepared/test_images.npy",
            cut_in_half,
            "evaluate",
            "data/prepared/test_images.npy: damaged, not a readable .npy file",
            ["checkout", "--force", "data/prepared"],
        ),
        (
            "data/prepared/train_labels.npy",
            overwrite(b"\x93NUMPY garbage"),
            "train",
            "data/prepared/train_labels.npy: damaged, not a readable .npy file",
            ["checkout", "--force", "data/prepared"],
        ),
        (
            "metrics/predictions.csv",
            overwrite(b"actual,predicted\n7,"),
            "plot",
            "metrics/predictions.csv: damaged (",
            ["repro", "-f", "-s", "evaluate"],
        ),
        (
            "metrics/misclassified.json",
            overwrite(b'{"count": 3}'),
            "plot",
            "metrics/misclassified.json: damaged (KeyError",
            ["repro", "-f", "-s", "evaluate"],
        ),
        (
            "data/raw/t10k-labels-idx1-ubyte.gz",
            cut_in_half,
            "prepare",
            "t10k-labels-idx1-ubyte.gz: not a valid gzip file (",  # as docs/reliability.md says
            ["checkout", "--force", "data/raw"],
        ),
    ],
    ids=["model-cut", "model-flipped", "npy-cut", "npy-garbage", "csv-cut", "json-foreign", "raw-cut"],
)
def test_a_damaged_output_is_named_and_the_hint_repairs_it(
    trained_project: Project, file: str, damage: Callable[[Path], None], stage: str, expected: str, fix: list[str]
) -> None:
    project = trained_project
    path = project.path / file
    before = digest(path)
    damage(path)
    try:
        # The stage that reads it, alone, as after `dvc repro -s`; DVC sees its dependency changed.
        failed = project.dvc("repro", "--single-item", stage, check=False)
        assert failed.returncode != 0
        errors = [line for line in failed.stderr.splitlines() if line.startswith(f"{stage}: error: ")]
        assert len(errors) == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert expected in errors[0], errors[0]
        assert f"`dvc {' '.join(fix)}`" in errors[0]  # the hint names the command that repairs it
        project.dvc(*fix)  # the hint, followed
    finally:
        project.dvc("checkout", "--force")  # back to the committed state even if the test failed
        project.dvc("repro")
    assert digest(path) == before
    assert "Data and pipelines are up to date." in project.dvc("status").stdout
    assert_unchanged(project)


@pytest.mark.parametrize(
    ("content", "note"),
    [(b"", "is damaged (EOFError"), (b"PK\x03\x04 not really a zip", "is damaged ("), (None, "is from another run")],
    ids=["empty", "garbage", "foreign-npz"],
)
def test_a_damaged_checkpoint_is_ignored_and_training_starts_over(
    trained_project: Project, content: bytes | None, note: str
) -> None:
    """The checkpoint is not a DVC output: were it trusted, every `dvc repro` would fail on it."""
    project = trained_project
    model = project.path / "models/lenet5.keras"
    before = digest(model)
    checkpoint = project.path / CHECKPOINT
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if content is None:  # a well-formed .npz, but not a checkpoint of this pipeline
        np.savez(checkpoint, state=np.array(json.dumps({"note": "something else"})), model_0=np.zeros(3))
    else:
        checkpoint.write_bytes(content)
    result = project.dvc("repro", "--force", "--single-item", "train")
    assert f"train: note: {CHECKPOINT} {note}" in result.stdout, result.stdout
    assert "starting from epoch 1" in result.stdout
    assert digest(model) == before  # the same training as a run with no checkpoint at all
    assert not checkpoint.exists()  # replaced after each epoch, removed once done
    project.dvc("repro")
    assert_unchanged(project)
