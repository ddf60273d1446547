"""Stage train: fit LeNet-5 on the prepared training split, scoring the validation split per epoch.

Writes the model (models/lenet5.keras), the per-epoch history (metrics/train_history.csv, drawn by
`dvc plots`), final figures (metrics/train.json) and timings (metrics/train_timing.json). Timings
differ run to run, so they are kept out of DVC's outputs: every declared output is byte-identical
on a rerun with the same params. A checkpoint after every epoch lets a killed run resume.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import tensorflow as tf

from stages.atomic import write_json, write_text
from stages.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from stages.dataset import load_split
from stages.errors import EXIT_INTERRUPTED, PipelineError, run_stage
from stages.model import (
    LENET5_PARAMETERS,
    build_lenet5,
    configure_tensorflow,
    predict_probabilities,
    save_model,
)
from stages.params import load_section
from stages.scoring import score
from stages.training import current_learning_rate, epoch_order, make_epoch_runner, make_optimizer

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def history_csv(history: list[dict[str, float]]) -> str:
    rows = [",".join(HISTORY_COLUMNS)]
    rows += [",".join(f"{row[col]:.6g}" for col in HISTORY_COLUMNS) for row in history]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--model", type=Path, default=Path("models/lenet5.keras"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--history", type=Path, default=Path("metrics/train_history.csv"))
    parser.add_argument("--timing", type=Path, default=Path("metrics/train_timing.json"))
    parser.add_argument("--checkpoint", type=Path, default=Path("data/checkpoints/train.npz"))
    args = parser.parse_args()
    params = load_section("train")

    train_images, train_labels = load_split(args.data, "train")
    val_images, val_labels = load_split(args.data, "val")
    if params["batch_size"] > len(train_labels):
        raise PipelineError(f"train.batch_size: {params['batch_size']} exceeds the {len(train_labels)} training images")
    configure_tensorflow(params["seed"], params["threads"])
    model = build_lenet5()
    optimizer = make_optimizer(params, math.ceil(len(train_labels) / params["batch_size"]))
    run_epoch = make_epoch_runner(model, optimizer, params)

    run_id = fingerprint(params, train_images, train_labels, val_images, val_labels)
    state = load_checkpoint(args.checkpoint, model, optimizer, run_id)
    state = state or {"fingerprint": run_id, "epoch": 0, "history": [], "epoch_seconds": []}
    if state["epoch"]:
        print(f"train: resuming from the checkpoint after epoch {state['epoch']}")
    images, labels = tf.constant(train_images), tf.constant(train_labels.astype("int32"))

    try:
        for epoch in range(state["epoch"], params["epochs"]):
            started = time.perf_counter()
            loss, accuracy = run_epoch(images, labels, epoch_order(len(train_labels), params["seed"], epoch), epoch)
            seconds = time.perf_counter() - started
            val_loss, val_accuracy = score(predict_probabilities(model, val_images), val_labels)
            row = {
                "epoch": epoch + 1,
                "loss": loss,
                "accuracy": accuracy,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "learning_rate": current_learning_rate(optimizer),
            }
            state["history"].append(row)
            state["epoch_seconds"].append(seconds)
            state["epoch"] = epoch + 1
            save_checkpoint(args.checkpoint, model, optimizer, state)
            print(
                f"train: epoch {epoch + 1}/{params['epochs']} loss {loss:.4f} acc {accuracy:.4f} "
                f"val_loss {val_loss:.4f} val_acc {val_accuracy:.4f} ({seconds:.1f} s)",
                flush=True,
            )
    except KeyboardInterrupt:
        print(
            f"train: interrupted after {state['epoch']} of {params['epochs']} epochs; "
            "run `dvc repro` to resume from there",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERRUPTED)

    final = state["history"][-1]
    save_model(model, args.model)
    write_text(args.history, history_csv(state["history"]))
    write_json(
        args.metrics,
        {
            "parameters": LENET5_PARAMETERS,
            "epochs": params["epochs"],
            "train_images": len(train_labels),
            "val_images": len(val_labels),
            **{key: round(final[key], 6) for key in ("loss", "accuracy", "val_loss", "val_accuracy")},
        },
    )
    seconds = state["epoch_seconds"]
    steady = seconds[1:] or seconds  # the first epoch also traces and compiles the graph
    write_json(
        args.timing,
        {
            "train_seconds": round(sum(seconds), 2),
            "samples_per_second": round(len(train_labels) * len(seconds) / sum(seconds)),
            "steady_samples_per_second": round(len(train_labels) * len(steady) / sum(steady)),
            "epoch_seconds": [round(s, 3) for s in seconds],
        },
    )
    args.checkpoint.unlink(missing_ok=True)


if __name__ == "__main__":
    run_stage("train", main)
