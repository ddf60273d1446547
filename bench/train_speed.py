"""Training-speed benchmark: the recipe's loop, plain Keras fit, and this project's train stage.

Each case runs in its own process on the real MNIST (the prepared arrays of `dvc repro prepare`),
so its peak memory is its own. For each: steady samples per second, seconds of training until
the test accuracy first reaches 99.0% (test scoring is not counted), final test accuracy, peak
RSS. Ratios are against plain Keras `model.fit` at batch 128, measured in the same run.

    python -m bench.train_speed [--keras-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from stages.dataset import load_split
from stages.errors import PipelineError, run_stage
from stages.params import load_section

DATA = Path("data/prepared")
TARGET = 0.99
CASES = {
    "recipe": "(a) recipe: 300 train_on_batch steps of 100",
    "keras_fit": "(b) plain Keras model.fit, batch 128, float32",
    "stage": "(c) this project's train stage, params.yaml",
}


class Clock:
    """Training seconds, with test scoring after each epoch left out; notes when 99% is reached."""

    def __init__(self, model: Any, test: tuple[np.ndarray, np.ndarray]) -> None:
        self.model, self.test = model, test
        self.seconds: list[float] = []
        self.accuracy = 0.0
        self.seconds_to_target: float | None = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop_and_score(self) -> None:
        from stages.model import predict_probabilities

        self.seconds.append(time.perf_counter() - self.started)
        predicted = np.argmax(predict_probabilities(self.model, self.test[0]), axis=1)
        self.accuracy = float(np.mean(predicted == self.test[1]))
        if self.seconds_to_target is None and self.accuracy >= TARGET:
            self.seconds_to_target = sum(self.seconds)


def run_case(case: str, keras_epochs: int) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    from stages.model import build_lenet5, configure_tensorflow
    from stages.training import epoch_order, make_epoch_runner, make_optimizer

    params = load_section("train")
    x, y = load_split(DATA, "train")
    test = load_split(DATA, "test")
    configure_tensorflow(params["seed"], params["threads"])
    model = build_lenet5()
    clock = Clock(model, test)
    if case == "recipe":
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(98)
        clock.start()
        for _ in range(300):
            batch = rng.integers(0, len(y), size=100)
            model.train_on_batch(x[batch], y[batch])
        clock.stop_and_score()
        samples = [30_000]
    elif case == "keras_fit":
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        for _ in range(keras_epochs):
            clock.start()
            model.fit(x, y, batch_size=128, epochs=1, shuffle=True, verbose=0)
            clock.stop_and_score()
        samples = [len(y)] * keras_epochs
    else:
        optimizer = make_optimizer(params, -(-len(y) // params["batch_size"]))
        run_epoch = make_epoch_runner(model, optimizer, params)
        images, labels = tf.constant(x), tf.constant(y.astype("int32"))
        for epoch in range(params["epochs"]):
            clock.start()
            run_epoch(images, labels, epoch_order(len(y), params["seed"], epoch), epoch)
            clock.stop_and_score()
        samples = [len(y)] * params["epochs"]
    steady = slice(1, None) if len(clock.seconds) > 1 else slice(None)  # epoch 1 also compiles
    return {
        "case": case,
        "samples_per_second": sum(samples[steady]) / sum(clock.seconds[steady]),
        "train_seconds": sum(clock.seconds),
        "seconds_to_99": clock.seconds_to_target,
        "test_accuracy": clock.accuracy,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }


def table(results: list[dict[str, Any]]) -> str:
    baseline = next(r for r in results if r["case"] == "keras_fit")["samples_per_second"]
    lines = [
        "| case | samples/s (steady) | vs Keras fit | train s | s to 99.0% | test accuracy | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        to_99 = f"{r['seconds_to_99']:.1f}" if r["seconds_to_99"] is not None else "not reached"
        lines.append(
            f"| {CASES[r['case']]} | {r['samples_per_second']:,.0f} | {r['samples_per_second'] / baseline:.2f}x "
            f"| {r['train_seconds']:.1f} | {to_99} | {r['test_accuracy']:.4f} | {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES), help="run one case here (used by the benchmark itself)")
    parser.add_argument("--keras-epochs", type=int, default=10)
    args = parser.parse_args()
    if not (DATA / "train_images.npy").is_file():
        raise PipelineError(f"{DATA}: missing; run `dvc repro prepare` first")
    if args.case:
        print(json.dumps(run_case(args.case, args.keras_epochs)))
        return
    results = []
    for case in CASES:
        command = [sys.executable, "-m", "bench.train_speed", "--case", case, "--keras-epochs", str(args.keras_epochs)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(f"case {case} failed: {done.stderr.strip().splitlines()[-1:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{case}: done", file=sys.stderr, flush=True)
    stage = results[-1]
    print(
        f"{stage['device']}: {platform.processor() or platform.machine()}, TensorFlow {stage['tensorflow']}, "
        f"Keras {stage['keras']}, train params from params.yaml"
    )
    print(table(results))
    speedup = stage["samples_per_second"] / results[1]["samples_per_second"]
    to_99 = f"{stage['seconds_to_99']:.1f}" if stage["seconds_to_99"] is not None else "none"
    print(
        f"speedup_vs_keras_fit={speedup:.2f} seconds_to_99={to_99} "
        f"test_accuracy={stage['test_accuracy']:.4f} peak_rss_mb={stage['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    run_stage("bench", main)
