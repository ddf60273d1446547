"""Stage page: the draw-a-digit page, built from the exported int8 model into a folder to serve.

Copies the page's sources, LiteRT.js (installed from package-lock.json with `npm ci` where it is
missing), the int8 file and model.json (the data set, the class names, the output's quantization,
the test accuracy and the confusion matrix) into the output folder (lenet5/serving/webpage.py). `make demo`
serves it on 127.0.0.1; any static host serves it as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.data.classes import read_classes
from lenet5.data.sources import load_sources
from lenet5.errors import hint_on_error
from lenet5.evaluation.results import read_results
from lenet5.evaluation.scoring import confusion_matrix
from lenet5.files import read_json_number
from lenet5.process import run_command
from lenet5.serving.webpage import build_page, ensure_runtime, int8_output, manifest
from stages.hints import good_copy, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True, help="data/sources.yaml: the data set's name")
    parser.add_argument("--model", type=Path, required=True, help="the int8 .tflite file")
    parser.add_argument("--classes", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="evaluate's metrics")
    parser.add_argument("--export-metrics", type=Path, required=True, help="export's metrics (the int8 accuracy)")
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--misclassified", type=Path, required=True)
    parser.add_argument("--page", type=Path, required=True, help="the page's sources")
    parser.add_argument("--lock", type=Path, required=True, help="package-lock.json, which pins the runtime")
    parser.add_argument("--runtime", type=Path, required=True, help="node_modules/@litertjs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    dataset = load_sources(args.sources).name
    with hint_on_error(good_copy(args.classes, "train")):
        names = read_classes(args.classes)
    with hint_on_error(rerun("evaluate")):
        accuracy = read_json_number(args.metrics, "accuracy")
        rows = len(args.predictions.read_bytes().splitlines()) - 1 if args.predictions.is_file() else 0
        actual, predicted, _ = read_results(args.predictions, args.misclassified, rows, names)
    with hint_on_error(rerun("export")):
        int8_accuracy = read_json_number(args.export_metrics, "int8_accuracy")
    with hint_on_error(good_copy(args.model, "export")):
        output = int8_output(args.model)
    results = {
        "test_accuracy": accuracy,
        "int8_accuracy": int8_accuracy,
        "test_images": rows,
        "confusion": confusion_matrix(actual, predicted, len(names)).tolist(),  # type: ignore[arg-type]
    }
    ensure_runtime(args.runtime, args.lock)
    folder = build_page(args.out, args.page, args.runtime, args.model, manifest(dataset, names, output, results))
    print(f"page: {folder}/ ({dataset}, {len(names)} classes); `make demo` serves it on 127.0.0.1")


if __name__ == "__main__":
    run_command("page", main)
