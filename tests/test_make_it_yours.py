"""docs/make-it-yours.md's recipes, followed as written: its new setting (dropout) and its new layer
(Dropout after each hidden dense layer), edited in from the page's own code blocks, then `dvc
repro` through evaluate, every export and the page, and `lenet5-predict` on each model file."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from lenet5.training.model import build_lenet5
from tests.conftest import ROOT, Project, first_test_digits, predict, save_png

PAGE = ROOT / "docs/make-it-yours.md"


def code_blocks(section: str) -> list[str]:
    """The fenced code blocks of one `## ` section of the page, dedented as a reader copies them."""
    text = PAGE.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^( *)```\w*\n(.*?)^\1```", body, flags=re.S | re.M)
    return [("\n".join(line.removeprefix(indent) for line in code.splitlines())) for indent, code in blocks]


def insert_after(path: Path, anchor: str, lines: list[str]) -> None:
    """`lines` after the first line at or after `anchor` that closes its statement."""
    text = path.read_text().splitlines()
    end = next(i for i, line in enumerate(text) if line.strip().startswith(anchor))
    depth = text[end].count("(") - text[end].count(")")
    while depth > 0:
        end += 1
        depth += text[end].count("(") - text[end].count(")")
    path.write_text("\n".join([*text[: end + 1], *lines, *text[end + 1 :]]) + "\n")


def test_a_new_setting_and_a_new_layer_as_the_page_says(own_trained_project: Project, tmp_path: Path) -> None:
    project = own_trained_project
    setting_code, params_line = code_blocks("A new setting")
    (layer_code,) = code_blocks("A new layer")

    # 1. Declare the setting in lenet5/config.py, after label_smoothing (a statement over several lines).
    insert_after(
        project.path / "lenet5/config.py", "label_smoothing: float = setting(", ["    " + setting_code.strip()]
    )
    # 2. Its value in params.yaml, after label_smoothing in the train section.
    params = project.path / "params.yaml"
    lines = params.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  label_smoothing:"))
    lines.insert(at + 1, params_line.rstrip())
    params.write_text("\n".join(lines) + "\n")
    # 3. The layer: the page's diff, each `+` line after the line it follows in build_lenet5.
    model_file = project.path / "lenet5/training/model.py"
    source, at = model_file.read_text().splitlines(), 0
    for line in layer_code.splitlines():
        if line.startswith("+"):
            source.insert(at + 1, line[1:])
            at += 1
        else:
            at = source.index(line[1:], at)  # the context line, as the page shows it
    model_file.write_text("\n".join(source) + "\n")

    # A bad value stops at check_params in one line naming it.
    text = params.read_text()
    params.write_text(text.replace("dropout: 0.2", "dropout: 1.5"))
    refused = project.dvc("repro", check=False)
    assert refused.returncode != 0
    assert "train.dropout: 1.5 is not allowed; expected a number in [0, 1)" in refused.stderr
    params.write_text(text)

    done = project.dvc("repro")
    for stage in ("train", "evaluate", "export", "page"):
        assert f"Running stage '{stage}'" in done.stdout, stage
    with zipfile.ZipFile(project.path / "models/lenet5.keras") as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
    dropouts = [layer["config"] for layer in layers if layer["class_name"] == "Dropout"]
    assert [(d["name"], d["rate"]) for d in dropouts] == [("drop1", 0.2), ("drop2", 0.2)]
    formats = json.loads((project.path / "metrics/export_formats.json").read_text())
    assert sorted(formats) == ["keras", "saved_model", "tflite_float32", "tflite_int8"]
    assert all(scores["agreement"] > 0.9 for scores in formats.values()), formats
    assert (project.path / "web/index.html").is_file()

    images, predicted = first_test_digits(project)
    picture = save_png(tmp_path / "digit.png", images[0])
    for model in ("models/lenet5.keras", "models/lenet5_int8.tflite", "models/serving/lenet5"):
        answer = predict(project, "--json", "--model", model, picture)
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)[0]["class"] == predicted[0] or model != "models/lenet5.keras"
    # This checkout's own definition is untouched: the copy's edit stayed in the copy.
    assert not any(type(layer).__name__ == "Dropout" for layer in build_lenet5().layers)
