"""Stage export: write the trained model for TensorFlow Serving and LiteRT, then score each format.

Writes a SavedModel in TF Serving's layout (`<serving>/1/`), a LiteRT float32 file and a
full-integer int8 LiteRT file calibrated on a seeded sample of the training split
(lenet5/serving/exporters.py); each is byte-identical when written again from the same model. Then runs
every format, the Keras model included, through the runtime that would serve it on the 10,000
test digits (lenet5/serving/runtimes.py), and writes metrics/export.json (the int8 file's test accuracy:
the column `dvc exp show` compares) and metrics/export_formats.json (per format: test accuracy,
errors, agreement with the Keras model's predictions, bytes). How fast each format answers is the
lab's (lab/latency.py), not every experiment's: it took a third of this stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.data.splits import load_split
from lenet5.errors import hint_on_error
from lenet5.files import write_bytes, write_json
from lenet5.process import run_command
from lenet5.training.backend import configure_backend, select_backend, skip_unused_imports
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--serving", type=Path, required=True, help="TF Serving's model base folder")
    parser.add_argument("--tflite", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--formats", type=Path, required=True)
    args = parser.parse_args()
    select_backend("tensorflow")  # SavedModel and LiteRT are TensorFlow's formats, whatever trained the model
    skip_unused_imports()

    with hint_on_error(good_copy(args.data, "prepare")):
        train_images, _ = load_split(args.data, "train")
        test_images, test_labels = load_split(args.data, "test")
    from lenet5.serving.exporters import calibration_sample, tflite_float32, tflite_int8, write_saved_model
    from lenet5.serving.runtimes import keras_classifier, open_model, score_formats
    from lenet5.training.model import load_model

    configure_backend(seed=0, threads=0)  # deterministic ops; nothing here is random, the seed is a formality
    with hint_on_error(good_copy(args.model, "train")):
        model = load_model(args.model, compile=False)  # without the optimizer's state: serving needs none
    folder = write_saved_model(model, args.serving)
    write_bytes(args.tflite, tflite_float32(model))
    write_bytes(args.int8, tflite_int8(model, calibration_sample(train_images)))

    # The Keras model as loaded above is the reference; each file is opened as its server would.
    exported = (args.serving, args.tflite, args.int8)
    opened = [(args.model, keras_classifier(model))] + [(path, open_model(path)) for path in exported]
    scores = score_formats(opened, test_images, test_labels)
    write_json(args.formats, scores)
    write_json(args.metrics, {"int8_accuracy": scores["tflite_int8"]["accuracy"]})
    print(f"export: SavedModel in {folder}, {args.tflite} and {args.int8}; on the test digits:")
    for name, found in scores.items():
        print(
            f"export:   {name}: accuracy {found['accuracy']:.4f}, agreement {found['agreement']:.4f}, "
            f"{found['bytes']:,} B",
            flush=True,
        )


if __name__ == "__main__":
    run_command("export", main)
