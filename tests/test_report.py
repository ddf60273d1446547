"""The pull-request report: a real params change, a real short run, and the rows that changed."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, Project


def write_report(project: Project, base: str) -> str:
    env = {**project.env, "PYTHONPATH": str(ROOT)}  # tools/ is the repository's, not the package's
    command = [sys.executable, "-m", "tools.pr_report", "--base", base, "--out", "report"]
    done = subprocess.run(command, cwd=project.path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return (project.path / "report/report.md").read_text()


def test_report_shows_what_a_params_change_did(own_trained_project: Project) -> None:
    project = own_trained_project  # the base: one epoch, committed
    project.set_params("train", epochs=2)
    project.dvc("repro")
    project.commit("head: two epochs")

    text = write_report(project, "HEAD~1")
    params = text.split("### Parameters")[1].split("### Metrics")[0]
    rows = [line for line in params.splitlines() if line.startswith("| params.yaml")]
    assert [[cell.strip() for cell in row.split("|")[2:5]] for row in rows] == [["train.epochs", "1", "2"]]
    metrics = text.split("### Metrics")[1].split("## Plots that changed")[0]
    changed = {line.split("|")[2].strip() for line in metrics.splitlines() if line.startswith("| metrics/")}
    assert {"accuracy", "val_accuracy"} <= changed
    plots = text.split("## Plots that changed")[1]
    for chart in ("Loss", "Accuracy", "Learning rate"):  # one epoch more: every curve has another point
        assert f"### {chart}\n\n![{chart}]({chart.lower().replace(' ', '_')}.png)" in plots
        image = project.path / "report" / f"{chart.lower().replace(' ', '_')}.png"
        assert image.read_bytes().startswith(b"\x89PNG")

    unchanged = write_report(project, "HEAD")
    assert "No parameter changed." in unchanged and "No plot changed." in unchanged
