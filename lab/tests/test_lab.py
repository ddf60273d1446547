"""The benchmark's own measurement of the train stage: start-up and peak memory, nothing written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lenet5.errors import PipelineError
from tests.conftest import HANG_GUARD_SECONDS, ROOT, Mirror, new_project


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
    from bench.train_speed import summarize

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
    """As on the offline GPU machine (bench/offline.sh): JAX, and neither TensorFlow nor DVC importable."""
    project = new_project(tmp_path_factory, mirror)
    project.dvc("repro", "prepare")
    shutil.copytree(ROOT / "bench", project.path / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    hidden = project.path.parent / "hidden"
    hidden.mkdir()
    # Not installed: every import of them fails, as it does where they are missing.
    (hidden / "sitecustomize.py").write_text(
        HIDE_MODULES.format(names=("tensorflow", "dvc", "dvclive", "ai_edge_litert"))
    )
    project.env["PYTHONPATH"] = str(hidden)
    command = (
        "-m",
        "bench.train_speed",
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
        [sys.executable, "-m", "bench.train_speed", "--table", str(saved)], cwd=ROOT, capture_output=True, text=True
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
        [sys.executable, "-m", "bench.train_speed", "--table", str(saved)], cwd=ROOT, capture_output=True, text=True
    )
    assert broken.returncode == 2 and broken.stderr.startswith(f"bench: error: {saved}: not a file of --runs (")


def test_candidates_choose_without_the_test_set_and_report_with_it(
    tmp_path_factory: pytest.TempPathFactory, mirror: Mirror
) -> None:
    """The seed protocol in the runner: a choosing run reads no test digit; a reporting run scores
    the test set plainly and with test-time augmentation; every run lands in the file the tables use."""
    project = new_project(tmp_path_factory, mirror)
    project.set_params("train", epochs=1, unaugmented_epochs=0)
    project.dvc("repro", "prepare")
    shutil.copytree(ROOT / "bench", project.path / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    prepared = project.path / "data" / "prepared"
    hidden = {name: (prepared / name).read_bytes() for name in ("test_images.npy", "test_labels.npy")}
    for name in hidden:
        (prepared / name).unlink()  # choosing must not need them
    candidates = (sys.executable, "-m", "bench.candidates", "--out", "runs.json", "--seeds")
    project.run(*candidates, "1-2", "--name", "elastic", "-S", "train.elastic_strength=2")
    for name, data in hidden.items():
        (prepared / name).write_bytes(data)
    project.run(*candidates, "101-101", "--name", "reported", "--split", "test")
    saved = json.loads((project.path / "runs.json").read_text())
    chosen, reported = saved["candidates"]
    assert (chosen["name"], chosen["changes"], chosen["split"]) == ("elastic", ["train.elastic_strength=2"], "val")
    assert [run["seed"] for run in chosen["runs"]] == [1, 2]
    assert all("test_accuracy" not in run and 0.1 < run["val_accuracy"] <= 1 for run in chosen["runs"])
    assert chosen["runs"][0]["val_accuracy"] != chosen["runs"][1]["val_accuracy"]  # two seeds, two draws
    (run,) = reported["runs"]
    assert run["seed"] == 101 and 0.1 < run["test_accuracy"] <= 1 and 0.1 < run["tta_test_accuracy"] <= 1
    table = project.run(sys.executable, "-m", "bench.candidates", "--table", "runs.json").stdout.splitlines()
    assert table[2].startswith("| elastic | train.elastic_strength=2 | 1-2 (n=2) | ")
    assert re.search(r"\| - \| - \| - \| \d+ \|$", table[2])  # validation only: no test, interval or TTA
    assert table[3].startswith("| reported | - | 101-101 (n=1) | ")
    unknown = project.run(*candidates, "1-1", "--name", "x", "-S", "train.epoch=3", check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith("candidates: error: -S train.epoch=3: expected")


def test_the_candidates_table_sets_reported_runs_against_a_reference(tmp_path: Path) -> None:
    """Test accuracy with Welch's 95% interval against the reference, which may be a benchmark's case."""
    from bench.candidates import table

    def reported(seed: int, accuracy: float) -> dict:
        return {"seed": seed, "val_accuracy": 0.99, "test_accuracy": accuracy, "tta_test_accuracy": 0.995, "seconds": 9}

    new = {"name": "new", "changes": ["train.elastic_strength=3"], "jobs": 1, "runs": []}
    new["runs"] = [reported(101, 0.9940), reported(102, 0.9946), reported(103, 0.9943)]
    path = tmp_path / "reporting.json"
    path.write_text(json.dumps({"machine": "m", "candidates": [new]}))
    benchmark = tmp_path / "runs.json"
    old = [
        {**run(seed, [0.98, accuracy], [1.0, 1.0]), "case": "default", "backend": "tensorflow 2.21.0"}
        for seed, accuracy in ((101, 0.9930), (102, 0.9936), (103, 0.9933))
    ]
    jax = {**run(101, [0.98, 0.5], [1.0, 1.0]), "case": "default", "backend": "jax 0.10.2"}  # not taken
    benchmark.write_text(json.dumps({"machine": "m", "runs": [*old, jax]}))
    rows = table(path, "runs.json: default, tensorflow", benchmark).splitlines()
    assert rows[2] == "| runs.json: default, tensorflow | - | 101-103 (n=3) | - | 99.33 ± 0.03 | - | - | - |"
    # +0.10 points; both spreads 0.03, n=3 each: Welch's t(4 dof) 2.776 x 0.0245 = 0.068 either side.
    assert rows[3] == (
        "| new | train.elastic_strength=3 | 101-103 (n=3) | 99.00 ± 0.00 | 99.43 ± 0.03 | +0.10 (+0.03 to +0.17) "
        "| 99.50 ± 0.00 | 9 |"
    )
    with pytest.raises(Exception, match="--against 'old': no such candidate"):
        table(path, "old")


def test_limits_measures_refusals_and_fails_on_a_file_that_is_accepted(tmp_path: Path) -> None:
    """bench.limits times each hostile file's refusal in its own process; a file the code accepts
    (here the real params.yaml) is an error, not a measurement."""
    from bench.limits import billion_laughs, measure

    laughs = tmp_path / "params.yaml"
    laughs.write_text(billion_laughs())
    found = measure("from lenet5.config import load_params; load_params(PATH)", laughs)
    assert found["message"] == "params.yaml:1: YAML anchors and aliases are not allowed here"
    assert 0 < found["seconds"] < HANG_GUARD_SECONDS and 5 < found["peak_rss_mb"] < 1000  # type: ignore[operator]
    with pytest.raises(PipelineError, match=r"^params.yaml: not refused \(exit 0\)"):
        measure("from lenet5.config import load_params; load_params(PATH)", ROOT / "params.yaml")
