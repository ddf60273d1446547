"""One run of the product's pipeline on MNIST, as a user's `dvc exp run` makes it: its scores.

In a fresh copy of the product (lab/product.py): `dvc exp run` up to the export stage with
`SEED_KEY=SEED` (train.seed, or prepare.seed for the split) and, for `--setting preset`, the
preset's settings as the Makefile's `make best` gives them. Writes the test and validation
accuracy, every export format's scores (metrics/export_formats.json), the seconds the train stage
trained and the schedule it chose, and the machine.

    python -m lab.run --setting defaults --seed-key train.seed --seed 101 --out lab/results/runs/defaults-101.json
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from lab.product import ROOT, product_copy, read_json, run
from lenet5.cpu import describe
from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command

SETTINGS = ("defaults", "preset")
SEED_KEYS = ("train.seed", "prepare.seed")


def preset_settings(makefile: Path = ROOT / "Makefile") -> list[str]:
    """The `-S key=value` arguments of the Makefile's BEST (what `make best` runs): one place holds them."""
    text = makefile.read_text()
    found = re.search(r"^BEST := (.*?)(?<!\\)$", text, re.M | re.S)
    if found is None:
        raise PipelineError(f"{makefile}: no `BEST :=` line; the preset's settings are read from it")
    words = shlex.split(found[1].replace("\\\n", " "))
    settings = [value for flag, value in zip(words[::2], words[1::2], strict=True) if flag == "-S"]
    if len(settings) * 2 != len(words):
        raise PipelineError(f"{makefile}: BEST holds more than `-S key=value` pairs: {found[1]!r}")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, required=True, help="params.yaml, or it with the preset")
    parser.add_argument("--seed-key", choices=SEED_KEYS, required=True, help="the seed this run varies")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = preset_settings() if args.setting == "preset" else []
    sets = [word for setting in settings for word in ("-S", setting)]
    with product_copy() as (folder, env):
        command = ["dvc", "exp", "run", *sets, "-S", f"{args.seed_key}={args.seed}", "evaluate", "export"]
        log = run(command, folder, env)
        schedule = next(line for line in log.splitlines() if line.startswith("train: ") and "steps" in line)
        evaluated = read_json(folder / "metrics/eval.json")
        result = {
            "machine": describe(),
            "setting": args.setting,
            "settings": settings,
            "seed_key": args.seed_key,
            "seed": args.seed,
            "test_accuracy": evaluated["accuracy"],
            "val_accuracy": evaluated["val_accuracy"],
            "train_seconds": read_json(folder / "metrics/train_timing.json")["train_seconds"],
            "schedule": schedule.removeprefix("train: "),
            "formats": read_json(folder / "metrics/export_formats.json"),
        }
    write_json(args.out, result)
    print(f"run: {args.setting}, {args.seed_key}={args.seed}: test accuracy {result['test_accuracy']:.4f}")


if __name__ == "__main__":
    run_command("run", main)
