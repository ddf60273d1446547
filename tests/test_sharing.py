"""A sweep shared across machines with DVC's own experiment sharing: git refs plus a DVC remote.

Two clones (standing in for two machines) each run one experiment and `dvc exp push` it; a third
pulls both, compares them in one table, applies one and gets its exact model back. The origin is
a bare git repository; the DVC remote a local folder or the S3-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import S3_KEY_ID, S3_SECRET, Project, clone_project, without_aws_settings

SEEDS = {"seed-a": 1, "seed-b": 2}


def clone(origin: Path, path: Path, env: dict[str, str], configure: Callable[[Project], None]) -> Project:
    # No way to download MNIST on the other machines: data must come from the DVC remote.
    machine = clone_project(origin, path, env, mirror=path / "no-mirror")
    configure(machine)
    return machine


def share_a_sweep(
    project: Project, tmp_path: Path, add_remote: Callable[[Project], None], configure: Callable[[Project], None]
) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    add_remote(project)
    configure(project)
    project.dvc("repro")  # trained already: runs nothing
    project.commit("baseline, with the shared DVC remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    project.dvc("push")

    models = {}
    for name, seed in SEEDS.items():  # each on its own machine
        machine = clone(origin, tmp_path / name, project.env, configure)
        machine.dvc("pull")
        machine.dvc("exp", "run", "-n", name, "-S", f"train.seed={seed}")
        machine.dvc("exp", "push", "origin", name)
        models[name] = (machine.path / "models/lenet5.keras").read_bytes()

    third = clone(origin, tmp_path / "third", project.env, configure)
    listed = third.dvc("exp", "list", "origin").stdout
    assert all(name in listed for name in SEEDS), listed
    for name in SEEDS:
        third.dvc("exp", "pull", "origin", name)
    shown = json.loads(third.dvc("exp", "show", "--json").stdout)
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for revision in experiment.get("revs", []):
                data = revision.get("data", {})
                if revision.get("name") in SEEDS:
                    found[revision["name"]] = data
    assert set(found) == set(SEEDS)
    for name, seed in SEEDS.items():
        assert found[name]["params"]["params.yaml"]["data"]["train"]["seed"] == seed
    recorded = found["seed-b"]["metrics"]["metrics/eval.json"]["data"]

    third.dvc("exp", "apply", "seed-b")
    third.dvc("pull")
    assert (third.path / "models/lenet5.keras").read_bytes() == models["seed-b"]
    assert "Data and pipelines are up to date." in third.dvc("status").stdout
    third.dvc("repro", "--force", "--single-item", "evaluate")  # score the pulled model afresh
    assert json.loads((third.path / "metrics/eval.json").read_text()) == recorded


def test_sweep_shared_through_a_folder_remote(own_trained_project: Project, tmp_path: Path) -> None:
    def add_remote(project: Project) -> None:
        project.dvc("remote", "add", "--default", "shared", str(tmp_path / "dvc-store"))

    share_a_sweep(own_trained_project, tmp_path, add_remote, lambda machine: None)


def test_sweep_shared_through_an_s3_remote(own_trained_project: Project, tmp_path: Path, s3_endpoint: str) -> None:
    def add_remote(project: Project) -> None:
        project.dvc("remote", "add", "--default", "s3", "s3://dvc-store/sweep")
        project.dvc("remote", "modify", "s3", "endpointurl", s3_endpoint)

    def credentials(machine: Project) -> None:  # secrets stay out of git: each machine sets its own
        machine.env = without_aws_settings(machine.env)
        machine.dvc("remote", "modify", "--local", "s3", "access_key_id", S3_KEY_ID)
        machine.dvc("remote", "modify", "--local", "s3", "secret_access_key", S3_SECRET)

    share_a_sweep(own_trained_project, tmp_path, add_remote, credentials)
