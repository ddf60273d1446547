"""Stage score_exports: score every exported format with the runtime that would serve it.

Each format (the Keras model, the SavedModel through TensorFlow's loader, both LiteRT files
through the LiteRT interpreter) classifies the 10,000 test digits one thread at a time. Writes
metrics/export.json (the int8 file's test accuracy: the column `dvc exp show` compares),
metrics/export_formats.json (per format: test accuracy, errors, agreement with the Keras model's
predictions, bytes) and, outside DVC's outputs since timings differ on every run,
metrics/export_latency.json (per format: microseconds per digit at batch 1 on one thread).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lenet5.data import load_split
from lenet5.errors import hint_on_error, run_command
from lenet5.files import write_json
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="the Keras model: the reference")
    parser.add_argument("--serving", type=Path, required=True, help="TF Serving's model base folder")
    parser.add_argument("--tflite", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--formats", type=Path, required=True)
    parser.add_argument("--latency", type=Path, required=True)
    args = parser.parse_args()

    with hint_on_error(good_copy(args.data, "prepare")):
        images, labels = load_split(args.data, "test")
    import tensorflow as tf

    from lenet5.runtimes import latency_microseconds, model_bytes, open_model

    # One thread: latency as on a small device, and no runtime gets more cores than another.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    formats: dict[str, dict] = {}
    latency: dict[str, dict] = {}
    reference = None
    for path in (args.model, args.serving, args.tflite, args.int8):
        with hint_on_error(good_copy(path, "train" if path == args.model else "export")):
            classifier = open_model(path, threads=1)
        predicted = np.argmax(classifier.probabilities(images), axis=1)
        reference = predicted if reference is None else reference
        scores = formats[classifier.format] = {
            "accuracy": round(float(np.mean(predicted == labels)), 6),
            "errors": int(np.sum(predicted != labels)),
            "agreement": round(float(np.mean(predicted == reference)), 6),
            "bytes": model_bytes(path),
        }
        microseconds = latency_microseconds(classifier, images)
        latency[classifier.format] = {"microseconds_per_digit": microseconds}
        print(
            f"score_exports: {classifier.format}: accuracy {scores['accuracy']:.4f}, agreement "
            f"{scores['agreement']:.4f}, {scores['bytes']:,} B, {microseconds} us per digit",
            flush=True,
        )
    write_json(args.formats, formats)
    write_json(args.latency, latency)
    write_json(args.metrics, {"int8_accuracy": formats["tflite_int8"]["accuracy"]})


if __name__ == "__main__":
    run_command("score_exports", main)
