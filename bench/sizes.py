"""Training that follows the data set's size, measured: on seeded MNIST subsets, params.yaml's
defaults against the best that the search (tools/search.py) finds for that size.

For each size: a clone of this repository training on `tools.mnist_subset --train SIZE --seed 1`
(the whole test set); a search of `--trials` trials chosen on the validation split with the
choosing seeds; then the defaults and the search's best, each as DVC experiments over the
reporting seeds, scored on the test set. The test set chooses nothing.

    python -m bench.sizes --sizes 500 1000 5000 20000 --trials 12 --out bench/results/sizes.json

A size already in `--out` is kept and skipped, so sizes can be added run by run. The committed
bench/results/sizes.json: `--sizes 1000 --trials 6`, then `--sizes 500 5000 20000 --trials 4`
(MNIST_MIRROR=../shared/data/mnist), on the machine it names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lenet5.cpu import describe
from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = ("metrics/", "dvc.lock", "plots/", "models/", "bench/results/", "docs/images/")


def clone(size: int, folder: Path, mnist: Path) -> None:
    """This repository's files (its outputs left out), training on a subset of `size` MNIST images."""
    shutil.rmtree(folder, ignore_errors=True)
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if not name.startswith(LEFT_OUT) and (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    python = sys.executable
    subset = folder / ".subset"
    run(
        [
            python,
            "-m",
            "tools.mnist_subset",
            "--train",
            str(size),
            "--seed",
            "1",
            "--mnist",
            str(mnist),
            "--out",
            str(subset),
        ],
        folder,
    )
    block = run([python, "-m", "tools.describe_data", str(subset)], folder).split("\n# ")[0]
    sources = (folder / "data/sources.yaml").read_text()
    head = sources[: sources.index("files:")].replace("name: MNIST", f"name: MNIST, {size:,} training images")
    head = head[: head.index("mirrors:")] + "mirrors: []\n" + head[head.index("# A transfer") :]
    (folder / "data/sources.yaml").write_text(head + block + "\n")
    with (folder / ".gitignore").open("a") as ignore:
        ignore.write("/.subset/\n")
    run(["git", "init", "-q"], folder)
    run(["git", "add", "-A"], folder)
    run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "subset"], folder)


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise PipelineError(f"`{' '.join(command)}` in {cwd} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout


def test_accuracies(folder: Path, name: str, sets: list[str], seeds: list[int]) -> list[float]:
    """Test accuracy of runs of params.yaml as committed, with `sets` on top, one per seed.

    `dvc exp run` in the workspace leaves the last run's params there, the search's last trial
    among them: params.yaml goes back to the commit first, or `-S` would apply on top of those."""
    run(["git", "checkout", "HEAD", "--", "params.yaml"], folder)
    scores = []
    for seed in seeds:
        run(["dvc", "exp", "run", "--name", f"{name}-{seed}", *sets, "-S", f"train.seed={seed}", "evaluate"], folder)
        scores.append(json.loads((folder / "metrics/eval.json").read_text())["accuracy"])
    return scores


def spread(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values), "n": len(values), "runs": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 5000, 20000])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--choosing-seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--reporting-seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105])
    parser.add_argument("--work", type=Path, default=Path("/tmp/lenet5-sizes"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    mnist = Path(os.environ.get("MNIST_MIRROR") or ROOT / "data/raw").resolve()
    env_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    os.environ["PATH"] = env_path
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"machine": describe(), "sizes": {}}
    for size in args.sizes:
        if str(size) in results["sizes"]:
            continue
        started = time.perf_counter()
        folder = args.work / str(size)
        clone(size, folder, mnist)
        os.environ["MNIST_MIRROR"] = str(folder / ".subset")
        seeds = [str(seed) for seed in args.choosing_seeds]
        search = [sys.executable, "-m", "tools.search", "--trials", str(args.trials), "--seeds", *seeds]
        search += ["--study", f"size-{size}", "--sampler-seed", "0", "--prune-after", "3"]
        log = run(search, folder)
        import optuna

        study = optuna.load_study(study_name=f"size-{size}", storage=f"sqlite:///{folder}/.search/study.db")
        best = study.best_trial
        sets = [arg for key, value in best.params.items() for arg in ("-S", f"{key}={json.dumps(value)}")]
        defaults = test_accuracies(folder, "defaults", [], args.reporting_seeds)
        searched = test_accuracies(folder, "best", sets, args.reporting_seeds)
        results["sizes"][str(size)] = {
            "search": {
                "trials": args.trials,
                "choosing_seeds": args.choosing_seeds,
                "best_trial": best.number,
                "best_validation_accuracy": best.value,
                "best_params": best.params,
                "finished": sum(t.state.name == "COMPLETE" for t in study.trials),
                "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
                "log_tail": log.strip().splitlines()[-1:],
            },
            "reporting_seeds": args.reporting_seeds,
            "defaults_test_accuracy": spread(defaults),
            "best_test_accuracy": spread(searched),
            "seconds": round(time.perf_counter() - started),
        }
        write_json(args.out, results)
        print(
            f"sizes: {size}: defaults {statistics.mean(defaults):.4f}, search's best {statistics.mean(searched):.4f}",
            flush=True,
        )


if __name__ == "__main__":
    run_command("sizes", main)
