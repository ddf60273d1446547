"""Stage export: write the trained model for TensorFlow Serving and LiteRT (float32 and int8).

Writes a SavedModel in TF Serving's layout (`<serving>/lenet5/1/`), a LiteRT float32 file and a
full-integer int8 LiteRT file calibrated on a seeded sample of the training split
(lenet5/export.py). Each is byte-identical when written again from the same model; the
score_exports stage measures them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet5.data import load_split
from lenet5.errors import hint_on_error, run_command
from lenet5.files import write_bytes
from stages.hints import good_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--serving", type=Path, required=True, help="TF Serving's model base folder")
    parser.add_argument("--tflite", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True)
    args = parser.parse_args()

    with hint_on_error(good_copy(args.data, "prepare")):
        train_images, _ = load_split(args.data, "train")
    from lenet5.export import calibration_sample, tflite_float32, tflite_int8, write_saved_model
    from lenet5.model import configure_tensorflow, load_model

    configure_tensorflow(seed=0, threads=0)  # nothing random is drawn; determinism for the converter
    with hint_on_error(good_copy(args.model, "train")):
        model = load_model(args.model, compile=False)  # without the optimizer's state: serving needs none
    folder = write_saved_model(model, args.serving)
    write_bytes(args.tflite, tflite_float32(model))
    write_bytes(args.int8, tflite_int8(model, calibration_sample(train_images)))
    sizes = ", ".join(f"{path} {path.stat().st_size:,} B" for path in (args.tflite, args.int8))
    print(f"export: SavedModel in {folder}; {sizes}")


if __name__ == "__main__":
    run_command("export", main)
