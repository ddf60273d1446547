"""Stage train: fit LeNet-5 on the prepared training split, scoring the validation split per epoch.

On the Keras backend of `train.backend` (TensorFlow or JAX), chosen here before Keras is imported.

Writes the model, with one output per class of the prepared data set; the class names beside it
(`--classes`: models/classes.json, where `lenet5-predict` looks for them); DVCLive's per-epoch
logs (the curves of `dvc plots` and the VS Code extension, live while it runs); and the seconds
it trained (`--timing`). Those differ run to run, so they are kept out of DVC's outputs and out of
git: every declared output is byte-identical on a rerun with the same params, and `git status`
stays clean. A checkpoint after every epoch lets a killed run
resume where it stopped.

With `train.distribute: multi_worker`, every machine of the cluster in TF_CONFIG runs this same
command; only the chief writes anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lenet5.config import load_params
from lenet5.cpu import onednn_description
from lenet5.data.classes import CLASSES_FILE, read_classes, write_classes
from lenet5.data.splits import load_split
from lenet5.errors import hint_on_error
from lenet5.files import write_json
from lenet5.process import EXIT_INTERRUPTED, EXIT_PRUNED, run_command
from lenet5.training.backend import configure_backend, select_backend, skip_unused_imports
from lenet5.training.schedule import size_training
from lenet5.training.tuning import TrialPrunedError, TrialReporter, link_from_environment
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--live", type=Path, required=True, help="DVCLive's folder")
    parser.add_argument("--timing", type=Path, required=True)
    parser.add_argument("--classes", type=Path, required=True, help="the class names, written beside the model")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument(
        "--worker-timeout", type=float, required=True, help="multi_worker: seconds before a silent worker fails the run"
    )
    args = parser.parse_args()
    config = load_params(args.params).train
    select_backend(config.backend)  # before anything imports Keras
    skip_unused_imports()
    with hint_on_error(good_copy(args.data, "prepare")):
        names = read_classes(args.data / CLASSES_FILE)
        train, validation = load_split(args.data, "train", len(names)), load_split(args.data, "val", len(names))
    sizing = size_training(config, len(train[1]), str(args.params))
    config = sizing.config
    print(f"train: {sizing.explanation}", flush=True)

    from dvclive import Live

    from lenet5.training.callbacks import LiveLog, Progress, ReportToSearch
    from lenet5.training.loop import fit
    from lenet5.training.model import build_lenet5, save_model
    from lenet5.training.placement import place

    configure_backend(config.seed, config.threads)
    placement = place(config.distribute, args.worker_timeout)  # before any op: multi_worker needs that
    writer = placement.writes_outputs
    onednn = f"; {onednn_description()}" if config.backend == "tensorflow" else ""
    print(f"train: training with {config.backend} on {placement.description}{onednn}", flush=True)
    progress = Progress(config.epochs)
    callbacks: list = [progress]
    link = link_from_environment()  # set only when the search (tools/search.py) runs this training
    if link is not None and writer:
        callbacks.append(ReportToSearch(TrialReporter(link, config.epochs)))
    if writer:
        # A fresh Live clears earlier files; after a resume, `fit` replays the finished epochs into it.
        live = Live(dir=str(args.live), save_dvc_exp=False, dvcyaml=False)
        # DVCLive first: an epoch's line is printed only once its logs are on disk.
        callbacks.insert(0, LiveLog(live))
    # Across workers each process would need the others' checkpoints: a killed multi_worker run
    # starts again from its first epoch.
    checkpoint = args.checkpoint if writer and config.distribute != "multi_worker" else None
    try:
        with placement.scope():
            model = build_lenet5(len(names), config)
            fit(
                model, config, train, validation, checkpoint=checkpoint, callbacks=callbacks,
                multi_worker_strategy=placement.strategy,
            )  # fmt: skip
    except TrialPrunedError as stop:
        print(f"train: {stop}; the search goes on with its next trial", file=sys.stderr)
        sys.exit(EXIT_PRUNED)
    except KeyboardInterrupt:
        done = progress.replayed + len(progress.seconds)
        message = f"interrupted after {done} of {config.epochs} epochs; run `dvc repro` to resume from there"
        print(f"train: {message}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    if not writer:
        print("train: done; this worker writes no outputs (the chief does)", flush=True)
        return
    live.end()
    save_model(model, args.model)
    write_classes(args.classes, names)
    seconds = progress.seconds
    steady = seconds[1:] or seconds  # the first epoch also traces and compiles the graph
    rate = round(len(train[1]) * len(steady) / sum(steady)) if steady else 0
    # Only the seconds: `dvc exp show` has room for so many columns, and the rate follows from them.
    write_json(args.timing, {"train_seconds": round(sum(seconds), 2)})
    print(f"train: {sum(seconds):.1f} s of training, {rate:,} images/s after the first epoch", flush=True)
    args.checkpoint.unlink(missing_ok=True)


if __name__ == "__main__":
    run_command("train", main)
