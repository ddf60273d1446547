"""Sharing results: `dvc push` to a remote, then a fresh clone that `dvc pull`s has nothing to redo.

Two remotes: a local folder, and an S3-compatible server (moto's server mode) that the test starts
on 127.0.0.1 and stops. Its credentials go only into `.dvc/config.local`, never into git.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import ROOT, S3_KEY_ID, S3_SECRET, Project, clone_project, without_aws_settings


def cached_outputs() -> list[str]:
    """Every output dvc.yaml has DVC cache (and so push and pull): all but those marked cache: false."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    found = []
    for stage in stages.values():
        for out in stage.get("outs", []):
            path, options = (out, {}) if isinstance(out, str) else next(iter(out.items()))
            if (options or {}).get("cache", True):
                found.append(path)
    return found


PUSHED = cached_outputs()  # the data, the marker, the model and its three exports


def round_trip(
    project: Project,
    tmp_path: Path,
    add_remote: Callable[[Project], None],
    set_credentials: Callable[[Project], None] = lambda clone: None,
) -> None:
    """Push from `project`, pull into a fresh clone, and check the clone needs no rerun."""
    add_remote(project)
    set_credentials(project)
    project.commit("Add a DVC remote")
    pushed = project.dvc("push")
    assert "files pushed" in pushed.stdout or "file pushed" in pushed.stdout, pushed.stdout
    assert "in sync" in project.dvc("status", "--cloud").stdout

    # No way to download MNIST in the clone: everything must come from the remote.
    clone = clone_project(project, tmp_path / "clone", project.env, mirror=tmp_path / "no-mirror")
    set_credentials(clone)  # secrets are not in git: each clone sets its own
    clone.dvc("pull")
    for path in PUSHED:
        assert (clone.path / path).exists(), path
    assert (clone.path / "models/lenet5.keras").read_bytes() == (project.path / "models/lenet5.keras").read_bytes()
    assert "Data and pipelines are up to date." in clone.dvc("status").stdout
    repro = clone.dvc("repro")
    assert "Running stage" not in repro.stdout and "Data and pipelines are up to date." in repro.stdout
    # The pulled model, evaluated again from scratch, scores exactly what was committed.
    committed = json.loads((clone.path / "metrics/eval.json").read_text())
    clone.dvc("repro", "--force", "--single-item", "evaluate")
    assert json.loads((clone.path / "metrics/eval.json").read_text()) == committed


def test_local_folder_remote_round_trip(own_trained_project: Project, tmp_path: Path) -> None:
    project = own_trained_project  # its own copy: this test commits, tags and pushes in it

    def add_remote(target: Project) -> None:
        target.dvc("remote", "add", "--default", "shared", str(tmp_path / "dvc-store"))

    round_trip(project, tmp_path, add_remote)
    assert any((tmp_path / "dvc-store").rglob("*"))
    # Every artifact dvc.yaml declares (the model in each format): a version registered as the
    # model registry does (a GTO git tag), then fetched by name into another folder through the
    # committed remote, byte for byte.
    artifacts = yaml.safe_load((project.path / "dvc.yaml").read_text())["artifacts"]
    assert len(artifacts) == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for artifact, declared in artifacts.items():
        project.git("tag", "-a", f"{artifact}@v1.0.0", "-m", f"{artifact} v1.0.0")
        command = [sys.executable, "-m", "dvc", "artifacts", "get", str(project.path), artifact]
        got = subprocess.run(command, cwd=elsewhere, env=project.env, capture_output=True, text=True, timeout=300)
        assert got.returncode == 0, got.stderr
        source = project.path / declared["path"]
        assert file_bytes(elsewhere / source.name) == file_bytes(source), artifact


def file_bytes(path: Path) -> dict[str, bytes]:
    """A file's bytes, or every file's under a folder, by relative path."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): p.read_bytes() for p in files}


def test_s3_compatible_remote_round_trip(own_trained_project: Project, s3_endpoint: str, tmp_path: Path) -> None:
    project = own_trained_project
    project.env = without_aws_settings(project.env)

    def credentials(target: Project) -> None:
        target.dvc("remote", "modify", "--local", "s3", "access_key_id", S3_KEY_ID)
        target.dvc("remote", "modify", "--local", "s3", "secret_access_key", S3_SECRET)

    def add_remote(target: Project) -> None:
        target.dvc("remote", "add", "--default", "s3", "s3://dvc-store/lenet5")
        target.dvc("remote", "modify", "s3", "endpointurl", s3_endpoint)

    round_trip(project, tmp_path, add_remote, credentials)
    with urllib.request.urlopen(f"{s3_endpoint}/dvc-store?list-type=2", timeout=10) as listing:
        assert "<Key>lenet5/files/md5/" in listing.read().decode()
    assert S3_SECRET not in (project.path / ".dvc/config").read_text()
    assert S3_SECRET in (project.path / ".dvc/config.local").read_text()
    assert ".dvc/config.local" not in project.git("ls-files", ".dvc").stdout
    assert S3_SECRET not in project.git("log", "-p").stdout
