"""Open a trained model in any of its formats with the runtime that would serve it, as a classifier.

- `.keras`: Keras (lenet5/training/model.py).
- a SavedModel folder (or TF Serving's `<name>/` folder above its numbered versions): TensorFlow's
  SavedModel loader, calling the `serving_default` signature as TensorFlow Serving does.
- `.tflite`: the LiteRT interpreter from `ai-edge-litert`, the runtime a phone or an edge server
  installs (22 MB, no TensorFlow); TensorFlow's own `tf.lite.Interpreter` is deprecated.

Each returns probabilities (N, classes) for uint8 images (N, 28, 28). A model file is outside input
like a picture: a damaged, foreign or oversized one is refused in one line naming it, before it
can take much memory or run anything but LeNet-5's own operations.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lenet5.data.sources import MAX_CLASSES
from lenet5.errors import PipelineError, first_line

MAX_MODEL_BYTES = 64 * 2**20  # a LeNet-5 file is under 1 MB; anything near this is not one
MAX_TENSOR_BYTES = 64 * 2**20  # what a .tflite file may ask the interpreter to allocate
SAVED_MODEL_FILE = "saved_model.pb"
# Every operation in this project's SavedModel (its serving function, and the save and restore
# functions every SavedModel carries). A SavedModel is a program: one that reads or writes files
# or runs Python could do so when called, so anything else is refused before loading.
# PartitionedCall (a plain function call) is TF's other way of writing what ours calls statefully.
SAVED_MODEL_OPS = frozenset(
    {
        *("AddV2", "AssignVariableOp", "BiasAdd", "Cast", "Const", "Conv2D", "DisableCopyOnRead"),
        *("Identity", "MatMul", "MaxPool", "MergeV2Checkpoints", "Mul", "NoOp", "Pack", "Pad"),
        *("PartitionedCall", "Placeholder", "ReadVariableOp", "Relu", "Reshape", "RestoreV2", "SaveV2"),
        *("Select", "Shape", "ShardedFilename", "Softmax", "Squeeze", "StatefulPartitionedCall"),
        *("StaticRegexFullMatch", "StridedSlice", "StringJoin", "VarHandleOp", "VarIsInitializedOp"),
    }
)


@dataclass(frozen=True)
class Classifier:
    """A model opened by its runtime: `format` names it, `probabilities` runs it, `classes` is its
    output width."""

    format: str
    probabilities: Callable[[np.ndarray], np.ndarray]
    classes: int


def open_model(path: Path, threads: int = 0) -> Classifier:
    """The classifier in `path`, by its kind: .tflite file, SavedModel folder, else .keras file."""
    if not path.exists():
        raise PipelineError(f"{path}: missing")
    if path.is_dir():
        return open_saved_model(path)
    if path.suffix == ".tflite":
        return open_tflite(path, threads)
    from lenet5.training.model import load_model

    return keras_classifier(load_model(path, compile=False))  # predicting needs no optimizer


def keras_classifier(model: Any) -> Classifier:
    """A Keras model already loaded, as a classifier."""
    from lenet5.training.model import class_count, predict_probabilities

    return Classifier("keras", lambda images: predict_probabilities(model, images), class_count(model))


def read_model_bytes(path: Path) -> bytes:
    """The file's bytes, refused (not read) when larger than any LeNet-5 could be."""
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise PipelineError(f"{path}: {size:,} bytes, over the {MAX_MODEL_BYTES:,} a LeNet-5 model file can be")
    return path.read_bytes()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what native code writes to stderr (file descriptor 2) in the block.

    LiteRT's runtime announces its CPU delegate on every load, a line a command's user has nothing
    to do about; its errors reach Python as exceptions, which this does not touch.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_tflite(path: Path, threads: int = 0) -> Classifier:
    from ai_edge_litert.interpreter import Interpreter

    content = read_model_bytes(path)
    if content[4:8] != b"TFL3":  # the flatbuffer's file identifier
        raise PipelineError(f"{path}: not a LiteRT (.tflite) model")
    try:
        # The interpreter verifies the flatbuffer's structure; what it holds is checked below.
        interpreter = Interpreter(model_content=content, num_threads=threads or None)
        wanted = sum(int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in interpreter.get_tensor_details())
        if wanted > MAX_TENSOR_BYTES:
            raise PipelineError(f"{path}: asks for {wanted:,} bytes of tensors, not a LeNet-5 model")
        with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise PipelineError(f"{path}: damaged or not a LiteRT model ({first_line(error)})") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if (
        len(inputs) != 1
        or len(outputs) != 1
        or list(inputs[0]["shape"]) != [1, 28, 28, 1]
        or len(outputs[0]["shape"]) != 2
        or outputs[0]["shape"][0] != 1
        or not 2 <= outputs[0]["shape"][1] <= MAX_CLASSES
        or inputs[0]["dtype"] not in (np.uint8, np.float32)
    ):
        raise PipelineError(
            f"{path}: a LiteRT model, but not one that takes a 28x28 image and gives one probability per class"
        )
    classes = int(outputs[0]["shape"][1])
    source, target = inputs[0], outputs[0]
    out_scale, out_zero = target["quantization"]

    def probabilities(images: np.ndarray) -> np.ndarray:
        rows = np.empty((len(images), classes), np.float32)
        for i, image in enumerate(images):  # one digit per call, as on a device
            interpreter.set_tensor(source["index"], image.astype(source["dtype"])[np.newaxis, ..., np.newaxis])
            interpreter.invoke()
            row = interpreter.get_tensor(target["index"])[0]
            rows[i] = (row.astype(np.float32) - out_zero) * out_scale if out_scale else row
        return rows

    kind = "tflite_int8" if source["dtype"] == np.uint8 else "tflite_float32"
    return Classifier(kind, probabilities, classes)


def saved_model_folder(path: Path) -> Path:
    """`path` itself, or the highest numbered version under it (as TF Serving picks)."""
    if (path / SAVED_MODEL_FILE).is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir() if p.name.isdigit() and (p / SAVED_MODEL_FILE).is_file())
    if not versions:
        raise PipelineError(
            f"{path}: a folder, but no SavedModel ({SAVED_MODEL_FILE}) in it or in a numbered version under it"
        )
    return versions[-1][1]


def check_saved_model_ops(folder: Path) -> None:
    """Refuse a SavedModel that is damaged, or runs any operation LeNet-5's export does not."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    path = folder / SAVED_MODEL_FILE
    total = model_bytes(folder)
    if total > MAX_MODEL_BYTES:
        raise PipelineError(f"{folder}: {total:,} bytes, over the {MAX_MODEL_BYTES:,} a LeNet-5 model can be")
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString(path.read_bytes())
    except DecodeError as error:
        raise PipelineError(f"{path}: damaged or not a SavedModel ({first_line(error)})") from None
    ops = set()
    for graph in saved.meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        ops |= {node.op for function in graph.graph_def.library.function for node in function.node_def}
    if not saved.meta_graphs or ops - SAVED_MODEL_OPS:
        extra = ", ".join(sorted(ops - SAVED_MODEL_OPS)[:5]) or "no graph"
        raise PipelineError(
            f"{folder}: not a LeNet-5 SavedModel (it runs {extra}, which this project's export never does)"
        )


def open_saved_model(path: Path) -> Classifier:
    folder = saved_model_folder(path)
    check_saved_model_ops(folder)
    import tensorflow as tf

    try:
        serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    except Exception as error:  # damaged variables or graphs fail anywhere in TF's loader, in any type
        raise PipelineError(f"{folder}: damaged or not a SavedModel ({first_line(error)})") from None
    spec = serve.structured_input_signature[1].get("pixels")
    output = serve.structured_outputs.get("probabilities") if isinstance(serve.structured_outputs, dict) else None
    if (
        spec is None
        or spec.dtype != tf.uint8
        or list(spec.shape)[1:] != [28, 28]
        or output is None
        or len(output.shape) != 2
        or not 2 <= (output.shape[1] or 0) <= MAX_CLASSES
    ):
        raise PipelineError(f"{folder}: a SavedModel, but its serving_default does not take uint8 28x28 `pixels`")

    def probabilities(images: np.ndarray) -> np.ndarray:
        from lenet5.training.model import PREDICT_BATCH

        chunks = [
            serve(pixels=tf.constant(images[i : i + PREDICT_BATCH]))["probabilities"].numpy()
            for i in range(0, len(images), PREDICT_BATCH)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, classes), np.float32)

    classes = int(output.shape[1])
    return Classifier("saved_model", probabilities, classes)


def model_bytes(path: Path) -> int:
    """The size of a model file, or of every file in a model folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def score_formats(
    models: list[tuple[Path, Classifier]], images: np.ndarray, labels: np.ndarray
) -> dict[str, dict[str, float | int]]:
    """Each (file, opened classifier) in `models`, the first the reference: test accuracy, errors,
    agreement with the first one's predictions, and the file's bytes, per format."""
    scores: dict[str, dict[str, float | int]] = {}
    reference = None
    for path, classifier in models:
        predicted = np.argmax(classifier.probabilities(images), axis=1)
        reference = predicted if reference is None else reference
        scores[classifier.format] = {
            "accuracy": round(float(np.mean(predicted == labels)), 6),
            "errors": int(np.sum(predicted != labels)),
            "agreement": round(float(np.mean(predicted == reference)), 6),
            "bytes": model_bytes(path),
        }
    return scores
