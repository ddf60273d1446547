"""Training-speed benchmark over seeds: the recipe's loop, plain Keras `fit`, this project's
training and (for comparison) a plain PyTorch loop, in one run on one machine.

Each case runs once per seed, each run in its own process on the real MNIST (the prepared arrays
of `dvc repro prepare`), so its peak memory is its own. One run is one draw, so each case is
reported over the seeds: mean and standard deviation of the final test accuracy; seconds to 99.0%
as the mean training time at which the *mean* test accuracy over the seeds first reaches 99.0%
(validation and test scoring are not timed), with how many seeds reached it on their own; median
steady samples per second; the highest peak RSS. Every case trains a fixed number of epochs (plain
Keras: `--max-epochs`), so every seed has a test accuracy at every epoch. Ratios are against cases
measured in the same run. The project's cases call `lenet5.training.loop.fit`, the train stage's own
function, with params.yaml (`before`: with the settings from before the speed work). With every
TensorFlow case, the train stage itself also runs once into a temporary folder, for its start-up
time (launch to the first training step) and its peak memory.

The seeds are the reporting seeds (lenet5/evaluation/over_seeds.py): none of them chose a setting.
The lab's `speed` stage runs it in a fresh copy of the project (lab/dvc.yaml):

    python -m lab.train_speed --seeds 5 --cases recipe,keras_best,default,torch --max-epochs 20 \
      --torch-python .torch/bin/python --runs speed.json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lenet5.config import load_params
from lenet5.cpu import ONEDNN, describe
from lenet5.data.splits import load_split
from lenet5.errors import PipelineError
from lenet5.evaluation.over_seeds import REPORTING_SEEDS, Spread
from lenet5.files import write_json
from lenet5.process import run_command
from lenet5.training.backend import INSTALL, require_backend, select_backend
from lenet5.training.schedule import size_training

DATA = Path("data/prepared")
TARGET = 0.99
CASES = {
    "recipe": "(a) recipe: 300 train_on_batch steps of 100",
    "keras_fit": "(b) plain Keras model.fit, batch 128",
    "keras_best": "(c) plain Keras model.fit, batch 512, one graph call per epoch",
    "before": "(d) this project's training, settings before the speed work",
    "default": "(e) this project's training, params.yaml",
    "no_elastic": "(f) params.yaml without elastic distortion",
    "torch": "(g) a plain PyTorch loop: Adam, batch 512, no augmentation",
}
TENSORFLOW_CASES = [case for case in CASES if case != "torch"]  # what TF_ENABLE_ONEDNN_OPTS can change
# --onednn: "project" leaves TF_ENABLE_ONEDNN_OPTS as lenet5/cpu.py sets it for this CPU; 0 and 1 force it.
ONEDNN_SETTINGS = ("project", "0", "1")
# The strongest plain Keras found (README's speed section has the search: batch 128 to 2048,
# steps_per_execution 1, 32 and a whole epoch): batch 512 with one graph call per epoch.
KERAS_BEST_BATCH = 512
# train: the settings from before the speed work, every one that has changed since (15 epochs,
# about 30-43 s on 2 cores). The rest come from params.yaml.
BEFORE = {
    "epochs": 15,
    "batch_size": 256,
    "learning_rate": 0.003,
    "adam_betas": (0.9, 0.999),
    "warmup_epochs": 1.0,
    "unaugmented_epochs": 0,
    "label_smoothing": 0.0,
    "elastic_strength": 0.0,  # this round's field: params.yaml has it now, those settings did not
}


def clock_callback(model: Any, test: tuple[np.ndarray, np.ndarray]) -> Any:
    """Times each epoch's training steps (validation and test scoring left out); scores the test set."""
    import keras

    from lenet5.training.model import predict_probabilities

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.accuracies: list[float] = []  # test accuracy after each epoch

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            # The loss's value waits for the step to finish (JAX returns before its work is done).
            float(keras.ops.convert_to_numpy((logs or {}).get("loss", 0.0)))
            self.trained = time.perf_counter()  # the last one of the epoch counts

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(self.trained - self.started)
            predicted = np.argmax(predict_probabilities(model, test[0]), axis=1)
            self.accuracies.append(float(np.mean(predicted == test[1])))

    return Clock()


def device_peak_mb() -> float | None:
    """The accelerator's peak memory in this process, in MB; None on a CPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform != "cpu" else None
        return stats["peak_bytes_in_use"] / 2**20 if stats else None
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def run_case(case: str, max_epochs: int, seed: int, backend: str) -> dict[str, Any]:
    select_backend(backend)
    import keras

    from lenet5.training.backend import configure_backend, device_names
    from lenet5.training.loop import fit
    from lenet5.training.model import as_model_input, build_lenet5
    from lenet5.training.placement import place

    config = dataclasses.replace(load_params().train, seed=seed, backend=backend)
    if case == "before":
        config = dataclasses.replace(config, **BEFORE)
    if case == "no_elastic":  # against (e), what the elastic field costs per epoch
        config = dataclasses.replace(config, elastic_strength=0.0)
    x, y = load_split(DATA, "train")
    config = size_training(config, len(y)).config  # `auto` as the train stage resolves it
    validation, test = load_split(DATA, "val"), load_split(DATA, "test")
    configure_backend(config.seed, config.threads)
    project = case in ("before", "default", "no_elastic")
    # One model per case, built as the train stage builds it: a second build would draw other weights.
    placement = place(config.distribute) if project else None
    with placement.scope() if placement else contextlib.nullcontext():
        model = build_lenet5()
    clock = clock_callback(model, test)
    if case == "recipe":
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(seed)
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
        with placement.scope():  # type: ignore[union-attr]
            fit(model, config, (x, y), validation, callbacks=[clock])
    seconds = clock.seconds
    steady = seconds[1:] or seconds  # epoch 1 also traces and compiles the graph
    devices = device_names()
    return {
        "onednn": os.environ.get(ONEDNN, "TensorFlow's default"),
        "case": case,
        "seed": seed,
        "samples_per_second": samples * len(steady) / sum(steady),
        "epochs": len(seconds),
        "train_seconds": sum(seconds),
        "epoch_seconds": clock.seconds,
        "epoch_accuracies": clock.accuracies,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_device_mb": device_peak_mb(),
        "device": f"{len(devices)} GPU ({devices[0]})" if devices else "CPU",
        "keras": keras.__version__,
        "backend": f"{backend} {importlib.import_module(backend).__version__}",
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One case over its seeds: the final test accuracy's spread, and when the mean curve reaches 99.0%."""
    epochs = min(len(run["epoch_accuracies"]) for run in runs)
    mean_accuracy = [statistics.fmean(run["epoch_accuracies"][e] for run in runs) for e in range(epochs)]
    mean_elapsed = [statistics.fmean(sum(run["epoch_seconds"][: e + 1]) for run in runs) for e in range(epochs)]
    reached = next((e for e, accuracy in enumerate(mean_accuracy) if accuracy >= TARGET), None)
    return {
        "seeds": len(runs),
        "samples_per_second": statistics.median(run["samples_per_second"] for run in runs),
        "epochs": epochs,
        "train_seconds": statistics.fmean(run["train_seconds"] for run in runs),
        "seconds_to_99": mean_elapsed[reached] if reached is not None else None,
        "seeds_reaching_99": sum(max(run["epoch_accuracies"]) >= TARGET for run in runs),
        "test_accuracy": Spread.of([run["epoch_accuracies"][-1] for run in runs]),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "peak_device_mb": max((run["peak_device_mb"] for run in runs if run.get("peak_device_mb")), default=None),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    # Against plain Keras `fit`: batch 128 where it ran, else at its best.
    plain = next((results[case] for case in ("keras_fit", "keras_best") if case in results), None)
    baseline = plain["samples_per_second"] if plain else None
    lines = [
        "| case | samples/s (median) | vs plain Keras | epochs | train s (mean) | s to 99.0% (mean curve) "
        "| seeds reaching 99.0% | test accuracy % (mean ± std) | peak RSS MB | peak GPU MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, r in results.items():
        case, _, onednn = key.partition("@")
        label = f"{CASES[case]}, {onednn_words(onednn)}" if onednn else CASES[case]
        to_99 = f"{r['seconds_to_99']:.1f}" if r["seconds_to_99"] is not None else "not reached"
        versus = f"{r['samples_per_second'] / baseline:.2f}x" if baseline else "-"
        device_mb = f"{r['peak_device_mb']:,.0f}" if r["peak_device_mb"] is not None else "-"
        accuracy = r["test_accuracy"]
        lines.append(
            f"| {label} | {r['samples_per_second']:,.0f} | {versus} "
            f"| {r['epochs']} | {r['train_seconds']:.1f} | {to_99} | {r['seeds_reaching_99']}/{r['seeds']} "
            f"| {accuracy.mean * 100:.2f} ± {accuracy.std * 100:.2f} (n={accuracy.n}) | {r['peak_rss_mb']:,.0f} "
            f"| {device_mb} |"
        )
    return "\n".join(lines)


EPOCH_LINE = re.compile(r"train: epoch (\d+)/\d+ .*\(([\d.]+) s\)")


def stage_command(stage: str) -> list[str]:
    """A stage's command as dvc.yaml runs it, split into arguments (dvc.yaml holds each path once)."""
    return shlex.split(yaml.safe_load(Path("dvc.yaml").read_text())["stages"][stage]["cmd"])


def run_train_stage() -> dict[str, float | None]:
    """The train stage as `dvc repro` runs it (params.yaml), into a temporary folder.

    Start-up is launch to the first training step. The first epoch's line arrives after start-up
    plus one epoch, so one steady epoch (the second, as the stage timed it) is taken off; both
    lines include validation, so what remains also holds tracing the validation step: an upper bound.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        # dvc.yaml's command, its outputs moved into the temporary folder.
        command = stage_command("train")
        for flag in ("--model", "--classes", "--live", "--timing", "--checkpoint"):
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


def describe_machine(machine: dict[str, Any] | str) -> str:
    """A --runs file's machine in words: CPU model, vector extension, cores (older files: a string)."""
    if isinstance(machine, str):
        return machine
    return f"{machine['cpu']} ({machine['vector_extension']}), {machine['cores']} cores, {machine['system']}"


def onednn_words(value: str | None) -> str:
    return {"1": "oneDNN on", "0": "oneDNN off"}.get(value or "", "oneDNN as TensorFlow decides")


def child_command(case: str, seed: int, args: argparse.Namespace) -> list[str]:
    if case == "torch":
        epochs = size_training(load_params().train, len(load_split(DATA, "train")[1])).config.epochs
        return [
            str(args.torch_python),
            str(Path(__file__).with_name("torch_loop.py")),
            "--data",
            str(DATA),
            "--seed",
            str(seed),
            "--epochs",
            str(epochs),
        ]
    return [
        *(sys.executable, "-m", "lab.train_speed", "--case", case, "--seed", str(seed)),
        *("--max-epochs", str(args.max_epochs), "--backend", args.backend),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES), help="run one case here (used by the benchmark itself)")
    parser.add_argument("--seed", type=int, help="with --case: the seed of that run")
    parser.add_argument("--seeds", type=int, default=5, help=f"runs per case, at most {len(REPORTING_SEEDS)}")
    parser.add_argument("--max-epochs", type=int, default=30, help="epochs of the plain Keras cases")
    parser.add_argument("--backend", choices=list(INSTALL), default="tensorflow", help="the Keras backend")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--runs", type=Path, help="also write every run's figures to this JSON file")
    parser.add_argument("--table", type=Path, nargs="+", help="train nothing: the table of these --runs files")
    parser.add_argument(
        "--onednn",
        default="project",
        help="comma-separated TF_ENABLE_ONEDNN_OPTS settings to run each TensorFlow case with: project (as "
        "lenet5/cpu.py chooses for this CPU), 0, 1; e.g. 0,1 for before and after in one run",
    )
    parser.add_argument("--torch-python", type=Path, help="the case torch: an interpreter with torch and numpy")
    args = parser.parse_args()
    if args.table:
        print_tables(args.table)
        return
    if not (DATA / "train_images.npy").is_file():
        raise PipelineError(f"{DATA}: missing; run `dvc repro prepare` first")
    if not 1 <= args.seeds <= len(REPORTING_SEEDS):
        raise PipelineError(f"--seeds {args.seeds}: expected 1 to {len(REPORTING_SEEDS)}")
    cases = args.cases.split(",")
    if unknown := [case for case in cases if case not in CASES]:
        raise PipelineError(f"--cases: {', '.join(unknown)} unknown; expected some of {', '.join(CASES)}")
    require_backend(args.backend, where="--backend")
    settings = args.onednn.split(",")
    if unknown := [value for value in settings if value not in ONEDNN_SETTINGS]:
        raise PipelineError(f"--onednn: {', '.join(unknown)} unknown; expected some of {', '.join(ONEDNN_SETTINGS)}")
    if args.case:
        seed = REPORTING_SEEDS[0] if args.seed is None else args.seed
        print(json.dumps(run_case(args.case, args.max_epochs, seed, args.backend)))
        return
    if "torch" in cases and (args.torch_python is None or not args.torch_python.is_file()):
        raise PipelineError(
            f"--torch-python {args.torch_python}: the case torch needs an interpreter with torch and numpy "
            "(e.g. python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch numpy)"
        )
    seeds = REPORTING_SEEDS[: args.seeds]
    results, every_run = {}, []
    # Each TensorFlow case under each oneDNN setting, seed by seed with the settings interleaved, so
    # that a change in the machine's load falls on both alike.
    variants = [(case, value) for case in cases for value in (settings if case != "torch" else ["project"])]
    runs_of: dict[tuple[str, str], list[dict[str, Any]]] = {variant: [] for variant in variants}
    for seed in seeds:
        for case, value in variants:
            env = dict(os.environ)
            if value != "project":
                env[ONEDNN] = value
            done = subprocess.run(child_command(case, seed, args), capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise PipelineError(f"case {case}, seed {seed} failed: {done.stderr.strip().splitlines()[-1:]}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs_of[case, value].append(run)
            every_run.append(run)
            words = onednn_words(run.get("onednn")) if case != "torch" else run["backend"]
            print(f"{case} ({words}) seed {seed}: test accuracy {run['epoch_accuracies'][-1]:.4f}", file=sys.stderr)
    for (case, value), runs in runs_of.items():
        results[case if len(settings) == 1 or case == "torch" else f"{case}@{value}"] = summarize(runs)
    machine = describe()
    if args.runs:
        write_json(args.runs, {"machine": machine, "runs": every_run})
    first = every_run[0]
    print(f"{first['device']}: {describe_machine(machine)}, {first['backend']}, Keras {first['keras']}, seeds "
          f"{seeds_text(seeds)}")  # fmt: skip
    print(table(results))
    # The train stage needs DVCLive, which an offline accelerator may lack: measured on TensorFlow's full runs.
    if args.backend == "tensorflow" and set(TENSORFLOW_CASES) <= set(cases) and len(settings) == 1:
        print_stage_and_ratios(results, seeds, run_train_stage())


def print_tables(files: list[Path]) -> None:
    """The table of runs saved with --runs: one row per case and backend, in the order found."""
    for path in files:
        print(f"{path}:\n{run_tables(path)}")


def saved_runs(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | str]:
    """The runs of a --runs file and the machine they ran on."""
    try:
        saved = json.loads(path.read_text())
        return saved["runs"], saved["machine"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{path}: not a file of --runs ({error})") from None


def run_tables(path: Path) -> str:
    """A --runs file's tables, one per backend with a row per case (and oneDNN setting), each under a
    line saying where it ran and what ran."""
    runs, machine = saved_runs(path)
    backends: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        onednn = run.get("onednn") if run["case"] != "torch" else None
        key = f"{run['case']}@{onednn}" if onednn else run["case"]
        backends.setdefault(run["backend"], {}).setdefault(key, []).append(run)
    parts = []
    for backend, cases in backends.items():
        first = next(iter(cases.values()))[0]
        keras = f", Keras {first['keras']}" if first["case"] != "torch" else ""
        seeds = tuple(sorted({run["seed"] for group in cases.values() for run in group}))
        what = f"{describe_machine(machine)}; {first['device']}, {backend}{keras}, seeds {seeds_text(seeds)}"
        parts.append(f"{what}:\n\n{table({key: summarize(group) for key, group in cases.items()})}")
    return "\n\n".join(parts)


def seeds_text(seeds: tuple[int, ...]) -> str:
    return ", ".join(map(str, seeds))


def print_stage_and_ratios(results: dict[str, dict[str, Any]], seeds: tuple[int, ...], stage: dict) -> None:
    default, before = results["default"], results["before"]
    startup = stage["startup_seconds"]
    startup_text = f"{startup:.1f}" if startup is not None else "none"
    print(
        f"train stage (params.yaml, as `dvc repro` runs it, one run): {startup_text} s from launch to the first "
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
        f"test_accuracy={default['test_accuracy'].mean:.4f} peak_rss_mb={stage['peak_rss_mb']:.0f} "
        f"prepared_mb={prepared:.0f} startup_seconds={startup_text} seeds={len(seeds)}"
    )


if __name__ == "__main__":
    run_command("lab", main)
