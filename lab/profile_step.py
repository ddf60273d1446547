"""Where one training step's time goes on this CPU, part by part, with TensorFlow's oneDNN off and on.

Each part runs alone under `tf.function`, on a batch of `train.batch_size` real training digits
(the prepared arrays of `dvc repro prepare`), and is timed as the median of REPEATS calls after
WARMUP: each layer's forward and backward pass (LeNet-5's own layers, with their weights), the
augmentation layer (shift, rotation and elastic field in one sampling pass), the optimizer's update
of every weight, and the whole compiled step as `fit` runs it. Beyond the step, per epoch: the
input arrays (`epoch_inputs`: the shuffled copy and the draws) and the validation pass. Each
setting runs in a process of its own, since TensorFlow reads TF_ENABLE_ONEDNN_OPTS at import.

    python -m lab.profile_step --out lab/results/profile.json     # both settings, one process each
    python -m lab.profile_step --table lab/results/profile.json

The parts overlap the whole step differently (a layer alone pays its own kernel launches), so
compare a part across the two settings, and the whole step with the sum of its parts as a check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lenet5.config import load_params
from lenet5.cpu import ONEDNN, describe
from lenet5.data.splits import load_split
from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command
from lenet5.training.schedule import size_training

DATA = Path("data/prepared")
WARMUP, REPEATS = 3, 15
SETTINGS = ("0", "1")  # TF_ENABLE_ONEDNN_OPTS: off, on


def median_ms(call: Callable[[], Any]) -> float:
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def profile() -> dict[str, float]:
    """Milliseconds per part, in this process's oneDNN setting."""
    import keras
    import tensorflow as tf

    from lenet5.training.backend import configure_backend, skip_unused_imports
    from lenet5.training.inputs import epoch_inputs, model_batch
    from lenet5.training.loop import make_optimizer, steps_per_epoch, with_augmentation
    from lenet5.training.model import PREDICT_BATCH, build_lenet5

    skip_unused_imports()
    images, labels = load_split(DATA, "train")
    config = size_training(load_params().train, len(labels)).config  # `auto` as the train stage resolves it
    configure_backend(config.seed, config.threads)
    validation = load_split(DATA, "val")
    model = build_lenet5()
    trainer = with_augmentation(model, config)
    optimizer = make_optimizer(config, steps_per_epoch(config, len(labels)))
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    inputs, targets = epoch_inputs(images, labels, config, 0)
    batch = {name: tf.constant(array[: config.batch_size]) for name, array in inputs.items()}
    target = tf.constant(targets[: config.batch_size])
    parts: dict[str, float] = {}

    augment = trainer.get_layer("augment")
    augmented = tf.function(lambda: augment(batch, training=True))
    parts["augmentation (forward)"] = median_ms(augmented)

    # Each layer's forward and backward pass, fed what it gets in the network.
    activation = augmented()
    for layer in model.layers:
        source = tf.constant(activation)
        variables = layer.trainable_variables

        def forward_backward(layer: Any = layer, source: Any = source, variables: list = variables) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(source)
                out = layer(source)
            return tape.gradient(out, [source, *variables])

        parts[f"{layer.name} (forward + backward)"] = median_ms(tf.function(forward_backward))
        activation = layer(source)

    optimizer.build(model.trainable_variables)
    gradients = [tf.zeros_like(v) for v in model.trainable_variables]
    update = tf.function(lambda: optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True)))
    parts["optimizer update (Adam, every weight)"] = median_ms(update)

    def whole_step() -> Any:
        with tf.GradientTape() as tape:
            value = loss(target, trainer(batch, training=True))
        grads = tape.gradient(value, trainer.trainable_variables)
        optimizer.apply_gradients(zip(grads, trainer.trainable_variables, strict=True))
        return value

    parts["the whole training step"] = median_ms(tf.function(whole_step))

    steps = steps_per_epoch(config, len(labels))
    parts["per epoch: input arrays (epoch_inputs)"] = median_ms(lambda: epoch_inputs(images, labels, config, 1))
    check = model_batch(*validation, 0)[0]["pixels"]
    scoring = tf.function(lambda x: model(x, training=False))
    parts["per epoch: validation pass"] = median_ms(
        lambda: [scoring(tf.constant(check[i : i + PREDICT_BATCH])) for i in range(0, len(check), PREDICT_BATCH)]
    )
    parts["per epoch: steps x the whole step"] = steps * parts["the whole training step"]
    return parts


def table(saved: dict[str, Any]) -> str:
    from lab.train_speed import describe_machine, onednn_words

    settings = saved["settings"]
    header = " | ".join(f"{onednn_words(value)}, ms" for value in settings)
    lines = [
        f"{describe_machine(saved['machine'])}, batch {saved['batch_size']}, median of {REPEATS} calls:",
        "",
        f"| part | {header} | off / on |",
        "| --- |" + " ---: |" * (len(settings) + 1),
    ]
    for part in saved["parts"][settings[0]]:
        values = [saved["parts"][value][part] for value in settings]
        ratio = f"{values[0] / values[-1]:.2f}x" if len(values) > 1 and values[-1] else "-"
        lines.append(f"| {part} | {' | '.join(f'{v:,.1f}' for v in values)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write both settings' profiles to this JSON file")
    parser.add_argument("--table", type=Path, help="profile nothing: the table of this file")
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)  # one setting, in this process
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    if not (DATA / "train_images.npy").is_file():
        raise PipelineError(f"{DATA}: missing; run `dvc repro prepare` first")
    if args.here:
        print(json.dumps(profile()))
        return
    parts = {}
    for value in SETTINGS:
        command = [sys.executable, "-m", "lab.profile_step", "--here"]
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **{ONEDNN: value}))
        if done.returncode != 0:
            raise PipelineError(f"{ONEDNN}={value}: the profile failed: {done.stderr.strip().splitlines()[-1:]}")
        parts[value] = json.loads(done.stdout.strip().splitlines()[-1])
    machine = describe()
    machine.pop(ONEDNN)  # each setting is named in the table
    saved = {
        "machine": machine,
        "batch_size": size_training(load_params().train, len(load_split(DATA, "train")[1])).config.batch_size,
        "settings": list(SETTINGS),
        "parts": parts,
    }
    if args.out:
        write_json(args.out, saved)
    print(table(saved))


if __name__ == "__main__":
    run_command("profile_step", main)
