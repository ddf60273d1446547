"""Stage check_params: check every value of params.yaml before any other stage runs.

DVC deletes a stage's outputs just before running it, so a stage that found a bad value itself
would already be too late to keep them. This stage comes first in DVC's order (fetch depends on
its marker, and every other stage on fetch's outputs), so a bad params.yaml stops `dvc repro`
here with every output intact. The marker's content never changes, so a good edit reruns only the
stages whose own params changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.config import load_params
from lenet5.files import write_text
from lenet5.process import run_command
from lenet5.training.backend import require_backend

MARKER_TEXT = "params.yaml passed validation\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--marker", type=Path, required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    require_backend(params.train.backend)  # the install command, before any output is touched
    write_text(args.marker, MARKER_TEXT)


if __name__ == "__main__":
    run_command("check_params", main)
