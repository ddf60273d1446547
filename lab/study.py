"""The project's own defaults, as a study of its search: on MNIST, params.yaml (the study's first
trial) against the settings TPE draws from search.yaml, each trial scored on the validation split
over the choosing seeds. The test set chooses nothing and is not read here.

In a copy of the product: `python -m tools.search --trials N --seeds 1 2 3 4 5 --sampler-seed 0`.
A draw beats params.yaml when its validation accuracy, paired seed by seed with params.yaml's,
is higher by more than twice the standard error of that difference (the seeds' noise); then the
defaults should change, and the result says so.

    python -m lab.study --trials 5 --choosing-seeds 1 2 3 4 5 --out lab/results/study.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lab.product import product_copy, run
from lenet5.cpu import describe
from lenet5.files import write_json
from lenet5.process import run_command

STUDY = "defaults"


def paired(draw: list[float], defaults: list[float]) -> dict[str, float]:
    """A draw's validation accuracy minus params.yaml's, seed by seed: mean and standard error."""
    differences = [a - b for a, b in zip(draw, defaults, strict=True)]
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("inf")
    return {"mean": statistics.mean(differences), "standard_error": error}


def summary(trials: list[Any]) -> dict[str, Any]:
    """Each trial's settings and validation scores; the best, and whether it beats params.yaml."""
    rows = [
        {
            "number": trial.number,
            "state": trial.state.name,
            "params": trial.params,
            "validation_accuracy": trial.value,
            "validation_accuracies": trial.user_attrs.get("validation_accuracies"),
        }
        for trial in trials
    ]
    finished = [row for row in rows if row["state"] == "COMPLETE"]
    defaults = rows[0]  # the study's first trial is params.yaml's own values (tools/search.py)
    best = max(finished, key=lambda row: (row["validation_accuracy"], -row["number"]))
    beats = None
    if best is not defaults and defaults["state"] == "COMPLETE":
        difference = paired(best["validation_accuracies"], defaults["validation_accuracies"])
        beats = {**difference, "beyond_noise": difference["mean"] > 2 * difference["standard_error"]}
    return {"trials": rows, "defaults_trial": 0, "best_trial": best["number"], "best_against_defaults": beats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, required=True, help="trials in the study, params.yaml's the first")
    parser.add_argument("--choosing-seeds", type=int, nargs="+", required=True)
    parser.add_argument("--prune-after", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    with product_copy() as (folder, env):
        search = [sys.executable, "-m", "tools.search", "--trials", str(args.trials), "--study", STUDY]
        search += ["--seeds", *map(str, args.choosing_seeds), "--sampler-seed", "0"]
        log = run([*search, "--prune-after", str(args.prune_after)], folder, env)
        import optuna

        found = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{folder}/.search/study.db")
        result = summary(found.trials)
    result = {
        "machine": describe(),
        "choosing_seeds": args.choosing_seeds,
        **result,
        "summary": [line for line in log.splitlines() if line.startswith("search:") and "search: trial" not in line],
        "seconds": round(time.perf_counter() - started),
    }
    write_json(args.out, result)
    beats = result["best_against_defaults"]
    verdict = (
        "params.yaml is the best" if beats is None else f"best beats params.yaml beyond noise: {beats['beyond_noise']}"
    )
    print(f"study: {len(result['trials'])} trials, best trial {result['best_trial']}: {verdict}")


if __name__ == "__main__":
    run_command("study", main)
