"""Search the settings of search.yaml with Optuna, each trial a DVC experiment (`make search`).

    python -m tools.search --trials 20                        # one machine, the study in .search/
    python -m tools.search --trials 20 --seeds 1 2 3          # each trial scored over three seeds
    python -m tools.search --trials 40 --storage postgresql://USER@HOST/DB   # a worker of many

A new study's first trial is params.yaml's own value of every setting of search.yaml (when each
lies in its range): the search starts from what you have, and its best is never worse on
validation. Each later trial: TPE picks a value for every setting, and `dvc exp run -n STUDY-N -S ...`
runs the pipeline up to `--stage` (evaluate) once per seed, so `dvc exp show` and the VS Code
extension list the trial with its params and metrics. Its score is the validation accuracy after
the last epoch (metrics/train/metrics.json, the train stage's DVCLive log), averaged over the
seeds; the test set chooses nothing. After every quarter of each run the trial reports its
validation accuracy, and the median pruner stops one that trails the finished trials there.

Workers in other clones (other machines) join the same study with the same `--storage` URL and
`--study` name; together they run `--trials` trials in all. A worker that dies leaves its trial to
the others once its heartbeat is `3 x --heartbeat` seconds old (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from lenet5.config import PARAMS_FILE, load_params
from lenet5.data.sources import load_sources
from lenet5.errors import PipelineError, first_line
from lenet5.process import run_command
from lenet5.training.tuning import (
    DEFAULT_STORAGE,
    SPACE_FILE,
    STEPS_PER_RUN,
    TrialLink,
    digest,
    load_space,
    open_storage,
    open_study,
    optuna_quietly,
    safe_url,
    signature,
    starting_point,
    suggest,
)

SOURCES_FILE = Path("data/sources.yaml")
# The train stage's DVCLive log (`--live` in dvc.yaml): `eval.accuracy` is the last epoch's validation accuracy.
VALIDATION_METRICS = Path("metrics/train/metrics.json")
TEST_METRICS = Path("metrics/eval.json")  # shown beside each trial, never used to choose
LOGS = Path(".search/logs")  # each run's output, in full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials in the study, all workers together")
    parser.add_argument("--seeds", type=int, nargs="+", help="train.seed of each trial's runs (default: params.yaml's)")
    parser.add_argument("--study", default="lenet5", help="the study's name in its storage")
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="the study's database URL, shared by all workers")
    parser.add_argument("--space", type=Path, default=SPACE_FILE, help="the settings to search and their ranges")
    parser.add_argument("--stage", default="evaluate", help="the pipeline's stage each trial runs up to")
    parser.add_argument("--heartbeat", type=int, default=30, help="seconds between a worker's signs of life")
    parser.add_argument("--prune-after", type=int, default=5, help="finished trials before the pruner stops any")
    parser.add_argument(
        "--sampler-seed", type=int, help="TPE's seed, for a study of one worker that repeats (default: random)"
    )
    parser.add_argument("--push", metavar="GIT_REMOTE", help="`dvc exp push` each trial there (many machines)")
    args = parser.parse_args()
    if not 1 <= args.trials <= 10_000:
        raise PipelineError(f"--trials {args.trials}: expected 1 to 10,000")
    if args.heartbeat < 1:
        raise PipelineError(f"--heartbeat {args.heartbeat}: expected 1 second or more")
    if args.prune_after < 0:
        raise PipelineError(f"--prune-after {args.prune_after}: expected 0 or more finished trials")

    space = load_space(args.space)
    params = load_params(PARAMS_FILE)
    seeds = args.seeds or [params.train.seed]
    fixed = {
        section: {
            key: value for key, value in vars(getattr(params, section)).items() if f"{section}.{key}" not in space
        }
        for section in ("prepare", "train")
    }
    fixed["train"].pop("seed")
    sources = load_sources(SOURCES_FILE)
    data = {"name": sources.name, "files": {role: file.sha256 for role, file in sources.files.items()}}
    wanted = signature(space, data, json.loads(json.dumps(fixed)), seeds)

    optuna_quietly()
    storage = open_storage(args.storage, args.heartbeat)
    start = starting_point(space, params.train)
    study = open_study(storage, args.study, wanted, args.prune_after, args.sampler_seed, start)
    worker = Worker(args, study, space, seeds)
    print(
        f"search: study {args.study!r} in {safe_url(args.storage)} ({digest(wanted)}): {len(space)} settings, "
        f"seeds {', '.join(map(str, seeds))}, {args.trials} trials by all workers",
        flush=True,
    )
    worker.run()
    worker.print_best()


class Worker:
    """Runs trials of `study` until it has `trials` finished ones, with whichever workers join it."""

    def __init__(self, args: argparse.Namespace, study: Any, space: dict[str, Any], seeds: list[int]) -> None:
        self.args, self.study, self.space, self.seeds = args, study, space, seeds

    def counts(self) -> tuple[int, int]:
        from optuna.trial import TrialState

        states = [trial.state for trial in self.study.get_trials(deepcopy=False)]
        done = sum(state in (TrialState.COMPLETE, TrialState.PRUNED) for state in states)
        return done, states.count(TrialState.RUNNING)

    def run(self) -> None:
        from optuna.storages import fail_stale_trials
        from tqdm import tqdm

        LOGS.mkdir(parents=True, exist_ok=True)
        done, _ = self.counts()
        with tqdm(total=self.args.trials, initial=min(done, self.args.trials), unit="trial", desc="search") as bar:
            self.bar = bar
            while True:
                fail_stale_trials(self.study)  # a dead worker's trial goes back to the queue
                done, running = self.counts()
                bar.n = min(done, self.args.trials)
                bar.refresh()
                if done >= self.args.trials:
                    return
                if done + running >= self.args.trials:
                    # The last trials are running elsewhere: wait for them, or for their worker's
                    # heartbeat to go stale (then this worker runs them again).
                    time.sleep(self.args.heartbeat)
                    continue
                # One trial at a time, through `optimize`: Optuna beats the heartbeat while it runs,
                # takes a queued (retried) trial first, and records a Ctrl-C as a failed trial.
                self.study.optimize(self.objective, n_trials=1, catch=())

    def objective(self, trial: Any) -> float:
        import optuna

        values = suggest(trial, self.space)
        sets = [arg for name, value in values.items() for arg in ("-S", f"{name}={json.dumps(value)}")]
        names, accuracies, tests = [], [], []
        for index, seed in enumerate(self.seeds):
            name = f"{self.args.study}-{trial.number}" + (f"-seed{seed}" if len(self.seeds) > 1 else "")
            link = TrialLink(self.args.storage, self.args.study, trial._trial_id, index * STEPS_PER_RUN)
            log = LOGS / f"{name}.log"
            command = ["dvc", "exp", "run", "--name", name, *sets, "-S", f"train.seed={seed}", self.args.stage]
            with log.open("w") as out:
                done = subprocess.run(
                    command, stdout=out, stderr=subprocess.STDOUT, env=os.environ | link.environment()
                )
            if done.returncode:
                pruned = self.study._storage.get_trial(trial._trial_id).user_attrs.get("pruned_at_step")
                if pruned is not None:
                    self.note(f"trial {trial.number}: pruned at {pruned % STEPS_PER_RUN}% of seed {seed}'s run")
                    raise optuna.TrialPruned()
                raise PipelineError(
                    f"trial {trial.number}: `{' '.join(command)}` failed: {last_error(log)} (whole output: {log})"
                )
            names.append(name)
            accuracies.append(metric(VALIDATION_METRICS, "eval", "accuracy"))
            tests.append(metric(TEST_METRICS, "accuracy"))
            if self.args.push:
                push = subprocess.run(["dvc", "exp", "push", self.args.push, name], capture_output=True, text=True)
                if push.returncode:
                    raise PipelineError(f"`dvc exp push {self.args.push} {name}` failed: {last_line(push.stderr)}")
        score = sum(accuracies) / len(accuracies)
        trial.set_user_attr("experiments", names)
        trial.set_user_attr("validation_accuracies", accuracies)  # per seed, in --seeds' order: the spread
        trial.set_user_attr("clone", f"{socket.gethostname()}:{Path.cwd()}")
        trial.set_user_attr("test_accuracy", sum(tests) / len(tests))  # reported, never chosen on
        shown = " ".join(
            f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}" for name, value in values.items()
        )
        self.note(f"trial {trial.number}: validation accuracy {score:.4f} ({', '.join(names)}) {shown}")
        return score

    def note(self, line: str) -> None:
        self.bar.write(f"search: {line}")

    def print_best(self) -> None:
        from optuna.trial import TrialState

        # Trials added by hand (study.add_trial) ran no experiment: they cannot be applied.
        finished = [
            trial
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "experiments" in trial.user_attrs
        ]
        if not finished:
            print("search: no trial finished; see the logs in .search/logs/", flush=True)
            return
        best = max(finished, key=lambda trial: (trial.value, -trial.number))
        names, clone = best.user_attrs["experiments"], best.user_attrs["clone"]
        print(
            f"search: best of {len(finished)} finished trials: trial {best.number}, validation accuracy "
            f"{best.value:.4f} (mean over seeds {', '.join(map(str, self.seeds))}; test accuracy "
            f"{best.user_attrs['test_accuracy']:.4f}, not used to choose)",
            flush=True,
        )
        for name, value in best.params.items():
            print(
                f"search:   {name}: {value:.4g}" if isinstance(value, float) else f"search:   {name}: {value}",
                flush=True,
            )
        here = f"{socket.gethostname()}:{Path.cwd()}"
        where = "" if clone == here else f" (it ran in {clone}: `dvc exp pull GIT_REMOTE {names[0]}` first)"
        print(f"search: apply it with `dvc exp apply {names[0]}`{where}", flush=True)


def metric(path: Path, *keys: str) -> float:
    try:
        value: Any = json.loads(path.read_text())
        for key in keys:
            value = value[key]
        return float(value)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{path}: no {'.'.join(keys)} after the trial's run ({first_line(error)})") from None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def last_error(log: Path) -> str:
    """The run's most telling line: a stage's own `error:` line, else DVC's last."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]
    return (errors or lines or ["no output"])[-1]


if __name__ == "__main__":
    run_command("search", main)
