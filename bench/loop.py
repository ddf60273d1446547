"""The loop a user waits on: `dvc exp run`, a queued sweep of seeds and a `dvc repro` with nothing to do,
each timed against the training inside it.

Each commit given (`--rev`, repeatable: the one before a change and the one after) is cloned into a
temporary folder and set up as a user's clone is (`make setup`: its own locked environment), with
MNIST from $MNIST_MIRROR; `dvc repro prepare` runs there untimed. Then, per commit:

- `exp_run`: `dvc exp run -S train.seed=S`, its wall time over the seconds the train stage spent
  training (metrics/train_timing.json). DVC's output is timestamped line by line as it arrives, so
  each stage's seconds (from DVC's "Running stage" to the lock update after it), the train stage's
  start-up (to its "training with" line) and DVC's own time around the stages are reported too.
  Runs of the commits alternate, so a slow spell of the machine falls on both.
- `noop`: `dvc repro` with nothing changed: the median of NOOP_RUNS.
- `sweep`: `dvc exp run --queue` of `--sweep` seeds, then `dvc queue start -j J`, its wall time until
  every queued experiment has succeeded, over the sum of their training seconds. Every commit runs
  it with the first `--jobs`; the last commit also with each other `--jobs` (the question is how
  many workers to recommend, on the code that users get).

Every run has a seed no other run here has, since DVC would restore a repeated one from its run
cache instead of training: these runs time the loop, and their accuracies are not reported.

    python -m bench.loop --rev ef11898 --rev HEAD [--exp-runs 2] [--sweep 10] [--jobs 1] --out FILE
    python -m bench.loop --table FILE

The workers' output goes to a file, never to this process's pipes (a queue worker can outlive its
`dvc queue start`); each clone's workers are stopped before its folder is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lenet5.cpu import describe
from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command

NOOP_RUNS = 5
EXP_RUN_SEEDS = 1001  # the first seed of the exp_run case; sweep k (from 0) starts at 2001 + 100 * k
MAX_SWEEP = 99
SWEEP_POLL_SECONDS = 2.0
SWEEP_TIMEOUT_SECONDS = 4 * 3600
TRAINING_LINE = re.compile(r"^train: ([\d.]+) s of training")
STAGE_LINE = re.compile(r"^Running stage '(\w+)'")
STARTED_LINE = re.compile(r"^train: training with ")
LOCK_LINE = "Updating lock file"


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PipelineError(f"`{' '.join(command)}` in {cwd} failed: {' / '.join(tail)}")
    return done.stdout


def timed_lines(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, list[tuple[float, str]]]:
    """Run `command`, stamping each line of its output (stdout and stderr) with seconds since launch."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = [(time.perf_counter() - started, line.rstrip("\n")) for line in process.stdout or ()]
    process.wait()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise PipelineError(f"`{' '.join(command)}` failed: {' / '.join(text for _, text in lines[-3:])}")
    return wall, lines


def stage_seconds(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Each stage run: from DVC's "Running stage" line to its lock update done (the next line after
    "Updating lock file"); `dvc_before`/`dvc_after`: DVC's own time before the first stage and after
    the last; `train_startup`: the train stage's launch to its "training with" line."""
    seconds: dict[str, float] = {}
    current: tuple[str, float] | None = None
    first_start = last_end = None
    for index, (stamp, text) in enumerate(lines):
        if match := STAGE_LINE.match(text):
            current = (match[1], stamp)
            first_start = stamp if first_start is None else first_start
        elif current and STARTED_LINE.match(text) and current[0] == "train":
            seconds["train_startup"] = stamp - current[1]
        elif current and text.startswith(LOCK_LINE):
            end = lines[index + 1][0] if index + 1 < len(lines) else stamp
            seconds[current[0]] = end - current[1]
            last_end, current = end, None
    if first_start is not None and last_end is not None:
        seconds["dvc_before"] = first_start
        seconds["dvc_after"] = wall - last_end
    return seconds


def training_seconds(lines: list[tuple[float, str]]) -> float:
    found = [float(match[1]) for _, text in lines if (match := TRAINING_LINE.match(text))]
    if not found:
        raise PipelineError("no `train: N s of training` line in the run's output")
    return sum(found)


def set_up_clone(rev: str, folder: Path, env: dict[str, str]) -> Path:
    """A clone of `rev` in `folder`, set up by `make setup`, with `dvc repro prepare` done."""
    clone = folder / "clone"
    run(["git", "clone", "--quiet", "--no-checkout", str(Path.cwd()), str(clone)], folder, env)
    run(["git", "checkout", "--quiet", "-B", "bench", rev], clone, env)  # a commit hash: HEAD would be the clone's
    run(["make", "setup"], clone, env)
    run([".venv/bin/dvc", "repro", "--quiet", "prepare"], clone, env)
    return clone


def clone_env(clone: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if clone is not None:
        env["PATH"] = f"{clone / '.venv/bin'}{os.pathsep}{env['PATH']}"
        env["VIRTUAL_ENV"] = str(clone / ".venv")
    return env


def exp_run(clone: Path, seed: int, changes: list[str]) -> dict[str, Any]:
    env = clone_env(clone)
    wall, lines = timed_lines(["dvc", "exp", "run", *changes, "-S", f"train.seed={seed}"], clone, env)
    train = training_seconds(lines)
    return {"case": "exp_run", "seed": seed, "wall": wall, "train_seconds": train, "stages": stage_seconds(lines, wall)}


def noop(clone: Path) -> dict[str, Any]:
    env = clone_env(clone)
    run(["dvc", "repro", "--quiet"], clone, env)  # settles anything a previous case left to do
    walls = [timed_lines(["dvc", "repro"], clone, env)[0] for _ in range(NOOP_RUNS)]
    return {"case": "noop", "wall": statistics.median(walls), "walls": walls}


def experiment_training_seconds(clone: Path, env: dict[str, str]) -> dict[str, float]:
    """train_seconds of every experiment `dvc exp show --json` lists, by experiment name."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], clone, env))
    found: dict[str, float] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            metrics = (node.get("data") or {}).get("metrics") or {}
            timing = (metrics.get("metrics/train_timing.json") or {}).get("data") or {}
            if "train_seconds" in timing and node.get("name"):
                found[node["name"]] = float(timing["train_seconds"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(shown)
    return found


def sweep(clone: Path, seeds: list[int], jobs: int, changes: list[str]) -> dict[str, Any]:
    """Queue `seeds`, run the queue with `jobs` workers; wall time until all succeeded."""
    env = clone_env(clone)
    before = set(experiment_training_seconds(clone, env))
    names = [f"sweep-j{jobs}-{seed}" for seed in seeds]
    for name, seed in zip(names, seeds, strict=True):
        run(["dvc", "exp", "run", "--queue", "--name", name, *changes, "-S", f"train.seed={seed}"], clone, env)
    log = clone / ".." / f"workers-j{jobs}.log"
    with open(log, "w") as output:
        started = time.perf_counter()
        # The workers' output to a file: they outlive this command, and must hold no pipe of ours.
        subprocess.run(["dvc", "queue", "start", "-j", str(jobs)], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                       stdout=output, stderr=subprocess.STDOUT, check=True)  # fmt: skip
        while True:
            status = run(["dvc", "queue", "status"], clone, env)
            states = [line for line in status.splitlines() if any(name in line for name in names)]
            if any("Failed" in line for line in states):
                raise PipelineError(f"a queued experiment failed: {states}; see {log}")
            if len(states) == len(names) and all("Success" in line for line in states):
                break
            if time.perf_counter() - started > SWEEP_TIMEOUT_SECONDS:
                raise PipelineError(f"the sweep ran past {SWEEP_TIMEOUT_SECONDS} s: {status}")
            time.sleep(SWEEP_POLL_SECONDS)
        wall = time.perf_counter() - started
    trained = {name: seconds for name, seconds in experiment_training_seconds(clone, env).items() if name not in before}
    missing = [name for name in names if name not in trained]
    if missing:
        raise PipelineError(f"no train_seconds for {', '.join(missing)} in `dvc exp show`")
    train = sum(trained[name] for name in names)
    return {"case": "sweep", "jobs": jobs, "seeds": seeds, "wall": wall, "train_seconds": train}


def stop_workers(clone: Path) -> None:
    subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=clone, env=clone_env(clone), capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=60)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", help="a commit to measure (repeat: before and after)")
    parser.add_argument("--exp-runs", type=int, default=2, help="`dvc exp run`s per commit, alternating commits")
    parser.add_argument("--sweep", type=int, default=10, help="seeds in the queued sweep, 0 for none")
    parser.add_argument("--jobs", type=int, action="append", help="queue workers (repeat for several sweeps)")
    parser.add_argument("-S", dest="set", action="append", default=[], metavar="KEY=VALUE",
                        help="a param change for every run (a quick check: -S train.epochs=1)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write every run to this JSON file")
    parser.add_argument("--table", type=Path, help="run nothing: the tables of this --out file")
    args = parser.parse_args()
    if args.table:
        print(tables(json.loads(args.table.read_text())))
        return
    if not args.rev:
        raise PipelineError("--rev: name at least one commit to measure")
    if "MNIST_MIRROR" not in os.environ:
        raise PipelineError("MNIST_MIRROR: set it to a folder holding MNIST's four .gz files (no download here)")
    if not 0 <= args.sweep <= MAX_SWEEP:
        raise PipelineError(f"--sweep {args.sweep}: expected 0 to {MAX_SWEEP}")
    changes = [arg for change in args.set for arg in ("-S", change)]
    revs = {rev: run(["git", "rev-parse", "--short", rev], Path.cwd(), clone_env()).strip() for rev in args.rev}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lenet5-loop-") as scratch:
        clones = {}
        try:
            for rev in args.rev:
                folder = Path(scratch) / revs[rev]
                folder.mkdir()
                clones[rev] = set_up_clone(revs[rev], folder, clone_env())
                print(f"bench.loop: {rev} ({revs[rev]}) cloned and set up", file=sys.stderr, flush=True)
            for index in range(args.exp_runs):
                for rev, clone in clones.items():
                    found = exp_run(clone, EXP_RUN_SEEDS + index, changes)
                    runs.append({"rev": rev, "commit": revs[rev]} | found)
                    print(f"bench.loop: {rev} exp_run {found['wall']:.1f} s", file=sys.stderr, flush=True)
            jobs_list = args.jobs or [1]
            for rev, clone in clones.items():
                runs.append({"rev": rev, "commit": revs[rev]} | noop(clone))
                last = rev == args.rev[-1]
                for index, jobs in enumerate(jobs_list if last else jobs_list[:1]) if args.sweep else ():
                    seeds = [2001 + 100 * index + i for i in range(args.sweep)]
                    found = sweep(clone, seeds, jobs, changes)
                    runs.append({"rev": rev, "commit": revs[rev]} | found)
                    print(f"bench.loop: {rev} sweep -j {jobs} {found['wall']:.1f} s", file=sys.stderr, flush=True)
        finally:
            for clone in clones.values():
                stop_workers(clone)
    saved = {"machine": describe(), "changes": args.set, "runs": runs}
    if args.out:
        write_json(args.out, saved)
    print(tables(saved))


def tables(saved: dict[str, Any]) -> str:
    """Markdown: the loop cases per commit (means over runs), then the exp_run stages per commit."""
    runs = saved["runs"]
    revs = list(dict.fromkeys(run["rev"] for run in runs))
    header = " | ".join(f"{rev} ({_commit(runs, rev)})" for rev in revs)
    from bench.train_speed import describe_machine

    lines = [f"Machine: {describe_machine(saved['machine'])}", "", f"| case | {header} |"]
    lines.append("| --- |" + " ---: |" * len(revs))

    def cell(rev: str, case: str, jobs: int | None = None) -> str:
        found = [r for r in runs if r["rev"] == rev and r["case"] == case and (jobs is None or r.get("jobs") == jobs)]
        if not found:
            return "-"
        wall = statistics.fmean(r["wall"] for r in found)
        if case == "noop":
            return f"{wall:.2f} s"
        train = statistics.fmean(r["train_seconds"] for r in found)
        return f"{wall:.0f} s for {train:.0f} s of training: {wall / train:.2f}x (n={len(found)})"

    lines.append("| `dvc exp run` | " + " | ".join(cell(rev, "exp_run") for rev in revs) + " |")
    for jobs in sorted({r["jobs"] for r in runs if r["case"] == "sweep"}):
        count = next(len(r["seeds"]) for r in runs if r["case"] == "sweep")
        label = f"queued sweep, {count} seeds, `-j {jobs}`"
        lines.append(f"| {label} | " + " | ".join(cell(rev, "sweep", jobs) for rev in revs) + " |")
    lines.append("| `dvc repro`, nothing to do (median) | " + " | ".join(cell(rev, "noop") for rev in revs) + " |")
    stages = list(dict.fromkeys(key for r in runs if r["case"] == "exp_run" for key in r["stages"]))
    lines += ["", "`dvc exp run`, seconds per stage (mean over its runs):", ""]
    lines.append("| part | " + " | ".join(revs) + " |")
    lines.append("| --- |" + " ---: |" * len(revs))
    for stage in stages:
        cells = []
        for rev in revs:
            found = [r for r in runs if r["rev"] == rev and r["case"] == "exp_run" and stage in r["stages"]]
            values = [r["stages"][stage] for r in found]
            cells.append(f"{statistics.fmean(values):.1f}" if values else "-")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _commit(runs: list[dict[str, Any]], rev: str) -> str:
    return next(r["commit"] for r in runs if r["rev"] == rev)


if __name__ == "__main__":
    run_command("bench.loop", main)
