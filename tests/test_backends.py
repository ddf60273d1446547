"""Either Keras backend trains: JAX beside TensorFlow, through the real `dvc` CLI and the training tests.

Keras fixes its backend when first imported, so JAX runs in processes of its own: the pipeline's
stages, and a second pytest over the training tests that apply to both backends.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import ROOT, Project, first_test_digits, predict, save_png

# The training tests that only TensorFlow has (TF_CONFIG's parsing): skipped on JAX.
TENSORFLOW_ONLY_TESTS = 3


def test_the_training_tests_pass_on_jax() -> None:
    """Shuffling, augmentation, every optimizer, same seed same weights, exact resume, Ctrl-C,
    mirrored on one device: the same assertions as on TensorFlow, on JAX."""
    command = [sys.executable, "-m", "pytest", "tests/test_training.py", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(rf"\b\d+ passed, {TENSORFLOW_ONLY_TESTS} skipped\b", summary), summary


def test_jax_trains_the_pipeline_and_every_stage_reads_its_model(own_trained_project: Project, tmp_path: Path) -> None:
    project = own_trained_project
    tensorflow_model = (project.path / "models/lenet5.keras").read_bytes()
    project.set_params("train", backend="jax")
    result = project.dvc("repro")
    assert re.search(r"^train: training with jax on (the CPU|\d+ GPU \(.+\)), 1 replica\(s\)$", result.stdout, re.M)
    for stage in ("train", "evaluate", "plot", "export", "page"):
        assert f"Running stage '{stage}'" in result.stdout, stage
    model = project.path / "models/lenet5.keras"
    assert model.read_bytes() != tensorflow_model  # JAX's own weights
    evaluation = json.loads((project.path / "metrics/eval.json").read_text())
    assert evaluation["accuracy"] > 0.3  # chance is 0.1; TensorFlow's one epoch does as well
    # export (TensorFlow's formats, on TensorFlow) and lenet5-predict read the JAX-trained model.
    formats = json.loads((project.path / "metrics/export_formats.json").read_text())
    assert formats["keras"]["accuracy"] == evaluation["accuracy"]
    assert formats["tflite_float32"]["agreement"] == 1.0
    images, predicted = first_test_digits(project)
    files = [save_png(tmp_path / f"digit{i}.png", image) for i, image in enumerate(images)]
    answers = json.loads(predict(project, "--json", *files).stdout)
    np.testing.assert_array_equal([answer["class"] for answer in answers], predicted)
    params = json.loads(project.dvc("params", "diff", "--json").stdout)["params.yaml"]
    assert {key: params["train.backend"][key] for key in ("old", "new")} == {"old": "tensorflow", "new": "jax"}

    # Byte-identical on a forced rerun, on JAX too.
    lock = (project.path / "dvc.lock").read_bytes()
    trained = model.read_bytes()
    project.dvc("repro", "--force", "-s", "train")
    assert model.read_bytes() == trained
    assert (project.path / "dvc.lock").read_bytes() == lock


def test_a_backend_that_is_not_installed_is_refused_before_any_output(own_trained_project: Project) -> None:
    """As on a machine without JAX: `sitecustomize` hides the package from every Python that DVC starts."""
    project = own_trained_project
    hidden = project.path.parent / "without_jax"
    hidden.mkdir()
    # sys.modules None, not test_lab's raising finder: importlib's find_spec then answers None, as
    # it does for a package that is not installed (the finder would make it raise instead).
    (hidden / "sitecustomize.py").write_text("import sys\nsys.modules['jax'] = None  # as if not installed\n")
    project.env["PYTHONPATH"] = str(hidden)
    model = (project.path / "models/lenet5.keras").read_bytes()
    project.set_params("train", backend="jax")
    result = project.dvc("repro", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("check_params: error:")]
    assert errors == [
        "check_params: error: train.backend: jax is not installed in this environment; install it with "
        "`make setup` (or `pip install '.[jax]'`; docs/scaling.md has the CUDA build)"
    ]
    assert "Running stage 'train'" not in result.stdout
    assert (project.path / "models/lenet5.keras").read_bytes() == model
