"""End to end: the real `dvc` CLI runs the whole pipeline in a temporary git copy of the project."""

from __future__ import annotations

import csv
import json
import re

import yaml

from lenet5.native_log import NOISE
from tests.conftest import ROOT, Project

STAGES = tuple(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def stages_run(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def test_repro_writes_model_metrics_and_plots(trained_project: Project) -> None:
    path = trained_project.path
    evaluation = json.loads((path / "metrics/eval.json").read_text())
    assert set(evaluation) == {"accuracy", "val_accuracy"}  # no constants in `dvc exp show`
    # The validation accuracy settings are chosen by: the trained model's, as train logged it last.
    logged = json.loads((path / "metrics/train/metrics.json").read_text())
    assert abs(evaluation["val_accuracy"] - logged["eval"]["accuracy"]) < 1e-6
    assert evaluation["accuracy"] > 0.3  # chance is 0.1; one epoch on rendered digits does far better
    per_class = json.loads((trained_project.path / "metrics/per_class.json").read_text())
    assert per_class["errors"] == round((1 - evaluation["accuracy"]) * 100)
    assert set(per_class) == {str(d) for d in range(10)} | {"macro", "loss", "errors"}
    assert per_class["loss"] > 0
    assert set(per_class["7"]) == {"precision", "recall", "f1"}
    assert 0.0 <= per_class["macro"]["f1"] <= 1.0

    with open(path / "metrics/predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100 and set(rows[0]) == {"actual", "predicted"}
    for digit, scores in per_class.items():
        if digit not in ("macro", "loss", "errors"):
            predictions = [row["predicted"] for row in rows if row["actual"] == digit]
            assert scores["recall"] == round(predictions.count(digit) / len(predictions), 6), digit
    wrong = json.loads((path / "metrics/misclassified.json").read_text())
    assert wrong["indices"] == [i for i, row in enumerate(rows) if row["actual"] != row["predicted"]]

    timing = json.loads((path / "metrics/train_timing.json").read_text())
    assert set(timing) == {"train_seconds"} and timing["train_seconds"] > 0
    for name in ("test_digits", "misclassified"):
        assert (path / f"plots/{name}.png").read_bytes().startswith(PNG_SIGNATURE), name
    assert sorted(p.name for p in (path / "plots").iterdir()) == ["misclassified.png", "test_digits.png"]
    assert (path / "models/lenet5.keras").stat().st_size > 200_000
    assert not (path / "data/checkpoints/train.npz").exists()  # removed once training finished
    prepared = sum(p.stat().st_size for p in (path / "data/prepared").iterdir())
    assert prepared < 1100 * (28 * 28 + 1) + 6 * 200  # uint8 28x28 images: no float copy on disk


def test_dvclive_logs_every_epoch(trained_project: Project) -> None:
    live = trained_project.path / "metrics/train"
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 0  # one epoch: DVCLive counts steps from 0
    assert set(summary) == {"step", "train", "eval"}
    assert set(summary["eval"]) == {"loss", "accuracy"}
    for split, name in (("train", "loss"), ("train", "accuracy"), ("train", "learning_rate"), ("eval", "accuracy")):
        rows = (live / f"plots/metrics/{split}/{name}.tsv").read_text().splitlines()
        assert rows[0] == f"step\t{name}" and len(rows) == 2, (split, name)
    assert not (trained_project.path / "dvc.yaml").read_text().count("dvclive")  # DVCLive did not edit dvc.yaml


def test_dvc_metrics_show_reads_the_metrics(trained_project: Project) -> None:
    shown = json.loads(trained_project.dvc("metrics", "show", "--json").stdout)
    metrics = shown[""]["data"]
    evaluation = json.loads((trained_project.path / "metrics/eval.json").read_text())
    assert metrics["metrics/eval.json"]["data"]["accuracy"] == evaluation["accuracy"]
    assert "metrics/train_timing.json" not in metrics  # seconds of this machine, not the experiment's


def test_second_repro_runs_nothing(trained_project: Project) -> None:
    result = trained_project.dvc("repro")
    assert stages_run(result.stdout) == set()
    assert "Data and pipelines are up to date" in trained_project.dvc("status").stdout


def test_forced_rerun_changes_no_output_byte(trained_project: Project) -> None:
    path = trained_project.path
    lock_before = (path / "dvc.lock").read_bytes()
    model_before = (path / "models/lenet5.keras").read_bytes()
    live_before = (path / "metrics/train/plots/metrics/eval/loss.tsv").read_bytes()
    result = trained_project.dvc("repro", "--force")
    assert stages_run(result.stdout) == set(STAGES)
    # TensorFlow's start-up notices, which every TensorFlow stage printed, are kept out of the log.
    for noise in NOISE:
        assert noise.decode() not in result.stdout + result.stderr
    assert (path / "dvc.lock").read_bytes() == lock_before
    assert (path / "models/lenet5.keras").read_bytes() == model_before
    assert (path / "metrics/train/plots/metrics/eval/loss.tsv").read_bytes() == live_before
    # The timings, which differ, are kept out of git and DVC's records for this reason.
    assert trained_project.git("status", "--porcelain").stdout == ""


def test_changing_epochs_reruns_only_training_and_after(own_trained_project: Project) -> None:
    trained_project = own_trained_project  # its own copy: the other tests read the one-epoch run
    trained_project.set_params("train", epochs=2)
    result = trained_project.dvc("repro")
    assert stages_run(result.stdout) == {"check_params", "train", "evaluate", "plot", "export", "page"}
    # Where it trains, whatever the machine: the CPU, or its GPUs by name; then how oneDNN is set.
    assert re.search(
        r"^train: training with tensorflow on (the CPU|\d+ GPU \(.+\)), 1 replica\(s\); oneDNN .+$", result.stdout, re.M
    )
    assert "Stage 'fetch' didn't change, skipping" in result.stdout
    assert "Stage 'prepare' didn't change, skipping" in result.stdout
    assert json.loads((trained_project.path / "metrics/train/metrics.json").read_text())["step"] == 1
    diff = json.loads(trained_project.dvc("params", "diff", "--json").stdout)
    assert {key: diff["params.yaml"]["train.epochs"][key] for key in ("old", "new")} == {"old": 1, "new": 2}
