"""The hyperparameter search (tools/search.py, lenet5/training/tuning.py): its trials are DVC experiments,
the best one is applied with `dvc exp apply`, the pruner stops a trial through the train stage,
and workers in two clones share one study on a real PostgreSQL server, one of them killed in the
middle of a trial. Bad input gets one line."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lenet5.config import load_params
from lenet5.errors import PipelineError
from lenet5.training.tuning import load_space, open_storage, open_study, optuna_quietly, starting_point, suggest
from tests.conftest import ROOT, Project, clone_project, free_port

# The tests' search: one setting, so that any trial trains well on the small data set.
SPACE = "train.learning_rate: {low: 0.001, high: 0.004, log: true}\n"


def search(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return project.run(sys.executable, "-m", "tools.search", *args, check=check)


def studied(project: Project, name: str, storage: str | None = None):
    import optuna

    return optuna.load_study(study_name=name, storage=storage or f"sqlite:///{project.path}/.search/study.db")


@pytest.fixture
def searchable(own_trained_project: Project) -> Project:
    """A trained project whose search tunes the learning rate, two epochs a run (the pruner reports
    at each half)."""
    (own_trained_project.path / "search.yaml").write_text(SPACE)
    own_trained_project.set_params("train", epochs=2)
    own_trained_project.commit("search the learning rate")
    return own_trained_project


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "train.learnig_rate: {low: 0.001, high: 0.01}\n",
            "train.learnig_rate: unknown key; did you mean train.learning_rate?",
        ),
        ("prepare.seed: {choices: [1, 2]}\n", "prepare.seed: only train settings are searched"),
        (
            "train.learning_rate: {low: 0, high: 0.01}\n",
            "train.learning_rate: {'low': 0, 'high': 0.01} is not allowed; 0: expected a number in (0, 1]",
        ),
        (
            "train.optimizer: {choices: [adam, lion]}\n",
            "train.optimizer: {'choices': ['adam', 'lion']} is not allowed; 'lion': expected one of adam",
        ),
        (
            "train.epochs: {low: 10, high: 5}\n",
            "train.epochs: {'low': 10, 'high': 5} is not allowed; expected low below high",
        ),
        ("train.label_smoothing: 0.1\n", "train.label_smoothing: 0.1 is not allowed; expected {low: ..., high: ...}"),
    ],
)
def test_a_bad_space_is_refused_in_one_line_with_its_line_number(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "search.yaml"
    path.write_text("# comment\n" + text)
    with pytest.raises(PipelineError) as refused:
        load_space(path)
    assert list(refused.value.problems) == [f"{path}:2: {problem}"] or refused.value.problems[0].startswith(
        f"{path}:2: {problem}"
    ), refused.value.problems


def test_the_shipped_space_is_valid_and_typed() -> None:
    space = load_space(ROOT / "search.yaml")
    assert space["train.min_images"].integer and not space["train.learning_rate"].integer
    assert "auto" in space["train.batch_size"].choices


def test_an_unreachable_storage_is_one_line_without_its_password() -> None:
    url = f"postgresql://someone:secret@127.0.0.1:{free_port()}/studies"
    with pytest.raises(PipelineError) as refused:
        open_storage(url, heartbeat_seconds=5)
    (line,) = refused.value.problems
    assert line.startswith(
        f"--storage postgresql://someone:***@127.0.0.1:{url.split(':')[-1].split('/')[0]}/studies: cannot reach"
    )
    assert "secret" not in line and line.endswith("start the server or correct the URL")


def test_a_study_of_other_data_or_settings_is_refused(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/study.db", heartbeat_seconds=5)
    first = {"space": {"a": 1}, "data": {"files": "x"}, "fixed_settings": {}, "seeds": [1]}
    open_study(storage, "s", first, 5, 0)
    open_study(storage, "s", first, 5, 0)  # the same: joined
    with pytest.raises(PipelineError, match=r"^study 's': it searched other data, seeds than this worker's"):
        open_study(storage, "s", {**first, "data": {"files": "y"}, "seeds": [2]}, 5, 0)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() without optimize(), on purpose
def test_a_new_study_starts_from_params_yaml(tmp_path: Path) -> None:
    """The shipped params.yaml lies in the shipped space, so a search's first trial is the defaults
    themselves, queued once however many workers create the study."""
    space, train = load_space(ROOT / "search.yaml"), load_params(ROOT / "params.yaml").train
    start = starting_point(space, train)
    assert start == {name: getattr(train, name.removeprefix("train.")) for name in space}
    storage = open_storage(f"sqlite:///{tmp_path}/study.db", heartbeat_seconds=5)
    wanted = {"space": {"a": 1}, "data": {"files": "x"}, "fixed_settings": {}, "seeds": [1]}
    study = open_study(storage, "s", wanted, 5, 0, start)
    open_study(storage, "s", wanted, 5, 0, start)  # a second worker joins: nothing more queued
    assert suggest(study.ask(), space) == start
    assert suggest(study.ask(), space) != start  # then the sampler's own draws
    # A params.yaml outside the space (a rate above its range) starts nothing.
    assert starting_point(space, dataclasses.replace(train, learning_rate=0.5)) is None


def test_the_command_refuses_a_bad_space_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("train.dropout: {low: 0, high: 0.5}\n")
    done = subprocess.run(
        [sys.executable, "-m", "tools.search", "--space", str(tmp_path / "space.yaml"), "--storage", f"sqlite:///{tmp_path}/s.db"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"search: error: {tmp_path}/space.yaml:1: train.dropout: unknown key; known keys: "
        + done.stderr.split("known keys: ")[1].strip()
    ]
    assert not (tmp_path / "s.db").exists()


def test_trials_are_experiments_and_the_best_is_applied(searchable: Project) -> None:
    done = search(searchable, "--trials", "2", "--seeds", "5", "--heartbeat", "2")
    assert "search: trial 0: validation accuracy" in done.stderr + done.stdout
    best_line = [line for line in done.stdout.splitlines() if "apply it with" in line]
    assert best_line, done.stdout
    name = best_line[0].split("`dvc exp apply ")[1].split("`")[0]
    shown = json.loads(searchable.dvc("exp", "show", "--json").stdout)
    experiments = {
        exp["name"]: exp["data"]
        for commit in shown
        for run in commit.get("experiments") or []
        for exp in run.get("revs", [])
    }
    assert {"lenet5-0", "lenet5-1"} <= set(experiments), sorted(experiments)
    study = studied(searchable, "lenet5")
    rates = {trial.user_attrs["experiments"][0]: trial.params["train.learning_rate"] for trial in study.trials}
    for exp_name, rate in rates.items():
        params = experiments[exp_name]["params"]["params.yaml"]["data"]["train"]
        assert params["learning_rate"] == pytest.approx(rate) and params["seed"] == 5
        assert "eval.json" in " ".join(experiments[exp_name]["metrics"])
    searchable.dvc("exp", "apply", name)
    assert searchable.params()["train"]["learning_rate"] == pytest.approx(rates[name])
    # A second worker of the same study with other seeds is refused, naming what differs.
    refused = search(searchable, "--trials", "3", "--seeds", "6", check=False)
    assert refused.returncode == 2 and "study 'lenet5': it searched other seeds" in refused.stderr


def test_the_pruner_stops_a_trailing_trial_in_the_train_stage(searchable: Project) -> None:
    import optuna

    search(searchable, "--trials", "1", "--prune-after", "1", "--heartbeat", "2")
    study = studied(searchable, "lenet5")
    # A finished trial that reached an accuracy of 2 at every point: every real one trails it.
    distributions = {"train.learning_rate": optuna.distributions.FloatDistribution(0.001, 0.004, log=True)}
    study.add_trial(
        optuna.trial.create_trial(
            params={"train.learning_rate": 0.002}, distributions=distributions, value=2.0,
            intermediate_values={25: 2.0, 50: 2.0, 75: 2.0, 100: 2.0},
        )
    )  # fmt: skip
    done = search(searchable, "--trials", "3", "--prune-after", "1", "--heartbeat", "2")
    states = [trial.state.name for trial in studied(searchable, "lenet5").trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"], states
    assert "search: trial 2: pruned at 50% of seed" in done.stdout + done.stderr
    log = (searchable.path / ".search/logs/lenet5-2.log").read_text()
    assert "train: pruned at 2/4 of its schedule (epoch 1)" in log
    listed = searchable.dvc("exp", "list", "--name-only").stdout.split()
    assert "lenet5-0" in listed and "lenet5-2" not in listed  # a pruned run is no experiment


def test_two_workers_share_a_study_on_postgresql_and_survive_a_kill(
    searchable: Project, postgres_url: str, tmp_path: Path
) -> None:
    trials = 4
    workers = [clone_project(searchable, tmp_path / name, searchable.env) for name in ("a", "b")]
    command = [sys.executable, "-m", "tools.search", "--trials", str(trials), "--storage", postgres_url]
    command += ["--study", "shared", "--heartbeat", "2", "--prune-after", "100"]
    processes = [
        subprocess.Popen(
            command,
            cwd=worker.path,
            env=worker.env,
            stdout=(worker.path / "out.txt").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for worker in workers
    ]
    killed, survivor = processes
    try:
        # Worker a dies (its whole process group: the search, dvc and the train stage) once its
        # first trial is training.
        deadline = time.monotonic() + 300
        logs = workers[0].path / ".search/logs"
        while not any("train: epoch 1/" in log.read_text() for log in logs.glob("*.log")):
            assert time.monotonic() < deadline and killed.poll() is None, (workers[0].path / "out.txt").read_text()
            time.sleep(0.2)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
        assert survivor.wait(timeout=600) == 0, (workers[1].path / "out.txt").read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    optuna = optuna_quietly()
    study = studied(searchable, "shared", postgres_url)
    complete = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    failed = [trial for trial in study.trials if trial.state.name == "FAIL"]
    assert len(complete) == trials and len(failed) == 1, [t.state.name for t in study.trials]
    # The killed trial was run again, with its own settings, by the other worker.
    retried = [
        trial
        for trial in complete
        if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial) == failed[0].number
    ]
    assert len(retried) == 1 and retried[0].params == failed[0].params
    # Each finished trial is one experiment, in exactly one clone: none lost, none run twice.
    names = {trial.user_attrs["experiments"][0] for trial in complete}
    listed = [name for worker in workers for name in worker.dvc("exp", "list", "--name-only").stdout.split()]
    assert sorted(listed) == sorted(names), (listed, names)


def test_workers_that_start_together_on_an_empty_database_all_join(postgres_url: str) -> None:
    """Each worker's storage creates Optuna's tables when they are missing: started together, they
    race to, and the ones that lose must try again rather than stop."""
    script = (
        "import sys, time; from lenet5.training.tuning import open_storage, open_study; "
        "time.sleep(float(sys.argv[2]) - time.time()); "
        "storage = open_storage(sys.argv[1], heartbeat_seconds=5); "
        "open_study(storage, 'together', {'space': {}}, 5, None); print('joined')"
    )
    start = str(time.time() + 3)  # one moment for all, after every interpreter has started
    command = [sys.executable, "-c", script, postgres_url, start]
    workers = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)
    ]
    results = [worker.communicate(timeout=120) for worker in workers]
    assert [out.strip() for out, _ in results] == ["joined"] * 6, [err[-300:] for _, err in results]
