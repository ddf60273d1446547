"""The draw-a-digit page: a folder any static host serves as it is, with the model and its runtime.

The page's sources (page/: HTML, CSS, its JavaScript) are copied with LiteRT.js, the runtime that
runs the exported int8 file in the browser (XNNPack in WebAssembly; npm's @litertjs/core, locked
by package-lock.json), the model itself, and model.json: the data set, its class names, the int8
output's quantization and the pipeline's results (test accuracy, the confusion matrix). Nothing
is fetched from anywhere else, so the page works offline and on any static host. No forward pass
is written here: the runtime runs the file the export stage wrote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from lenet5.data.splits import DEFAULT_CLASSES
from lenet5.errors import PipelineError
from lenet5.files import atomic_folder

RUNTIME_PACKAGE = "@litertjs/core"
# What the page loads of the runtime, from node_modules/@litertjs, and where it goes under vendor/.
# LiteRT.js picks litert_wasm_internal where the browser has relaxed SIMD, else the compat build.
RUNTIME_FILES = {
    "core/dist/index.js": "core/index.js",
    "wasm-utils/dist/index.js": "wasm-utils/index.js",
    **{f"core/wasm/{name}": f"wasm/{name}" for name in ("litert_wasm_internal.js", "litert_wasm_internal.wasm")},
    **{
        f"core/wasm/{name}": f"wasm/{name}"
        for name in ("litert_wasm_compat_internal.js", "litert_wasm_compat_internal.wasm")
    },
}
PAGE_FILES = ("index.html", "style.css", "app.js", "preprocess.js")
MNIST_NAMES = [str(digit) for digit in range(DEFAULT_CLASSES)]


def locked_version(lock: Path, package: str = RUNTIME_PACKAGE) -> str:
    try:
        return json.loads(lock.read_text())["packages"][f"node_modules/{package}"]["version"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{lock}: no locked version of {package} ({type(error).__name__}: {error})") from None


def installed_version(runtime: Path) -> str | None:
    try:
        return json.loads((runtime / "core/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_runtime(runtime: Path, lock: Path) -> None:
    """The locked runtime under `runtime` (node_modules/@litertjs): installed with `npm ci` from
    npm's cache where it is missing or another version, as in a queued experiment's copy."""
    wanted = locked_version(lock)
    if installed_version(runtime) == wanted:
        return
    command = ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        done = subprocess.run(command, cwd=lock.parent, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise PipelineError(
            f"{runtime}: missing, and no npm to install it; install Node.js 18 or newer, then run `npm ci`"
        ) from None
    if done.returncode != 0 or installed_version(runtime) != wanted:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"{runtime}: `npm ci` did not install {RUNTIME_PACKAGE} {wanted} ({last})")


def int8_output(model: Path) -> dict[str, float]:
    """The int8 file's output quantization, checked to be the uint8-in, uint8-out file the page runs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model.read_bytes())
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if source["dtype"] != np.uint8 or target["dtype"] != np.uint8:
        raise PipelineError(f"{model}: not the full-integer file (uint8 in and out) the page runs")
    scale, zero = target["quantization"]
    return {"scale": float(scale), "zero_point": int(zero), "classes": int(target["shape"][-1])}


def manifest(dataset: str, names: list[str], output: dict[str, float], results: dict[str, Any]) -> dict[str, Any]:
    if output["classes"] != len(names):
        raise PipelineError(f"the model gives {output['classes']} probabilities, but {len(names)} classes are named")
    quantization = {key: output[key] for key in ("scale", "zero_point")}
    noun = "a digit" if names == MNIST_NAMES else "an image"
    return {"dataset": dataset, "noun": noun, "classes": names, "output": quantization, "results": results}


def build_page(out: Path, page: Path, runtime: Path, model: Path, description: dict[str, Any]) -> Path:
    """Write the folder `out` whole: the page, the runtime, the model and model.json; replaced at once."""
    for name in PAGE_FILES:
        if not (page / name).is_file():
            raise PipelineError(f"{page / name}: missing; the page's sources are in {page}/")
    with atomic_folder(out) as scratch:
        for name in PAGE_FILES:
            shutil.copyfile(page / name, scratch / name)
        for source, target in RUNTIME_FILES.items():
            (scratch / "vendor/litertjs" / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(runtime / source, scratch / "vendor/litertjs" / target)
        shutil.copyfile(model, scratch / "model.tflite")
        text = json.dumps(description, indent=2, sort_keys=True) + "\n"
        (scratch / "model.json").write_text(text, encoding="utf-8")
    return out


def page_weight(folder: Path) -> dict[str, int]:
    """Bytes the page loads, by kind: the JavaScript, the WebAssembly the browser picks, the model."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    compat = [p for p in files if "compat" in p.name]
    return {
        "javascript": sum(p.stat().st_size for p in files if p.suffix == ".js" and p not in compat),
        "webassembly": sum(p.stat().st_size for p in files if p.suffix == ".wasm" and p not in compat),
        "model": (folder / "model.tflite").stat().st_size,
        "other": sum(p.stat().st_size for p in files if p.suffix in (".html", ".css", ".json")),
    }
