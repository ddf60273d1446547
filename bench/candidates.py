"""Candidate settings over seeds, by the protocol: choose on validation, report on test.

Each candidate is params.yaml with some `-S section.key=value` changes (DVC's own syntax, read by
the same YAML 1.2 rules and checks as params.yaml). It trains once per seed with
`lenet5.training.loop.fit`, the train stage's own function, each run in its own process on the real
MNIST (the arrays of `dvc repro prepare`). Every run is appended to a JSON file of runs, so the
tables in docs/history.md come from committed data (`--table`).

- `--split val` (choosing; the choosing seeds 1-5 by default): the validation accuracy after every
  epoch. The test set is not read.
- `--split test` (reporting; the reporting seeds 101-110 by default): the same, and the final
  model's test accuracy, plain and with test-time augmentation (`shifted_views`), which is
  reported on its own line and never as the headline.

    python -m bench.candidates --name elastic -S train.elastic_strength=3 --out bench/results/x.json
    python -m bench.candidates --table bench/results/x.json [--against NAME] [--benchmark RUNS] [--curves]

Running a candidate again with other seeds (same name and changes) adds them to it.
`--jobs 2` trains two seeds side by side, one thread each (`train.threads=1`); on 2 cores it
was no faster than one run at a time on both (about 170 s for two 5-epoch runs either way), and its
seconds are then shared-machine figures. Speed is measured by bench/train_speed.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from ruamel.yaml import YAML

from lenet5.config import PARAMS_FILE, Params, load_params
from lenet5.cpu import describe
from lenet5.errors import PipelineError
from lenet5.evaluation.over_seeds import CHOOSING_SEEDS, REPORTING_SEEDS, Spread, difference
from lenet5.files import write_json
from lenet5.process import run_command
from lenet5.training.schedule import size_training

DATA = Path("data/prepared")
SPLITS = {"val": CHOOSING_SEEDS, "test": REPORTING_SEEDS}
TTA_SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))  # (down, right) in pixels


def with_changes(changes: list[str], out: Path) -> Params:
    """params.yaml with `section.key=value` changes, written to `out` and checked as params.yaml is."""
    yaml = YAML()  # round-trip: comments and order kept, YAML 1.2 values as DVC reads them
    document = yaml.load(PARAMS_FILE.read_text())
    for change in changes:
        key, separator, text = change.partition("=")
        section, _, name = key.partition(".")
        if not separator or section not in document or name not in document[section]:
            raise PipelineError(f"-S {change}: expected section.key=value with a key of {PARAMS_FILE}")
        document[section][name] = yaml.load(text)
    with open(out, "w") as handle:
        yaml.dump(document, handle)
    return load_params(out)


def train_one(params_path: Path, seed: int, split: str) -> dict[str, Any]:
    """One run: train with these params and seed; validation after every epoch, test only if asked."""
    from lenet5.training.backend import configure_backend, select_backend

    params = load_params(params_path)
    config = dataclasses.replace(params.train, seed=seed)
    select_backend(config.backend)
    from lenet5.data.splits import load_split
    from lenet5.training.loop import fit
    from lenet5.training.model import build_lenet5
    from lenet5.training.placement import place

    train, validation = load_split(DATA, "train"), load_split(DATA, "val")
    config = size_training(config, len(train[1])).config
    configure_backend(config.seed, config.threads)
    placement = place(config.distribute)
    with placement.scope():
        model = build_lenet5()
        started = time.perf_counter()
        history = fit(model, config, train, validation)
        seconds = time.perf_counter() - started
    from lenet5.evaluation.scoring import score
    from lenet5.training.model import predict_probabilities

    run: dict[str, Any] = {
        "seed": seed,
        # The saved model's (the weights' average, with train.ema_momentum), and during training.
        "val_accuracy": score(predict_probabilities(model, validation[0]), validation[1])[1],
        "epoch_val_accuracy": [row["val_accuracy"] for row in history],
        "seconds": seconds,
    }
    if split == "test":
        images, labels = load_split(DATA, "test")
        run["test_accuracy"] = score(predict_probabilities(model, images), labels)[1]
        views = [predict_probabilities(model, view) for view in shifted_views(images)]
        run["tta_test_accuracy"] = score(np.mean(views, axis=0), labels)[1]
    return run


def shifted_views(images: np.ndarray) -> list[np.ndarray]:
    """Test-time augmentation: each digit as it is and moved one pixel each way (black fills in).
    Five forward passes per digit instead of one: it changes what inference costs."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    size = images.shape[1]
    return [padded[:, 1 + dy : 1 + dy + size, 1 + dx : 1 + dx + size] for dy, dx in TTA_SHIFTS]


def run_seeds(changes: list[str], seeds: tuple[int, ...], split: str, jobs: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        params_path = Path(folder) / "params.yaml"
        if jobs > 1:
            changes = [*changes, "train.threads=1"]
        with_changes(changes, params_path)

        def one(seed: int) -> dict[str, Any]:
            command = [sys.executable, "-m", "bench.candidates", "--one", str(params_path), "--seed", str(seed)]
            done = subprocess.run([*command, "--split", split], capture_output=True, text=True)
            if done.returncode != 0:
                raise PipelineError(f"seed {seed} failed: {done.stderr.strip().splitlines()[-1:]}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"seed {seed}: validation {run['val_accuracy']:.4f}", file=sys.stderr, flush=True)
            return run

        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(one, seeds))


def parse_seeds(text: str) -> tuple[int, ...]:
    low, _, high = text.partition("-")
    return tuple(range(int(low), int(high or low) + 1))


def final(runs: list[dict[str, Any]], key: str) -> Spread | None:
    """`key` over the runs; None where the runs do not hold it (choosing runs have no test score)."""
    return Spread.of([run[key] for run in runs]) if all(key in run for run in runs) else None


def percent(spread: Spread | None) -> str:
    return f"{spread.mean * 100:.2f} ± {spread.std * 100:.2f}" if spread else "-"


def benchmark_case(path: Path, case: str = "default", backend: str = "tensorflow") -> dict[str, Any]:
    """A case of a `bench.train_speed --runs` file as a candidate: each run's final test accuracy
    (its seconds leave validation out, so they are not shown beside these)."""
    runs = [
        run
        for run in json.loads(path.read_text())["runs"]
        if (run["case"], run["backend"].split()[0]) == (case, backend)
    ]
    reported = [{"seed": run["seed"], "test_accuracy": run["epoch_accuracies"][-1]} for run in runs]
    return {"name": f"{path.name}: {case}, {backend}", "changes": [], "jobs": 1, "runs": reported}


def table(path: Path, against: str | None, benchmark: Path | None = None) -> str:
    """One row per candidate: n, validation (and test, where reported) as mean ± std in %, seconds.
    With `benchmark`, its TensorFlow default case comes first, as one more candidate."""
    candidates = json.loads(path.read_text())["candidates"]
    if benchmark:
        candidates.insert(0, benchmark_case(benchmark))
    reference = next((c for c in candidates if c["name"] == against), None)
    if against and reference is None:
        raise PipelineError(f"--against {against!r}: no such candidate in {path}")
    lines = [
        "| candidate | -S changes to params.yaml | seeds | validation % | test % | 95% interval vs reference "
        "| test with TTA % | seconds per run |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for candidate in candidates:
        runs = candidate["runs"]
        seeds = [run["seed"] for run in runs]
        test = final(runs, "test_accuracy")
        versus = "-"
        if test and reference and reference is not candidate:
            delta = difference(test, final(reference["runs"], "test_accuracy"))  # type: ignore[arg-type]
            versus = f"{delta.delta * 100:+.2f} ({delta.low * 100:+.2f} to {delta.high * 100:+.2f})"
        seconds = final(runs, "seconds")
        side_by_side = f" ({candidate['jobs']} side by side)" if candidate["jobs"] > 1 else ""
        lines.append(
            f"| {candidate['name']} | {' '.join(candidate['changes']) or '-'} "
            f"| {min(seeds)}-{max(seeds)} (n={len(runs)}) "
            f"| {percent(final(runs, 'val_accuracy'))} | {percent(test)} | {versus} "
            f"| {percent(final(runs, 'tta_test_accuracy'))} "
            f"| {f'{seconds.mean:.0f}' if seconds else '-'}{side_by_side} |"
        )
    return "\n".join(lines)


def curves(path: Path) -> str:
    """The mean validation accuracy after each epoch, one row per candidate."""
    candidates = json.loads(path.read_text())["candidates"]
    longest = max(len(run["epoch_val_accuracy"]) for c in candidates for run in c["runs"])
    lines = [
        "| candidate | " + " | ".join(str(e) for e in range(1, longest + 1)) + " |",
        "| --- |" + " ---: |" * longest,
    ]
    for candidate in candidates:
        epochs = [run["epoch_val_accuracy"] for run in candidate["runs"]]
        means = [Spread.of([curve[e] for curve in epochs]).mean * 100 for e in range(min(map(len, epochs)))]
        cells = [f"{mean:.2f}" for mean in means] + [""] * (longest - len(means))
        lines.append(f"| {candidate['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", help="the candidate's name in the results file")
    parser.add_argument("-S", dest="changes", action="append", default=[], help="section.key=value, as dvc exp run")
    parser.add_argument("--split", choices=list(SPLITS), default="val", help="val: choosing; test: reporting")
    parser.add_argument("--seeds", help="a range like 1-5; default: the split's seeds")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained side by side, one thread each")
    parser.add_argument("--out", type=Path, help="the JSON file of candidates the runs are added to")
    parser.add_argument("--table", type=Path, help="train nothing: the table of this file")
    parser.add_argument("--against", help="with --table: the candidate the test intervals are against")
    parser.add_argument("--curves", action="store_true", help="with --table: mean validation % after each epoch")
    parser.add_argument(
        "--benchmark", type=Path, help="with --table: a bench.train_speed --runs file's default case too"
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # a params file: one run, here
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(curves(args.table) if args.curves else table(args.table, args.against, args.benchmark))
        return
    if args.one:
        print(json.dumps(train_one(args.one, args.seed, args.split)))
        return
    if not (args.name and args.out):
        raise PipelineError("--name and --out are needed to train a candidate")
    if not (DATA / "train_images.npy").is_file():
        raise PipelineError(f"{DATA}: missing; run `dvc repro prepare` first")
    seeds = parse_seeds(args.seeds) if args.seeds else SPLITS[args.split]
    started = time.time()
    runs = run_seeds(args.changes, seeds, args.split, args.jobs)
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {"candidates": []}
    saved["machine"] = describe()
    entry = {"name": args.name, "changes": args.changes, "split": args.split, "jobs": args.jobs, "runs": []}
    same = [c for c in saved["candidates"] if {**c, "runs": []} == entry]  # more seeds of a candidate
    if not same:
        saved["candidates"].append(entry)
    (same[0] if same else entry)["runs"] += runs
    write_json(args.out, saved)
    print(f"{args.name}: {len(runs)} runs in {time.time() - started:.0f} s", file=sys.stderr)
    print(next(row for row in table(args.out, None).splitlines() if row.startswith(f"| {args.name} |")))


if __name__ == "__main__":
    run_command("candidates", main)
