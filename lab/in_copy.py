"""Runs lab commands in a fresh copy of the product, after its pipeline has made what they read.

    python -m lab.in_copy --repro prepare --run "python -m lab.profile_step --out $PWD/lab/results/profile.json"

In the copy (lab/product.py): `dvc repro TARGET` (the whole pipeline with `--repro all`), then
each `--run` command in turn, with this checkout on PYTHONPATH so `python -m lab.X` finds the lab
(the copy leaves it out). Output paths in the commands should be absolute: they run in the copy.
"""

from __future__ import annotations

import argparse
import os
import shlex

from lab.product import ROOT, product_copy, run
from lenet5.process import run_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repro", required=True, help="the pipeline's stage to run up to first; all: every stage")
    parser.add_argument("--run", action="append", required=True, help="a command to run in the copy (repeatable)")
    args = parser.parse_args()
    with product_copy() as (folder, env):
        run(["dvc", "repro", *([] if args.repro == "all" else [args.repro])], folder, env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        for command in args.run:
            print(run(shlex.split(command), folder, env), end="", flush=True)


if __name__ == "__main__":
    run_command("in_copy", main)
