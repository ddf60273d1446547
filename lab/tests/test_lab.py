"""The lab's measuring code: the speed benchmark (on TensorFlow and on JAX alone), its tables, the limits."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lenet5.errors import PipelineError
from tests.conftest import HANG_GUARD_SECONDS, ROOT, Mirror, Project, new_project
from tests.test_export import FORMATS


def test_the_benchmark_times_the_train_stage_without_touching_the_project(
    tmp_path_factory: pytest.TempPathFactory, mirror: Mirror
) -> None:
    project = new_project(tmp_path_factory, mirror)
    project.set_params("train", epochs=2)  # start-up is the first epoch's arrival less the second's time
    project.dvc("repro", "prepare")
    shutil.copytree(ROOT / "lab", project.path / "lab", ignore=shutil.ignore_patterns("__pycache__"))
    status = ("git", "status", "--porcelain", "--ignored", "--", ".", ":!lab")
    before = project.run(*status).stdout
    code = "import json; from lab.train_speed import run_train_stage; print(json.dumps(run_train_stage()))"
    measured = project.run(sys.executable, "-c", code)
    stage = json.loads(measured.stdout.splitlines()[-1])
    assert 0.5 < stage["startup_seconds"] < 120  # at least importing TensorFlow; at most a stuck machine
    assert 300 < stage["peak_rss_mb"] < 4000  # the stage's own process, TensorFlow included
    assert project.run(*status).stdout == before  # its outputs went to a temporary folder


HIDE_MODULES = """import sys


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, Hide())
"""


def run(seed: int, accuracies: list[float], seconds: list[float]) -> dict:
    return {
        "seed": seed,
        "epoch_accuracies": accuracies,
        "epoch_seconds": seconds,
        "samples_per_second": 1000.0 * seed,
        "train_seconds": sum(seconds),
        "peak_rss_mb": 500.0 + seed,
    }


def test_seconds_to_99_follow_the_mean_curve_over_seeds() -> None:
    """One lucky seed reaching 99.0% early does not make the case reach it: the mean over seeds must."""
    from lab.train_speed import summarize

    runs = [
        run(1, [0.985, 0.991, 0.993], [3.0, 2.0, 2.0]),  # lucky: 99.1% after 5 s
        run(2, [0.980, 0.986, 0.990], [4.0, 2.0, 2.0]),
        run(3, [0.981, 0.987, 0.992], [3.5, 2.5, 2.0]),
    ]
    found = summarize(runs)
    # Mean accuracy per epoch 0.982, 0.988, 0.9917: the mean passes 99.0% after the third epoch,
    # at the mean of the seeds' elapsed times then (7, 8 and 8 s).
    assert found["seconds_to_99"] == pytest.approx((7 + 8 + 8) / 3)
    assert found["seeds_reaching_99"] == 3
    assert found["test_accuracy"].mean == pytest.approx((0.993 + 0.990 + 0.992) / 3)
    assert found["samples_per_second"] == 2000.0  # the median
    assert found["peak_rss_mb"] == 503.0
    assert summarize(runs[1:2])["seconds_to_99"] == 8.0
    assert summarize([run(1, [0.98, 0.989], [1.0, 1.0])])["seconds_to_99"] is None


def test_the_benchmark_runs_on_jax_without_tensorflow_or_dvc(
    tmp_path_factory: pytest.TempPathFactory, mirror: Mirror
) -> None:
    """As on the offline GPU machine (lab/offline.sh): JAX, and neither TensorFlow nor DVC importable."""
    project = new_project(tmp_path_factory, mirror)
    project.dvc("repro", "prepare")
    shutil.copytree(ROOT / "lab", project.path / "lab", ignore=shutil.ignore_patterns("__pycache__"))
    hidden = project.path.parent / "hidden"
    hidden.mkdir()
    # Not installed: every import of them fails, as it does where they are missing.
    (hidden / "sitecustomize.py").write_text(
        HIDE_MODULES.format(names=("tensorflow", "dvc", "dvclive", "ai_edge_litert"))
    )
    project.env["PYTHONPATH"] = str(hidden)
    command = (
        "-m",
        "lab.train_speed",
        "--backend",
        "jax",
        "--seeds",
        "2",
        "--cases",
        "default",
        "--runs",
        "runs.json",
    )
    result = project.run(sys.executable, *command)
    assert re.search(r"^CPU: .+, jax [\d.]+, Keras [\d.]+, seeds 101, 102$", result.stdout, re.M), result.stdout
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("| (e) this project's training")]
    assert "(n=2)" in row and row.endswith("| - |")  # no GPU memory on a CPU
    runs = json.loads((project.path / "runs.json").read_text())["runs"]
    assert [(run["case"], run["seed"], run["backend"].split()[0]) for run in runs] == [
        ("default", 101, "jax"),
        ("default", 102, "jax"),
    ]
    assert runs[0]["epoch_accuracies"] != runs[1]["epoch_accuracies"]  # two seeds, two draws


def test_saved_runs_print_their_table_without_training(tmp_path: Path) -> None:
    """`--table` reads what `--runs` wrote: one table per case and backend, nothing trained."""
    runs = [
        {**run(seed, [0.985, 0.991], [3.0, 2.0]), "case": "default", "backend": backend, "device": "CPU", "keras": "3"}
        for backend in ("tensorflow 2.21.0", "jax 0.10.2")
        for seed in (101, 102)
    ]
    saved = tmp_path / "runs.json"
    machine = {"cpu": "AMD EPYC", "vector_extension": "AVX2", "cores": 2, "system": "Linux x86_64"}
    saved.write_text(json.dumps({"machine": machine, "runs": runs}))
    shown = subprocess.run(
        [sys.executable, "-m", "lab.train_speed", "--table", str(saved)], cwd=ROOT, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    # Each table says where it ran: the CPU model, its vector extension and cores, then what ran.
    where = "AMD EPYC (AVX2), 2 cores, Linux x86_64; CPU"
    assert lines[0] == f"{saved}:"
    assert lines[1] == f"{where}, tensorflow 2.21.0, Keras 3, seeds 101, 102:"
    assert f"{where}, jax 0.10.2, Keras 3, seeds 101, 102:" in lines
    rows = [line for line in lines if line.startswith("| (e)")]
    assert len(rows) == 2 and all("| 99.10 ± 0.00 (n=2) |" in row for row in rows), rows
    saved.write_text("{")
    broken = subprocess.run(
        [sys.executable, "-m", "lab.train_speed", "--table", str(saved)], cwd=ROOT, capture_output=True, text=True
    )
    assert broken.returncode == 2 and broken.stderr.startswith(f"lab: error: {saved}: not a file of --runs (")


def test_limits_measures_refusals_and_fails_on_a_file_that_is_accepted(tmp_path: Path) -> None:
    """lab/limits.py times each hostile file's refusal in its own process; a file the code accepts
    (here the real params.yaml) is an error, not a measurement."""
    from lab.limits import measure
    from tests.hostile import billion_laughs

    laughs = tmp_path / "params.yaml"
    laughs.write_text(billion_laughs())
    found = measure("from lenet5.config import load_params; load_params(PATH)", laughs)
    assert found["message"] == "params.yaml:1: YAML anchors and aliases are not allowed here"
    assert 0 < found["seconds"] < HANG_GUARD_SECONDS and 5 < found["peak_rss_mb"] < 1000  # type: ignore[operator]
    with pytest.raises(PipelineError, match=r"^params.yaml: not refused \(exit 0\)"):
        measure("from lenet5.config import load_params; load_params(PATH)", ROOT / "params.yaml")


def test_latency_is_the_benchmarks_and_times_every_format(trained_project: Project, tmp_path: Path) -> None:
    """No experiment waits on timing (the stage writes none); lab/latency.py times the files it wrote."""
    assert not (trained_project.path / "metrics/export_latency.json").exists()
    out = tmp_path / "latency.json"
    env = trained_project.env | {"PYTHONPATH": str(ROOT)}  # lab/ from this checkout, the rest from the copy
    done = subprocess.run(
        [sys.executable, "-m", "lab.latency", "--out", str(out)],
        cwd=trained_project.path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = json.loads(out.read_text())
    latency = saved["microseconds_per_digit"]
    assert set(latency) == set(FORMATS) and all(value > 0 for value in latency.values())
    assert saved["formats"] == json.loads((trained_project.path / "metrics/export_formats.json").read_text())


def test_the_study_keeps_the_defaults_unless_a_draw_beats_them_beyond_the_seeds_noise() -> None:
    from types import SimpleNamespace

    from lab.study import summary

    def trial(number: int, scores: list[float] | None, state: str = "COMPLETE") -> SimpleNamespace:
        value = sum(scores) / len(scores) if scores else None
        attrs = {"validation_accuracies": scores} if scores else {}
        return SimpleNamespace(
            number=number, state=SimpleNamespace(name=state), params={"a": number}, value=value, user_attrs=attrs
        )

    defaults = trial(0, [0.990, 0.992, 0.991])
    assert summary([defaults, trial(1, [0.980, 0.99, 0.985])])["best_against_defaults"] is None
    pruned = summary([defaults, trial(1, None, "PRUNED")])
    assert pruned["best_trial"] == 0 and pruned["trials"][1]["validation_accuracy"] is None
    # Higher on every seed by about the same: beyond the noise.
    clear = summary([defaults, trial(1, [0.993, 0.995, 0.994])])["best_against_defaults"]
    assert clear["beyond_noise"] and clear["mean"] == pytest.approx(0.003)
    # Higher on the mean, lower on one seed: within it.
    mixed = summary([defaults, trial(1, [0.998, 0.990, 0.988])])["best_against_defaults"]
    assert mixed["mean"] > 0 and not mixed["beyond_noise"]
