"""Through the real `dvc repro`: bad params leave every output untouched, killed training resumes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import Project, queue_workers, wait_for_queue

OUTPUT_FOLDERS = ("data", "models", "metrics", "plots")
LIVE = "metrics/train"  # DVCLive's folder
RESULT_FILES = (
    "models/lenet5.keras",
    f"{LIVE}/metrics.json",
    f"{LIVE}/plots/metrics/train/loss.tsv",
    f"{LIVE}/plots/metrics/eval/accuracy.tsv",
)


def output_hashes(project: Project) -> dict[str, str]:
    """SHA-256 of every file the pipeline wrote, and of dvc.lock."""
    files = [project.path / "dvc.lock"]
    files += [p for folder in OUTPUT_FOLDERS for p in (project.path / folder).rglob("*") if p.is_file()]
    return {str(p.relative_to(project.path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# Two cases through the real `dvc repro`: what only the CLI can show is that a bad params.yaml
# stops the run before DVC deletes any output. Every kind of bad value, and its message, is
# tested on the config reader directly (tests/test_config.py), in milliseconds.
@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "epochs", 0, "train.epochs: 0 is not allowed; expected auto or an integer from 1 to 1,000"),
        ("train", "epoch", 3, "train.epoch: unknown key; did you mean train.epochs?"),
    ],
)
def test_bad_params_stop_repro_before_any_output_is_touched(
    trained_project: Project, section: str, key: str, value: Any, message: str
) -> None:
    before = output_hashes(trained_project)
    with trained_project.changed_params(section, **{key: value}):
        result = trained_project.dvc("repro", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("check_params:")]
    assert len(errors) == 1, result.stderr
    assert re.fullmatch(rf"check_params: error: params\.yaml:\d+: {re.escape(message)}.*", errors[0]), errors
    assert output_hashes(trained_project) == before


def start_repro(project: Project) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=project.path,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a signal reaches dvc and the stage alike
    )


def wait_for_line(process: subprocess.Popen[str], pattern: str) -> list[str]:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"never printed {pattern!r}:\n{''.join(lines)}")


def test_killed_training_resumes_and_matches_an_uninterrupted_run(own_trained_project: Project) -> None:
    project = own_trained_project
    project.set_params("train", epochs=6, lr_schedule="warmup_cosine", warmup_epochs=1)
    process = start_repro(project)
    wait_for_line(process, r"train: epoch 2/6")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    checkpoint = project.path / "data/checkpoints/train.npz"
    assert checkpoint.exists()
    # DVCLive's files hold the epochs reached, as the VS Code extension showed them live.
    reached = json.loads((project.path / LIVE / "metrics.json").read_text())["step"] + 1
    assert reached >= 2
    assert len((project.path / LIVE / "plots/metrics/eval/accuracy.tsv").read_text().splitlines()) == 1 + reached

    resumed = project.dvc("repro")
    done = re.search(r"resuming from the checkpoint after epoch (\d)", resumed.stdout)
    assert done and 2 <= int(done.group(1)) < 6, resumed.stdout
    assert f"epoch {int(done.group(1))}/6" not in resumed.stdout  # finished epochs are not redone
    assert not checkpoint.exists()
    resumed_outputs = {name: (project.path / name).read_bytes() for name in RESULT_FILES}

    project.dvc("repro", "--force", "--single-item", "train")
    for name in RESULT_FILES:
        assert (project.path / name).read_bytes() == resumed_outputs[name], name


def test_ctrl_c_stops_training_cleanly(own_trained_project: Project) -> None:
    own_trained_project.set_params("train", epochs=50)
    process = start_repro(own_trained_project)
    lines = wait_for_line(process, r"train: epoch 1/50")
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    lines.append(output)
    text = "".join(lines)
    assert process.returncode != 0
    assert re.search(r"train: interrupted after \d+ of 50 epochs; run `dvc repro` to resume from there", text), text
    assert "Traceback" not in text
    assert (own_trained_project.path / "data/checkpoints/train.npz").exists()  # the finished epochs are kept


def test_two_queued_experiments_run_in_parallel_without_interfering(own_trained_project: Project) -> None:
    project = own_trained_project
    for seed in (1, 2):
        project.dvc("exp", "run", "--queue", "-n", f"seed{seed}", "-S", f"train.seed={seed}")
    with queue_workers(project, jobs=2):
        status = wait_for_queue(project)
    assert status.count("Success") == 2, status

    results = {}
    for seed in (1, 2):
        project.dvc("exp", "apply", f"seed{seed}")
        assert project.params()["train"]["seed"] == seed
        assert "Data and pipelines are up to date" in project.dvc("status").stdout
        queued = {name: (project.path / name).read_bytes() for name in RESULT_FILES}
        project.dvc("repro", "--force", "--single-item", "train")  # the same params, trained alone in the workspace
        for name in RESULT_FILES:
            assert (project.path / name).read_bytes() == queued[name], f"seed {seed}: {name}"
        results[seed] = queued
    assert results[1]["models/lenet5.keras"] != results[2]["models/lenet5.keras"]
