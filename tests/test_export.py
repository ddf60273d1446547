"""The export stage through `dvc repro` (writing every format, then scoring each), and every format
through `lenet5-predict`."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, Project, first_test_digits, predict, save_png

FORMATS = {
    "keras": "models/lenet5.keras",
    "saved_model": "models/serving/lenet5",
    "tflite_float32": "models/lenet5.tflite",
    "tflite_int8": "models/lenet5_int8.tflite",
}
EXPORTED = ("models/serving/lenet5", "models/lenet5.tflite", "models/lenet5_int8.tflite")


def file_hashes(root: Path, paths: tuple[str, ...]) -> dict[str, str]:
    """sha256 of every file under each of `paths` (a file or a folder), by its path."""
    files = [p for name in paths for p in ([root / name] if (root / name).is_file() else (root / name).rglob("*"))]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def test_every_format_is_written_and_scored(trained_project: Project) -> None:
    path = trained_project.path
    assert (path / "models/serving/lenet5/1/saved_model.pb").is_file()  # TF Serving's <name>/<version>/
    formats = json.loads((path / "metrics/export_formats.json").read_text())
    assert set(formats) == set(FORMATS)
    for name, scores in formats.items():
        assert scores["bytes"] == sum(
            p.stat().st_size for p in [path / FORMATS[name], *(path / FORMATS[name]).rglob("*")] if p.is_file()
        )
    keras = formats["keras"]
    evaluation = json.loads((path / "metrics/eval.json").read_text())
    assert keras["accuracy"] == evaluation["accuracy"] and keras["agreement"] == 1.0
    # Float formats compute what Keras does; int8 rounds, so a digit near a tie may flip.
    for name in ("saved_model", "tflite_float32"):
        assert formats[name]["agreement"] == 1.0 and formats[name]["accuracy"] == keras["accuracy"], name
    # The docs' promise, within 0.1 point of Keras's accuracy, at this test set's resolution: at most
    # one digit in a thousand (and at least one digit) answered differently.
    digits = len(np.load(path / "data/prepared/test_labels.npy"))
    changed = round((1 - formats["tflite_int8"]["agreement"]) * digits)
    assert changed <= max(1, digits // 1000), (changed, digits)
    assert abs(formats["tflite_int8"]["errors"] - keras["errors"]) <= changed
    assert formats["tflite_int8"]["bytes"] <= 80_000 < formats["tflite_float32"]["bytes"]
    # The one column `dvc exp show` gets.
    assert json.loads((path / "metrics/export.json").read_text()) == {
        "int8_accuracy": formats["tflite_int8"]["accuracy"]
    }
    shown = json.loads(trained_project.dvc("metrics", "show", "--json").stdout)
    metrics = next(iter(shown.values()))["data"]
    assert metrics["metrics/export.json"]["data"] == {"int8_accuracy": formats["tflite_int8"]["accuracy"]}


def test_forced_export_rewrites_the_same_bytes(trained_project: Project) -> None:
    before = file_hashes(trained_project.path, EXPORTED)
    assert len(before) >= 6  # saved_model.pb, fingerprint.pb, two variables files, two .tflite
    shutil.rmtree(trained_project.path / "models/serving")  # so the stage really writes them again
    rerun = trained_project.dvc("repro", "--force", "--single-item", "export")
    assert "Running stage 'export'" in rerun.stdout  # written again, not restored from a cache
    assert file_hashes(trained_project.path, EXPORTED) == before
    assert "up to date" in trained_project.dvc("status").stdout.lower()


def test_the_int8_file_is_what_deploying_md_says_and_its_python_runs(trained_project: Project) -> None:
    """docs/deploying.md's "LiteRT on a device": the input and output quantization, the ops a
    microcontroller must register, and its Python snippet, run as printed on the exported file."""
    page = (ROOT / "docs/deploying.md").read_text()
    section = page[page.index("## LiteRT on a device") :]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    named_ops = re.search(r"register the six ops it uses \(([A-Z_0-9, ]+);", section.replace("\n", " "))
    assert named_ops is not None
    probe = (
        snippet.replace('model_path="lenet5_int8.tflite"', 'model_path="models/lenet5_int8.tflite"')
        + "import json\n"
        + "inputs, outputs = interpreter.get_input_details()[0], interpreter.get_output_details()[0]\n"
        + "print(json.dumps({'probabilities': probabilities.tolist(), "
        + "'ops': sorted({op['op_name'] for op in interpreter._get_ops_details()} - {'DELEGATE'}), "
        + "'input': [str(inputs['dtype'].__name__), inputs['shape'].tolist(), list(inputs['quantization'])], "
        + "'output': [str(outputs['dtype'].__name__), outputs['shape'].tolist(), list(outputs['quantization'])]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=trained_project.path, env=trained_project.env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["input"] == ["uint8", [1, 28, 28, 1], [1.0, 0]]  # 0-255 pixels go in unchanged
    assert found["output"] == ["uint8", [1, 10], [1 / 256, 0]]  # divide by 256 for probabilities
    assert found["ops"] == sorted(op.strip() for op in named_ops[1].split(","))
    assert len(found["probabilities"]) == 10 and sum(found["probabilities"]) == pytest.approx(1, abs=0.05)


def test_predict_gives_the_same_digits_in_every_format(trained_project: Project, tmp_path: Path) -> None:
    images, predicted = first_test_digits(trained_project)
    files = [save_png(tmp_path / f"digit{i}.png", image) for i, image in enumerate(images[:10])]
    answers = {}
    for name, model in FORMATS.items():
        result = predict(trained_project, "--json", "--model", model, *files)
        assert result.returncode == 0, (name, result.stderr)
        answers[name] = json.loads(result.stdout)
    digits = {name: [a["class"] for a in found] for name, found in answers.items()}
    assert digits["keras"] == predicted[:10].tolist()
    assert digits["saved_model"] == digits["tflite_float32"] == digits["keras"]
    assert sum(a != b for a, b in zip(digits["tflite_int8"], digits["keras"], strict=True)) <= 1
    for name in ("saved_model", "tflite_float32"):
        for ours, theirs in zip(answers[name], answers["keras"], strict=True):
            assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-4), name
    # The int8 file's probabilities come in steps of 1/256.
    steps = np.array([a["probabilities"] for a in answers["tflite_int8"]]) * 256
    assert np.allclose(steps, np.round(steps), atol=1e-3)


def foreign_tflite(path: Path) -> None:
    """A valid LiteRT model that is not LeNet-5: four numbers in, two out."""
    import keras
    import tensorflow as tf

    from lenet5.serving.exporters import quiet_converter

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with quiet_converter():
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def tensor_hungry_tflite(path: Path) -> None:
    """A small valid LiteRT file whose input and output tensors would take 2 x 100 MB: over the cap
    on what a .tflite file may make the interpreter allocate (docs/reliability.md)."""
    import keras
    import tensorflow as tf

    from lenet5.serving.exporters import quiet_converter

    model = keras.Sequential([keras.Input((5000, 5000), batch_size=1), keras.layers.Rescaling(2.0)])
    with quiet_converter():
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def saved_model_of(path: Path, body: Callable, signature: object) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.serve = tf.function(body, input_signature=[signature])
    tf.saved_model.save(module, str(path / "1"), signatures={"serving_default": module.serve})


def reads_a_file(path: Path) -> None:
    """A SavedModel whose signature has LeNet-5's shape but reads a file when called."""
    import tensorflow as tf

    def serve(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        secret = tf.strings.length(tf.io.read_file("/etc/hostname"))
        return {"probabilities": tf.zeros([tf.shape(pixels)[0], 10]) + tf.cast(secret, tf.float32)}

    saved_model_of(path, serve, tf.TensorSpec([None, 28, 28], tf.uint8, name="pixels"))


def other_signature(path: Path) -> None:
    """A harmless SavedModel that takes four floats."""
    import tensorflow as tf

    saved_model_of(path, lambda x: {"y": tf.identity(x)}, tf.TensorSpec([None, 4], tf.float32, name="x"))


def sparse_file(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)  # takes no disk


def copy_of(project: Project, name: str, target: Path) -> Path:
    source = project.path / name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return target


# (model to hand over, made from the project's own exports where it can; what the one line says)
HOSTILE_MODELS = {
    "tflite cut short": (
        lambda p, t: (t / "m.tflite").write_bytes((p.path / FORMATS["tflite_int8"]).read_bytes()[:30_000]),
        "damaged or not a LiteRT model",
    ),
    "picture named .tflite": (
        lambda p, t: save_png(t / "m.tflite", np.zeros((28, 28), np.uint8)),
        "not a LiteRT (.tflite) model",
    ),
    "foreign tflite": (lambda p, t: foreign_tflite(t / "m.tflite"), "not one that takes a 28x28 image"),
    "tflite asking for 200 MB of tensors": (
        lambda p, t: tensor_hungry_tflite(t / "m.tflite"),
        "bytes of tensors, not a LeNet-5 model",
    ),
    "tflite over the size limit": (
        lambda p, t: sparse_file(t / "m.tflite", 65 * 2**20),
        "over the 67,108,864 a LeNet-5 model file can be",
    ),
    "SavedModel graph cut short": (
        lambda p, t: (
            copy_of(p, FORMATS["saved_model"], t / "m")
            .joinpath("1/saved_model.pb")
            .write_bytes((p.path / FORMATS["saved_model"] / "1/saved_model.pb").read_bytes()[:5000])
        ),
        "damaged or not a SavedModel",
    ),
    "SavedModel variables cut short": (
        lambda p, t: (
            copy_of(p, FORMATS["saved_model"], t / "m")
            .joinpath("1/variables/variables.data-00000-of-00001")
            .write_bytes(b"\0" * 100)
        ),
        "damaged or not a SavedModel",
    ),
    "SavedModel that reads a file": (lambda p, t: reads_a_file(t / "m"), "ReadFile"),
    "SavedModel of another signature": (lambda p, t: other_signature(t / "m"), "does not take uint8 28x28"),
    "folder with no SavedModel": (lambda p, t: (t / "m").mkdir(), "no SavedModel (saved_model.pb)"),
}


@pytest.mark.parametrize("case", HOSTILE_MODELS)
def test_bad_model_files_are_refused_in_one_line(trained_project: Project, tmp_path: Path, case: str) -> None:
    make, message = HOSTILE_MODELS[case]
    make(trained_project, tmp_path)
    model = next(tmp_path.glob("m*"))
    digit = save_png(tmp_path / "digit.png", first_test_digits(trained_project)[0][0])
    result = predict(trained_project, "--model", model, digit)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("lenet5-predict:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert errors[0].startswith(f"lenet5-predict: error: {model}") and message in errors[0], errors[0]
    assert result.stdout == ""
