"""Training-speed benchmark: the recipe's loop, plain Keras `fit`, and this project's training.

Each case runs in its own process on the real MNIST (the prepared arrays of `dvc repro prepare`),
so its peak memory is its own. For each: steady samples per second, seconds of training until
the test accuracy first reaches 99.0% (test scoring is not counted), final test accuracy, peak
RSS. Plain Keras runs until it reaches 99.0% or `--max-epochs`. Ratios are against cases measured
in the same run. The project's cases call `lenet5.training.fit`, the train stage's own function:
once with the settings this project used before the speed work (`BEFORE`), once with params.yaml.
Last, the train stage itself runs once into a temporary folder, for its start-up time (launch to
the first training step) and its peak memory.

    python -m bench.train_speed [--max-epochs 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lenet5.config import load_params
from lenet5.data import load_split
from lenet5.errors import PipelineError, run_command

DATA = Path("data/prepared")
TARGET = 0.99
CASES = {
    "recipe": "(a) recipe: 300 train_on_batch steps of 100",
    "keras_fit": "(b) plain Keras model.fit, batch 128",
    "keras_best": "(c) plain Keras model.fit, batch 512, one graph call per epoch",
    "before": "(d) this project's training, settings before the speed work",
    "default": "(e) this project's training, params.yaml",
}
# The strongest plain Keras found (README's speed section has the search: batch 128 to 2048,
# steps_per_execution 1, 32 and a whole epoch): batch 512 with one graph call per epoch.
KERAS_BEST_BATCH = 512
# train: settings that changed with the speed work, as they were (15 epochs, about 43 s on 2 cores).
BEFORE = {"epochs": 15, "learning_rate": 0.003, "warmup_epochs": 1.0, "unaugmented_epochs": 0, "label_smoothing": 0.0}


def clock_callback(model: Any, test: tuple[np.ndarray, np.ndarray], stop_at_target: bool) -> Any:
    """Times each epoch's training steps (validation and test scoring left out); scores the test set."""
    import keras

    from lenet5.model import predict_probabilities

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.accuracy = 0.0
            self.seconds_to_target: float | None = None

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.trained = time.perf_counter()  # the last one of the epoch counts

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(self.trained - self.started)
            predicted = np.argmax(predict_probabilities(model, test[0]), axis=1)
            self.accuracy = float(np.mean(predicted == test[1]))
            if self.seconds_to_target is None and self.accuracy >= TARGET:
                self.seconds_to_target = sum(self.seconds)
                if stop_at_target:
                    model.stop_training = True

    return Clock()


def run_case(case: str, max_epochs: int) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    from lenet5.model import as_model_input, build_lenet5, configure_tensorflow
    from lenet5.training import as_tensors, fit, make_strategy

    config = load_params().train
    if case == "before":
        config = dataclasses.replace(config, **BEFORE)
    x, y = load_split(DATA, "train")
    validation, test = load_split(DATA, "val"), load_split(DATA, "test")
    configure_tensorflow(config.seed, config.threads)
    project = case in ("before", "default")
    # One model per case, built as the train stage builds it: a second build would draw other weights.
    strategy = make_strategy(config.distribute) if project else tf.distribute.get_strategy()
    with strategy.scope():
        model = build_lenet5()
    clock = clock_callback(model, test, stop_at_target=not project)  # plain Keras stops at 99.0%
    if case == "recipe":
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(98)
        pixels = as_model_input(x)
        clock.on_epoch_begin(0)
        for _ in range(300):
            batch = rng.integers(0, len(y), size=100)
            model.train_on_batch(pixels[batch], y[batch])
        clock.on_train_batch_end(0)
        clock.on_epoch_end(0)
        samples = 30_000
    elif case in ("keras_fit", "keras_best"):
        batch_size = 128 if case == "keras_fit" else KERAS_BEST_BATCH
        steps = -(-len(y) // batch_size) if case == "keras_best" else 1
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=steps
        )
        model.fit(as_model_input(x), y, batch_size=batch_size, epochs=max_epochs, callbacks=[clock], verbose=0)
        samples = len(y)
    else:
        samples = len(y)
        train, validation = as_tensors((x, y)), as_tensors(validation)  # as the train stage does
        del x, y
        with strategy.scope():
            fit(model, config, train, validation, callbacks=[clock])
    seconds = clock.seconds
    steady = seconds[1:] or seconds  # epoch 1 also traces and compiles the graph
    return {
        "case": case,
        "samples_per_second": samples * len(steady) / sum(steady),
        "epochs": len(seconds),
        "train_seconds": sum(seconds),
        "seconds_to_99": clock.seconds_to_target,
        "test_accuracy": clock.accuracy,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    baseline = results["keras_fit"]["samples_per_second"]
    lines = [
        "| case | samples/s (steady) | vs Keras fit | epochs | train s | s to 99.0% | test accuracy | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, r in results.items():
        to_99 = f"{r['seconds_to_99']:.1f}" if r["seconds_to_99"] is not None else "not reached"
        lines.append(
            f"| {CASES[case]} | {r['samples_per_second']:,.0f} | {r['samples_per_second'] / baseline:.2f}x "
            f"| {r['epochs']} | {r['train_seconds']:.1f} | {to_99} | {r['test_accuracy']:.4f} "
            f"| {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


EPOCH_LINE = re.compile(r"train: epoch (\d+)/\d+ .*\(([\d.]+) s\)")


def run_train_stage() -> dict[str, float | None]:
    """The train stage as `dvc repro` runs it (params.yaml), into a temporary folder.

    Start-up is launch to the first training step. The first epoch's line arrives after start-up
    plus one epoch, so one steady epoch (the second, as the stage timed it) is taken off; both
    lines include validation, so what remains also holds tracing the validation step: an upper bound.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        # dvc.yaml's command, its outputs moved into the temporary folder.
        command = shlex.split(yaml.safe_load(Path("dvc.yaml").read_text())["stages"]["train"]["cmd"])
        for flag in ("--model", "--live", "--timing", "--checkpoint"):
            command[command.index(flag) + 1] = str(out / flag.strip("-"))
        command[0] = sys.executable
        with open(out / "stderr.txt", "w+") as errors:
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
            arrivals: dict[int, tuple[float, float]] = {}
            for line in process.stdout or ():
                if match := EPOCH_LINE.search(line):
                    arrivals[int(match[1])] = (time.perf_counter() - started, float(match[2]))
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 0:
                errors.seek(0)
                raise PipelineError(f"the train stage failed: {errors.read().strip().splitlines()[-1:]}")
    startup = arrivals[1][0] - arrivals[2][1] if 2 in arrivals else None
    return {"startup_seconds": startup, "peak_rss_mb": usage.ru_maxrss / 1024}


def describe_machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = re.findall(r"model name\s*: (.*)", cpuinfo.read_text()) if cpuinfo.is_file() else []
    return f"{names[0] if names else platform.machine()}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES), help="run one case here (used by the benchmark itself)")
    parser.add_argument("--max-epochs", type=int, default=30, help="plain Keras stops at 99.0% or after this many")
    args = parser.parse_args()
    if not (DATA / "train_images.npy").is_file():
        raise PipelineError(f"{DATA}: missing; run `dvc repro prepare` first")
    if args.case:
        print(json.dumps(run_case(args.case, args.max_epochs)))
        return
    results = {}
    for case in CASES:
        command = [sys.executable, "-m", "bench.train_speed", "--case", case, "--max-epochs", str(args.max_epochs)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(f"case {case} failed: {done.stderr.strip().splitlines()[-1:]}")
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{case}: done", file=sys.stderr, flush=True)
    stage = run_train_stage()
    default, before = results["default"], results["before"]
    print(f"{default['device']}: {describe_machine()}, TensorFlow {default['tensorflow']}, Keras {default['keras']}")
    print(table(results))
    startup = stage["startup_seconds"]
    startup_text = f"{startup:.1f}" if startup is not None else "none"
    print(
        f"train stage (params.yaml, as `dvc repro` runs it): {startup_text} s from launch to the first "
        f"training step, peak RSS {stage['peak_rss_mb']:,.0f} MB"
    )
    to_99 = default["seconds_to_99"]
    keras_to_99 = results["keras_fit"]["seconds_to_99"]
    ratio = f"{keras_to_99 / to_99:.2f}" if to_99 and keras_to_99 else "none"
    prepared = sum(p.stat().st_size for p in DATA.iterdir()) / 1e6
    best = max(results["keras_fit"]["samples_per_second"], results["keras_best"]["samples_per_second"])
    print(
        f"time_to_99_vs_keras_fit={ratio} seconds_to_99={f'{to_99:.1f}' if to_99 else 'none'} "
        f"throughput_vs_best_keras={default['samples_per_second'] / best:.2f} "
        f"default_train_seconds_vs_before={default['train_seconds'] / before['train_seconds']:.2f} "
        f"test_accuracy={default['test_accuracy']:.4f} peak_rss_mb={stage['peak_rss_mb']:.0f} "
        f"prepared_mb={prepared:.0f} startup_seconds={startup_text}"
    )


if __name__ == "__main__":
    run_command("bench", main)
