"""The benchmark's own measurement of the train stage: start-up and peak memory, nothing written."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests.conftest import ROOT, Mirror, new_project


def test_the_benchmark_times_the_train_stage_without_touching_the_project(
    tmp_path_factory: pytest.TempPathFactory, mirror: Mirror
) -> None:
    project = new_project(tmp_path_factory, mirror)
    project.set_params("train", epochs=2)  # start-up is the first epoch's arrival less the second's time
    project.dvc("repro", "prepare")
    shutil.copytree(ROOT / "bench", project.path / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    status = ("git", "status", "--porcelain", "--ignored", "--", ".", ":!bench")
    before = project.run(*status).stdout
    code = "import json; from bench.train_speed import run_train_stage; print(json.dumps(run_train_stage()))"
    measured = project.run(sys.executable, "-c", code)
    stage = json.loads(measured.stdout.splitlines()[-1])
    assert 0.5 < stage["startup_seconds"] < 120  # at least importing TensorFlow; at most a stuck machine
    assert 300 < stage["peak_rss_mb"] < 4000  # the stage's own process, TensorFlow included
    assert project.run(*status).stdout == before  # its outputs went to a temporary folder
