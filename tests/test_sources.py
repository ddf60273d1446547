"""data/sources.yaml's promise that a file's name is a name, never a path: fetch writes only inside
its output folder, whatever the file says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lenet5.data.sources import load_sources
from lenet5.errors import PipelineError
from tests.conftest import ROOT, Mirror, run_env, write_sources

ESCAPES = ["../../../somewhere/x", "../escape/train-images-idx3-ubyte", "/etc/passwd", "sub/train", "..", ""]


@pytest.mark.parametrize("name", ESCAPES)
def test_a_name_that_is_a_path_is_refused_with_its_line(tmp_path: Path, mirror: Mirror, name: str) -> None:
    (tmp_path / "data").mkdir()
    write_sources(tmp_path, mirror[1])
    sources = yaml.safe_load((tmp_path / "data/sources.yaml").read_text())
    sources["files"]["train_images"]["name"] = name
    (tmp_path / "data/sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    with pytest.raises(PipelineError) as refused:
        load_sources(tmp_path / "data/sources.yaml")
    (problem,) = refused.value.problems
    assert "expected train_images.name to be a file name (letters, digits, . _ + -), not a path" in problem


def test_fetch_writes_nothing_outside_its_folder(tmp_path: Path, mirror: Mirror) -> None:
    """A mirror beside a folder the name climbs into: fetch refuses before reading or writing."""
    served = tmp_path / "served" / "mirror"
    shutil.copytree(mirror[0], served)
    (tmp_path / "served" / "escape").mkdir()
    shutil.copy(served / "train-images-idx3-ubyte.gz", tmp_path / "served" / "escape")
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_sources(project, mirror[1])
    sources = yaml.safe_load((project / "data/sources.yaml").read_text())
    sources["files"]["train_images"]["name"] = "../escape/train-images-idx3-ubyte"
    (project / "data/sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    env = run_env(served) | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "stages.fetch", "--sources", "data/sources.yaml", "--out", "out/raw"]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("fetch: error: data/sources.yaml:") and "not a path" in line
    assert not (project / "out").exists()  # neither out/raw nor out/escape
