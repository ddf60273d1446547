"""A DVC user's day on this project: run experiments, compare them, keep one, sweep a parameter.

Everything goes through the real `dvc` CLI in a temporary git repository on generated digits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Chromium, Project, clone_project, queue_workers, wait_for_queue

RATES = {"lr-low": 0.001, "lr-high": 0.004}


def exp_show(project: Project) -> dict[str, dict[str, Any]]:
    """`dvc exp show --json`, flattened to {name or rev: {"params": ..., "metrics": ...}}."""
    found: dict[str, dict[str, Any]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            if "rev" in node and isinstance(node.get("data"), dict):
                data = node["data"]
                found[node.get("name") or node["rev"]] = {
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": {path: entry.get("data", {}) for path, entry in (data.get("metrics") or {}).items()},
                }
            for value in node.values():
                visit(value)

    visit(json.loads(project.dvc("exp", "show", "--json").stdout))
    return found


@pytest.fixture(scope="module")
def experiments(trained_project: Project) -> Project:
    """The trained project with two experiments that differ only in learning rate."""
    for name, rate in RATES.items():
        result = trained_project.dvc("exp", "run", "-n", name, "-S", f"train.learning_rate={rate}")
        assert f"Ran experiment(s): {name}" in result.stdout
    restore_workspace(trained_project)
    return trained_project


def restore_workspace(project: Project) -> None:
    """Back to the committed state: `dvc exp run` / `apply` leave their results in the workspace."""
    project.git("reset", "-q", "--hard", "HEAD")
    project.dvc("checkout", "--force")


def test_exp_show_lists_params_and_metrics_side_by_side(experiments: Project) -> None:
    shown = exp_show(experiments)
    for name, rate in RATES.items():
        assert shown[name]["params"]["train"]["learning_rate"] == rate
        assert 0.0 <= shown[name]["metrics"]["metrics/eval.json"]["accuracy"] <= 1.0
    # What the params change: the test scores (training times differ on every run, so not those).
    low, high = (shown[name]["metrics"]["metrics/eval.json"] for name in RATES)
    assert low["accuracy"] != high["accuracy"] or low["val_accuracy"] != high["val_accuracy"]
    table = experiments.dvc("exp", "show", "--no-pager", "--csv").stdout
    header = table.splitlines()[0].split(",")
    assert "train.learning_rate" in header and "accuracy" in header


def test_exp_show_is_readable(experiments: Project) -> None:
    """Test and validation accuracy, the int8 file's, training seconds and the params; no constants, no URLs."""
    header = experiments.dvc("exp", "show", "--md", "--no-pager").stdout.splitlines()[0]
    columns = [column.strip() for column in header.strip("|").split("|")]
    files = [c for c in columns if (experiments.path / c).exists()]  # each dependency's hash, code included
    values = [c for c in columns if c not in files]
    assert values[:2] == ["Experiment", "Created"]
    assert values[2:5] == ["accuracy", "val_accuracy", "int8_accuracy"]
    assert [c for c in values if c.startswith("train.")] == [f"train.{key}" for key in experiments.params()["train"]]
    # A wide terminal's worth: 25 until train.backend, 29 with the elastic field's two and averaged
    # weights, 30 with train.min_images (the training length of `epochs: auto`).
    assert len(values) <= 30, values
    assert not any("mirror" in c or "sha256" in c or "parameters" in c for c in columns)


def test_metrics_and_params_diff_between_two_experiments(experiments: Project) -> None:
    shown = exp_show(experiments)
    old, new = (shown[name]["metrics"]["metrics/eval.json"]["accuracy"] for name in RATES)
    metrics = json.loads(experiments.dvc("metrics", "diff", *RATES, "--json").stdout)
    accuracy = metrics["metrics/eval.json"]["accuracy"]
    assert (accuracy["old"], accuracy["new"]) == (old, new)
    assert accuracy["diff"] == pytest.approx(new - old)
    params = json.loads(experiments.dvc("params", "diff", *RATES, "--json").stdout)
    assert list(params["params.yaml"]) == ["train.learning_rate"]
    assert params["params.yaml"]["train.learning_rate"]["old"] == 0.001
    assert params["params.yaml"]["train.learning_rate"]["new"] == 0.004
    text = experiments.dvc("metrics", "diff", *RATES).stdout
    assert "metrics/eval.json" in text and "accuracy" in text


def test_apply_commit_and_diff_between_commits(experiments: Project) -> None:
    shown = exp_show(experiments)
    experiments.git("checkout", "-q", "-b", "adopt-lr-high")
    try:
        experiments.dvc("exp", "apply", "lr-high")
        evaluation = json.loads((experiments.path / "metrics/eval.json").read_text())
        assert evaluation == shown["lr-high"]["metrics"]["metrics/eval.json"]
        assert experiments.params()["train"]["learning_rate"] == 0.004
        experiments.commit("Adopt learning rate 0.004")
        status = experiments.dvc("status").stdout
        assert "Data and pipelines are up to date." in status
        params = json.loads(experiments.dvc("params", "diff", "HEAD~1", "HEAD", "--json").stdout)
        assert list(params["params.yaml"]) == ["train.learning_rate"]
        assert params["params.yaml"]["train.learning_rate"]["new"] == 0.004
        metrics = json.loads(experiments.dvc("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
        assert metrics["metrics/eval.json"]["accuracy"]["new"] == evaluation["accuracy"]
    finally:
        experiments.git("checkout", "-q", "-f", "main")
        experiments.git("branch", "-q", "-D", "adopt-lr-high")  # the module's project as it was
        restore_workspace(experiments)


def test_exp_branch_makes_a_git_branch_with_the_results(experiments: Project) -> None:
    shown = exp_show(experiments)
    experiments.dvc("exp", "branch", "lr-low", "try-lr-low")
    try:
        params = experiments.git("show", "try-lr-low:params.yaml").stdout
        assert "learning_rate: 0.001" in params
        evaluation = json.loads(experiments.git("show", "try-lr-low:metrics/eval.json").stdout)
        assert evaluation == shown["lr-low"]["metrics"]["metrics/eval.json"]
    finally:
        experiments.git("branch", "-q", "-D", "try-lr-low")  # the module's project as it was


def test_a_misspelled_parameter_fails_loudly(experiments: Project) -> None:
    before = set(exp_show(experiments))
    params_before = (experiments.path / "params.yaml").read_bytes()
    typo = experiments.dvc("exp", "run", "-S", "train.epoch=3", check=False)
    assert typo.returncode != 0
    assert "Could not override 'train.epoch'" in typo.stderr
    assert (experiments.path / "params.yaml").read_bytes() == params_before
    # Forcing the new key in with `+` gets past DVC; the pipeline's own check then stops it.
    forced = experiments.dvc("exp", "run", "-S", "+train.epoch=3", check=False)
    try:
        assert forced.returncode != 0
        assert "train.epoch: unknown key; did you mean train.epochs?" in forced.stderr
        assert "check_params: error: params.yaml:" in forced.stderr
        assert "Running stage 'train'" not in forced.stdout
        assert set(exp_show(experiments)) == before
    finally:
        restore_workspace(experiments)


@pytest.mark.parametrize("text", ["1e-3", "5E-4", ".001"])
def test_yaml_1_2_numbers_are_read_alike_by_dvc_and_the_pipeline(experiments: Project, text: str) -> None:
    params = experiments.path / "params.yaml"
    original = params.read_text()
    try:
        params.write_text(original.replace("learning_rate: 0.002", f"learning_rate: {text}"))
        assert experiments.dvc("repro", "check_params").returncode == 0  # the pipeline accepts it as a number
        diff = json.loads(experiments.dvc("params", "diff", "--json").stdout)["params.yaml"]["train.learning_rate"]
        assert (diff["old"], diff["new"]) == (0.002, float(text))  # and DVC shows it as that number
    finally:
        params.write_text(original)


def test_plots_show_works_on_a_clone_set_up_without_make(experiments: Project, tmp_path: Path) -> None:
    """No offline template configured: DVC's own page is written, nothing crashes."""
    clone = clone_project(experiments, tmp_path / "clone", experiments.env)
    assert not (clone.path / ".dvc/config.local").exists()
    shown = clone.dvc("plots", "show")
    page = clone.path / "dvc_plots/index.html"
    assert page.is_file() and "{plot_divs}" not in page.read_text(), shown.stdout
    assert "dvc_plots" not in clone.git("status", "--porcelain").stdout  # git-ignored


def test_plots_diff_of_two_experiments_draws_offline(experiments: Project, tmp_path: Path, chromium: Chromium) -> None:
    template = experiments.path / ".dvc/offline_plots.html"
    tool = [sys.executable, "-m", "tools.offline_plots_template", "--out", str(template)]
    subprocess.run(tool, cwd=ROOT, check=True, capture_output=True)
    experiments.dvc("config", "--local", "plots.html_template", "offline_plots.html")  # as `make setup` does
    experiments.dvc("plots", "diff", *RATES, "-o", str(tmp_path / "page"))
    page = (tmp_path / "page/index.html").read_text()
    assert "cdn.jsdelivr" not in page and "http://" not in page.split("<body>")[1]
    report = chromium.open(
        (tmp_path / "page/index.html").as_uri(),
        {
            "charts": "document.querySelectorAll('svg.marks').length",
            "text": "document.body.innerText",
            "images": "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)",
        },
    )
    assert report.errors == []
    assert report.values["charts"] == 4  # loss, accuracy, learning rate, confusion matrix
    for title in ("Loss", "Accuracy", "Learning rate", "Confusion matrix", *RATES):
        assert title in report.values["text"], title
    assert report.values["images"] == [True] * 4  # the two digit pictures of each experiment


def test_chromium_check_sees_errors(tmp_path: Path, chromium: Chromium) -> None:
    """The browser check above can fail: a broken page reports its errors."""
    page = tmp_path / "broken.html"
    page.write_text('<img src="missing.png"><script>console.error("drawn wrong"); notDefined();</script>')
    report = chromium.open(page.as_uri(), {})
    assert len(report.errors) == 4, report.errors  # the missing image twice: the request, and its console line
    assert "console: drawn wrong" in report.errors and any("notDefined" in error for error in report.errors)
    assert any("missing.png" in error for error in report.errors)


def test_queued_sweep_runs_on_a_fresh_clone(experiments: Project, tmp_path: Path) -> None:
    """Queued runs get only tracked files: the data must come from the pipeline's own fetch stage."""
    clone = clone_project(experiments, tmp_path / "clone", experiments.env)
    assert not (clone.path / "data/raw").exists() and not (clone.path / ".dvc/cache").exists()
    clone.dvc("exp", "run", "--queue", "-S", "train.batch_size=8,32")  # a grid: two at once, from fetch on
    with queue_workers(clone, jobs=2):
        status = wait_for_queue(clone)
    assert status.count("Success") == 2, status
    shown = exp_show(clone)
    sizes = sorted(entry["params"]["train"]["batch_size"] for entry in shown.values())
    assert sizes == [8, 16, 16, 32]  # the workspace and its commit (16), then the two experiments
    assert all("metrics/eval.json" in entry["metrics"] for entry in shown.values())
