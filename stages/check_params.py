"""Stage check_params: validate every key of params.yaml before any other stage runs.

DVC deletes a stage's outputs just before running it, so a stage that found a bad value in its
own section would already be too late to keep them. Every stage depends on this stage's marker
file, whose content never changes: a bad params.yaml stops `dvc repro` here with all outputs
intact, and a good edit reruns only the stages whose own params changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages.atomic import write_text
from stages.errors import run_stage
from stages.params import PARAMS_FILE, read_params_file, validate_all

MARKER_TEXT = "params.yaml passed validation\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=PARAMS_FILE)
    parser.add_argument("--marker", type=Path, default=Path("data/params_checked.txt"))
    args = parser.parse_args()
    validate_all(read_params_file(args.params))
    write_text(args.marker, MARKER_TEXT)


if __name__ == "__main__":
    run_stage("check_params", main)
