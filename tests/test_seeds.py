"""Seed sweeps: the statistics, and `tools.seeds` on experiments that DVC's queue ran."""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest

from lenet5.evaluation.over_seeds import Spread, difference, group_by_settings
from tests.conftest import ROOT, Project, queue_workers, wait_for_queue


def test_welch_interval_by_hand() -> None:
    a, b = Spread.of([0.9940, 0.9945, 0.9950]), Spread.of([0.9910, 0.9920, 0.9915, 0.9925])
    assert (a.n, a.low, a.high) == (3, 0.9940, 0.9950)
    assert a.std == pytest.approx(0.0005) and b.mean == pytest.approx(0.99175)
    found = difference(a, b)
    # Welch by hand: se^2 = 0.0005^2/3 + 0.000645^2/4, dof = 4.96; t(0.975, 4.96) = 2.577 (t(5) is 2.571).
    se = (0.0005**2 / 3 + statistics.stdev([0.9910, 0.9920, 0.9915, 0.9925]) ** 2 / 4) ** 0.5
    assert found.delta == pytest.approx(0.00275)
    assert found.high - found.delta == pytest.approx(2.577 * se, rel=1e-3)
    assert found.delta - found.low == pytest.approx(found.high - found.delta)  # symmetric about the difference
    assert difference(a, Spread.of([0.99])).low is None  # one run: no interval


def test_groups_ignore_only_the_seed() -> None:
    runs = [
        ("a", {"train.seed": 1, "train.epochs": 4}, {"accuracy": 0.99}),
        ("b", {"train.seed": 2, "train.epochs": 4}, {"accuracy": 0.98}),
        ("c", {"train.seed": 1, "train.epochs": 5}, {"accuracy": 0.97}),
    ]
    groups = group_by_settings(runs, "train.seed")
    assert [group.names for group in groups] == [("a", "b"), ("c",)]
    assert groups[0].seeds == (1, 2) and groups[0].metrics["accuracy"].mean == pytest.approx(0.985)


def seeds_report(project: Project, *args: str) -> str:
    env = {**project.env, "PYTHONPATH": str(ROOT)}  # tools/ is the repository's, not the package's
    command = [sys.executable, "-m", "tools.seeds", *args]
    done = subprocess.run(command, cwd=project.path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_queued_seed_sweep_is_summarised_from_dvc_records(own_trained_project: Project) -> None:
    project = own_trained_project  # it leaves experiments behind
    project.dvc("exp", "run", "--queue", "-S", "train.seed=range(1,3)")
    project.dvc("exp", "run", "--queue", "-S", "train.seed=range(1,3)", "-S", "train.learning_rate=0.004")
    with queue_workers(project, jobs=2):
        status = wait_for_queue(project)
    assert status.count("Success") == 4, status

    from tools.seeds import read_runs

    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    runs, head, _, revs = read_runs(json.loads(shown))
    assert head == "main" and len(runs) == 5  # main's own run (seed 98) and the four experiments
    base = [m for _, p, m in runs if p["train.learning_rate"] != 0.004]
    other = [m for _, p, m in runs if p["train.learning_rate"] == 0.004]
    assert len(base) == 3 and len(other) == 2
    accuracies = [m["accuracy"] for m in base]
    assert len(set(accuracies)) > 1, "three seeds gave one accuracy: the seed does not reach training"

    text = seeds_report(project)
    lines = text.splitlines()
    assert lines[0].startswith("5 runs from `dvc exp show` in 2 group(s)")
    a_title = next(line for line in lines if line.startswith("A: "))
    assert a_title.startswith("A: reference (n=3; seeds 98, ")
    assert any(line.startswith("B: train.learning_rate=0.004 (n=2; seeds ") for line in lines)
    row = next(line for line in lines if line.startswith("test accuracy %")).split()
    mean, std = statistics.fmean(accuracies) * 100, statistics.stdev(accuracies) * 100
    assert row[3:7] == ["3", f"{mean:.3f}", f"{std:.3f}", f"{min(accuracies) * 100:.3f}"]
    against = text.split("Against A")[1]
    delta = (statistics.fmean(m["accuracy"] for m in other) - statistics.fmean(accuracies)) * 100
    assert f"{delta:+.3f} [" in against

    faster = next(name for name, params, _ in runs if params["train.learning_rate"] == 0.004)
    markdown = seeds_report(project, "--md", "--against", faster)
    assert "### A: reference (n=2;" in markdown and "| metric | n | mean | std | min | max |" in markdown

    reported = seeds_report(project, "--seeds", "2-3")  # only the reporting seeds: main's 98 and seed 1 left out
    assert reported.startswith("2 runs from `dvc exp show` in 2 group(s)")  # seed 2 at each rate
    assert reported.count("(n=1; seeds 2)") == 2, reported

    # Kept for a clone: saved with each run's export scores from its own commit, summarised back the same.
    saved = project.path / "sweep.json"
    assert seeds_report(project, "--save", str(saved)) == text
    record = json.loads(saved.read_text())
    assert record["command"] == f"python -m tools.seeds --save {saved}" and record["head"] == "main"
    by_name = {run["name"]: run for run in record["runs"]}
    assert {name: run["rev"] for name, run in by_name.items()} == revs
    for name, _, metrics in runs:
        formats = json.loads(project.git("show", f"{revs[name]}:metrics/export_formats.json").stdout)
        assert by_name[name]["formats"] == formats and by_name[name]["metrics"] == metrics
    assert len({run["formats"]["tflite_int8"]["accuracy"] for run in record["runs"]}) > 1  # each run's own
    from_file = seeds_report(project, "--from", str(saved))
    assert from_file == text.replace("`dvc exp show`", f"`{saved}`", 1)
