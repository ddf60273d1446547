"""docs/make-it-yours.md followed step by step: data sets of other class and image counts, made here.

Each data set is written as four gzip IDX files with names of its own; `python -m tools.describe_data`
prints the `files:` block that goes into data/sources.yaml, the fetch stage reads the folder from
$MNIST_MIRROR, and `dvc repro` does the rest. Then every part that speaks of classes is checked:
the model's outputs, the per-class metrics, the predictions, the pictures, the exports and
`lenet5-predict`. Data that do not fit stop at prepare, in one line, with nothing written.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import ROOT, Mirror, Project, new_project, predict
from tests.mnist_fixture import make_classes, write_idx_set

SHAPES = ["circle", "square", "triangle", "star", "ring", "cross", "arrow", "moon", "heart", "spade"]
SHAPES += ["club", "bolt", "drop", "leaf", "key", "bell", "flag", "fish", "tree", "sun, big"]  # a comma too
FILES = ("shapes-train-images-idx3-ubyte", "shapes-train-labels-idx1-ubyte")
FILES += ("shapes-test-images-idx3-ubyte", "shapes-test-labels-idx1-ubyte")


def write_data_set(folder: Path, classes: int, train: int, test: int) -> dict[str, np.ndarray]:
    """Step 1: the four gzip IDX files in one folder, under names of the data set's own."""
    train_images, train_labels = make_classes(train, classes, seed=1)
    test_images, test_labels = make_classes(test, classes, seed=2)
    parts = dict(zip(FILES, (train_images, train_labels, test_images, test_labels), strict=True))
    write_idx_set(folder, parts)
    return parts


def describe(folder: Path) -> str:
    """Step 2: what `python -m tools.describe_data FOLDER` prints."""
    command = [sys.executable, "-m", "tools.describe_data", str(folder)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def use_data_set(project: Project, folder: Path, name: str, classes: list[str] | None) -> None:
    """Steps 3 and 4: data/sources.yaml's name, files, mirrors and class names; $MNIST_MIRROR."""
    sources = yaml.safe_load((project.path / "data/sources.yaml").read_text())
    sources.update(name=name, mirrors=[], files=yaml.safe_load(describe(folder))["files"])
    if classes is not None:
        sources["classes"] = classes
    (project.path / "data/sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    project.env["MNIST_MIRROR"] = str(folder)


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, mirror: Mirror) -> Project:
    return new_project(tmp_path_factory, mirror)


def test_twenty_named_classes_through_the_whole_pipeline(project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    parts = write_data_set(folder, classes=20, train=700, test=120)
    printed = describe(folder)
    assert "# 20 classes (labels 0-19, 20 of them in training)" in printed
    use_data_set(project, folder, "My shapes", SHAPES)
    result = project.dvc("repro")
    assert "prepare: My shapes, 20 classes: 630 train, 70 validation, 120 test images" in result.stdout

    path = project.path
    assert json.loads((path / "models/classes.json").read_text()) == {"names": SHAPES}
    per_class = json.loads((path / "metrics/per_class.json").read_text())
    assert [name for name in per_class if name not in ("errors", "loss", "macro")] == SHAPES
    rows = (path / "metrics/predictions.csv").read_text().splitlines()
    assert rows[0] == "actual,predicted" and len(rows) == 121
    test_labels = parts[FILES[3]]
    assert rows[1].startswith(f"{SHAPES[test_labels[0]]},") or rows[1].startswith(f'"{SHAPES[test_labels[0]]}",')
    assert any(row.startswith('"sun, big",') for row in rows)  # a name with a comma, quoted
    for picture in ("test_digits.png", "misclassified.png"):
        assert Image.open(path / "plots" / picture).size[0] > 0
    formats = json.loads((path / "metrics/export_formats.json").read_text())
    assert sorted(formats) == ["keras", "saved_model", "tflite_float32", "tflite_int8"]
    assert all(0 <= scores["accuracy"] <= 1 for scores in formats.values())

    image = tmp_path / "shape.png"
    Image.fromarray(parts[FILES[2]][0]).save(image)
    for model in ("models/lenet5.keras", "models/lenet5_int8.tflite", "models/serving/lenet5"):
        done = predict(project, "--json", "--model", model, image)
        assert done.returncode == 0, done.stderr
        [answer] = json.loads(done.stdout)
        assert answer["name"] in SHAPES and answer["name"] == SHAPES[answer["class"]], model
        assert len(answer["probabilities"]) == 20, model
    line = predict(project, "--model", "models/lenet5.keras", image).stdout
    assert re.fullmatch(
        rf"{re.escape(str(image))}: ({'|'.join(map(re.escape, SHAPES))}) \(probability [\d.]+\)\n", line
    )


def test_forty_seven_classes_named_by_their_labels(project: Project, tmp_path: Path) -> None:
    """EMNIST balanced's class count, no names given: the labels name the classes."""
    folder = tmp_path / "letters"
    write_data_set(folder, classes=47, train=600, test=100)
    use_data_set(project, folder, "47 classes", None)
    project.dvc("repro", "evaluate")
    names = [str(label) for label in range(47)]
    assert json.loads((project.path / "data/prepared/classes.json").read_text()) == {"names": names}
    per_class = json.loads((project.path / "metrics/per_class.json").read_text())
    assert [name for name in per_class if name not in ("errors", "loss", "macro")] == names
    check = "import keras, sys; print(keras.models.load_model(sys.argv[1]).output_shape)"
    done = project.run(sys.executable, "-c", check, "models/lenet5.keras")
    assert done.stdout.strip().splitlines()[-1] == "(None, 47)"


def misfit(parts: dict[str, np.ndarray], case: str) -> tuple[dict[str, np.ndarray], list[str] | None, str]:
    """The data set changed as `case` says, the class names to give, and the line prepare must print."""
    train_images, train_labels, test_images, test_labels = (parts[name].copy() for name in FILES)
    names: list[str] | None = None
    if case == "another image size":
        train_images = np.zeros((len(train_labels), 32, 32), np.uint8)
        line = f"{FILES[0]}.gz: records are 32x32; the pipeline takes 28x28 grayscale images, as MNIST's"
    elif case == "a label beyond the class names":
        names = SHAPES[:5]
        line = f"{FILES[1]}.gz: label 9 is beyond the 5 class names data/sources.yaml gives (labels 0-4)"
    elif case == "a test label never seen in training":
        train_labels[train_labels == 9] = 8
        line = f"{FILES[3]}.gz: label 9 never occurs in training ({FILES[1]}.gz has labels 0-8)"
    elif case == "a class with no training image":
        train_labels[train_labels == 3] = 4
        line = f"{FILES[1]}.gz: class 3 (3) has no training image"
    elif case == "counts that disagree":
        train_labels = train_labels[:-1]
        line = f"{FILES[0]}.gz has 300 images but {FILES[1]}.gz has 299 labels"
    else:  # more classes named than a byte-sized label can have
        names = [f"c{i}" for i in range(257)]
        line = "classes: ['c0', 'c1'"
    changed = dict(zip(FILES, (train_images, train_labels, test_images, test_labels), strict=True))
    return changed, names, line


@pytest.mark.parametrize(
    "case",
    [
        "another image size",
        "a label beyond the class names",
        "a test label never seen in training",
        "a class with no training image",
        "counts that disagree",
        "more than 256 classes named",
    ],
)
def test_data_that_do_not_fit_get_one_line_and_nothing_is_written(project: Project, tmp_path: Path, case: str) -> None:
    folder = tmp_path / "data"
    train_images, train_labels = make_classes(300, 10, seed=1)
    test_images, test_labels = make_classes(60, 10, seed=2)
    parts = dict(zip(FILES, (train_images, train_labels, test_images, test_labels), strict=True))
    changed, names, line = misfit(parts, case)
    write_idx_set(folder, changed)
    use_data_set(project, folder, "Misfit", names)
    result = project.dvc("repro", "prepare", check=False)
    assert result.returncode != 0
    errors = [row for row in result.stderr.splitlines() if ": error: " in row]
    assert len(errors) == 1 and line in errors[0], result.stderr
    assert "good copy" not in errors[0]  # the files are the ones sources.yaml names: nothing to restore
    assert "Traceback" not in result.stderr
    assert not (project.path / "data/prepared").exists()
