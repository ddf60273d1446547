"""Training that follows the data set's size, measured at one size: params.yaml's defaults against
the best that the search (tools/search.py) finds for a seeded MNIST subset of that many images.

In a copy of the product training on `tools.mnist_subset --train SIZE --seed 1` (the whole test
set): a search of `--trials` trials over search.yaml, chosen on the validation split with the
choosing seeds; then params.yaml as committed and the search's best, each as DVC experiments over
the reporting seeds, scored on the test set. The test set chooses nothing.

    python -m lab.sizes --size 1000 --trials 4 --choosing-seeds 1 --reporting-seeds 101 102 103 104 105 \\
      --out lab/results/sizes/1000.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lab.product import product_copy, read_json, run
from lenet5.cpu import describe
from lenet5.files import write_json
from lenet5.process import run_command

SUBSET_SEED = 1  # which images make the subset: the same for every size's runs


def use_subset(folder: Path, size: int, env: dict[str, str]) -> None:
    """Points the copy's data/sources.yaml at a subset of `size` MNIST training images, committed."""
    subset = folder / ".subset"
    python = sys.executable
    command = [python, "-m", "tools.mnist_subset", "--train", str(size), "--seed", str(SUBSET_SEED)]
    run([*command, "--mnist", env["MNIST_MIRROR"], "--out", str(subset)], folder, env)
    block = run([python, "-m", "tools.describe_data", str(subset)], folder, env).split("\n# ")[0]
    sources = (folder / "data/sources.yaml").read_text()
    head = sources[: sources.index("files:")].replace("name: MNIST", f"name: MNIST, {size:,} training images")
    head = head[: head.index("mirrors:")] + "mirrors: []\n" + head[head.index("# A transfer") :]
    (folder / "data/sources.yaml").write_text(head + block + "\n")
    with (folder / ".gitignore").open("a") as ignore:
        ignore.write("/.subset/\n")
    env["MNIST_MIRROR"] = str(subset)
    run(["git", "add", "-A"], folder)
    run(["git", "-c", "user.name=lab", "-c", "user.email=lab@localhost", "commit", "-qm", "subset"], folder)


def test_accuracies(folder: Path, env: dict[str, str], name: str, sets: list[str], seeds: list[int]) -> list[dict]:
    """Runs of params.yaml as committed, with `sets` on top, one per seed: test accuracy and the
    schedule the train stage chose. params.yaml goes back to the commit first: `dvc exp run` in the
    workspace leaves the last run's params there (the search's last trial among them)."""
    run(["git", "checkout", "HEAD", "--", "params.yaml"], folder)
    runs = []
    for seed in seeds:
        log = run(
            ["dvc", "exp", "run", "--name", f"{name}-{seed}", *sets, "-S", f"train.seed={seed}", "evaluate"],
            folder,
            env,
        )
        schedule = next(line for line in log.splitlines() if line.startswith("train: ") and "steps" in line)
        accuracy = read_json(folder / "metrics/eval.json")["accuracy"]
        seconds = read_json(folder / "metrics/train_timing.json")["train_seconds"]
        runs.append(
            {
                "seed": seed,
                "test_accuracy": accuracy,
                "train_seconds": seconds,
                "schedule": schedule.removeprefix("train: "),
            }
        )
    return runs


def spread(runs: list[dict]) -> dict[str, Any]:
    values = [run["test_accuracy"] for run in runs]
    return {"mean": statistics.mean(values), "std": statistics.stdev(values), "n": len(values), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, required=True, help="training images in the subset (before validation)")
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--choosing-seeds", type=int, nargs="+", required=True)
    parser.add_argument("--reporting-seeds", type=int, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    with product_copy() as (folder, env):
        use_subset(folder, args.size, env)
        study = f"size-{args.size}"
        search = [sys.executable, "-m", "tools.search", "--trials", str(args.trials), "--study", study]
        search += ["--seeds", *map(str, args.choosing_seeds), "--sampler-seed", "0", "--prune-after", "3"]
        searching = time.perf_counter()
        log = run(search, folder, env)
        search_seconds = time.perf_counter() - searching
        import optuna

        found = optuna.load_study(study_name=study, storage=f"sqlite:///{folder}/.search/study.db")
        best = found.best_trial
        sets = [arg for key, value in best.params.items() for arg in ("-S", f"{key}={json.dumps(value)}")]
        defaults = test_accuracies(folder, env, "defaults", [], args.reporting_seeds)
        searched = test_accuracies(folder, env, "best", sets, args.reporting_seeds)
        states = [trial.state.name for trial in found.trials]
    result = {
        "machine": describe(),
        "size": args.size,
        "subset_seed": SUBSET_SEED,
        "search": {
            "trials": args.trials,
            "choosing_seeds": args.choosing_seeds,
            "best_trial": best.number,
            "best_validation_accuracy": best.value,
            "best_params": best.params,
            "finished": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"),
            "seconds": round(search_seconds),
            # What the search printed, less its line per trial: the transcript docs/make-it-yours.md shows.
            "summary": [
                line for line in log.splitlines() if line.startswith("search:") and "search: trial" not in line
            ],
        },
        "reporting_seeds": args.reporting_seeds,
        "defaults": spread(defaults),
        "best": spread(searched),
        "seconds": round(time.perf_counter() - started),
    }
    write_json(args.out, result)
    print(f"sizes: {args.size}: defaults {result['defaults']['mean']:.4f}, search's best {result['best']['mean']:.4f}")


if __name__ == "__main__":
    run_command("sizes", main)
