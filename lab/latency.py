"""Latency per format: how long each exported model takes to answer one digit, one thread.

The export stage scores every format's accuracy on each experiment; how fast each answers is
measured here, on demand, since timing is slow (thousands of single-digit calls) and differs on
every run. It opens the files `dvc repro` wrote (the paths of dvc.yaml's export stage) with the
runtime that serves each, on one thread as on a small device, and times single-digit calls on
the test digits: the median of LATENCY_CALLS after LATENCY_WARMUP. One run on one machine: read
it to the nearest factor, and compare formats within a run.

    python -m lab.latency [--out lab/results/latency.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lenet5.data.splits import load_split
from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command
from lenet5.training.backend import configure_backend, select_backend

LATENCY_WARMUP = 20  # calls before timing: the first ones trace graphs and fill caches
LATENCY_CALLS = 500  # single-digit calls timed; their median is the latency reported
# The export stage's flags that name a model file, the reference (.keras) first.
MODEL_FLAGS = ("--model", "--serving", "--tflite", "--int8")


def export_paths() -> tuple[Path, list[Path]]:
    """The prepared data folder and the model files, as dvc.yaml's export stage names them."""
    from lab.train_speed import stage_command

    command = stage_command("export")
    return Path(command[command.index("--data") + 1]), [Path(command[command.index(f) + 1]) for f in MODEL_FLAGS]


def latency_microseconds(probabilities: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> float:
    """Median time of one call on one digit (batch 1), in microseconds."""
    for image in images[:LATENCY_WARMUP]:
        probabilities(image[np.newaxis])
    times = []
    for image in images[:LATENCY_CALLS]:
        start = time.perf_counter()
        probabilities(image[np.newaxis])
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    select_backend("tensorflow")
    data, paths = export_paths()
    if missing := [str(path) for path in paths if not path.exists()]:
        raise PipelineError(f"{', '.join(missing)}: missing; run `dvc repro export` first")
    images, _ = load_split(data, "test")
    from lenet5.cpu import describe
    from lenet5.serving.runtimes import open_model

    configure_backend(seed=0, threads=1)  # one thread: as on a small device, no format given more cores
    latency = {}
    for path in paths:
        classifier = open_model(path, threads=1)
        latency[classifier.format] = latency_microseconds(classifier.probabilities, images)
        print(f"{classifier.format}: {latency[classifier.format]:,} us per digit ({path})", flush=True)
    if args.out:
        # The files' scores from the export stage that wrote them, beside their timings.
        scores = json.loads(Path("metrics/export_formats.json").read_text())
        write_json(args.out, {"machine": describe(), "microseconds_per_digit": latency, "formats": scores})


if __name__ == "__main__":
    run_command("lab.latency", main)
