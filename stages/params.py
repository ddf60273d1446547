"""params.yaml: every key's type and range, checked before any stage does work.

A stage calls `load_section(name)` for its own section. The `check_params` stage validates the
whole file first, so a bad value stops `dvc repro` before DVC removes any stage's outputs.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from stages.errors import PipelineError
from stages.idx import MNIST_FILES, MNIST_TRAIN_SIZE

PARAMS_FILE = Path("params.yaml")

Check = Callable[[str, Any], Any]


def integer(low: int, high: int) -> Check:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PipelineError(f"{key}: {value!r} is not allowed; expected an integer from {low} to {high}")
        return value

    return check


def number(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Check:
    left, right = ("(" if low_open else "["), (")" if high_open else "]")

    def check(key: str, value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
        if not ok:
            raise PipelineError(f"{key}: {value!r} is not allowed; expected a number in {left}{low}, {high}{right}")
        return float(value)

    return check


def choice(*allowed: str) -> Check:
    def check(key: str, value: Any) -> str:
        if value not in allowed:
            raise PipelineError(f"{key}: {value!r} is not allowed; expected one of {', '.join(allowed)}")
        return value

    return check


def url_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and re.match(r"^(https?|file)://", v) for v in value):
        raise PipelineError(f"{key}: {value!r} is not allowed; expected a list of http(s):// or file:// base URLs")
    return value


def sha256_map(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(MNIST_FILES):
        raise PipelineError(f"{key}: expected exactly the keys {', '.join(MNIST_FILES)}")
    for name, digest in value.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise PipelineError(f"{key}.{name}: {digest!r} is not a lowercase hex SHA-256")
    return value


SCHEMA: dict[str, dict[str, Check]] = {
    "fetch": {
        "mirrors": url_list,
        "sha256": sha256_map,
        "timeout_seconds": number(0, 600, low_open=True),
    },
    "prepare": {
        "validation_size": number(0, 1, low_open=True, high_open=True),
        "seed": integer(0, 2**31 - 1),
    },
    "train": {
        "seed": integer(0, 2**31 - 1),
        "epochs": integer(1, 1000),
        "batch_size": integer(1, MNIST_TRAIN_SIZE),
        "optimizer": choice("adam", "adamw", "sgd", "rmsprop"),
        "learning_rate": number(0, 1, low_open=True),
        "lr_schedule": choice("constant", "warmup_cosine"),
        "warmup_epochs": number(0, 1000),
        "weight_decay": number(0, 1, high_open=True),
        "augment_max_shift": number(0, 8),
        "augment_max_rotation": number(0, 45),
        "threads": integer(0, 256),
    },
    "evaluate": {
        "batch_size": integer(1, 100_000),
    },
    "plot": {
        "misclassified_max": integer(1, 100),
        "dpi": integer(50, 300),
    },
}


def read_params_file(path: Path = PARAMS_FILE) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping of sections ({', '.join(SCHEMA)})")
    return raw


def unknown_key_error(key: str, known: list[str]) -> PipelineError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known keys: {', '.join(known)}"
    return PipelineError(f"{key}: unknown key{hint}")


def validate_section(name: str, values: Any) -> dict[str, Any]:
    """Check one section against SCHEMA; return it with numbers normalised."""
    if name not in SCHEMA:
        raise unknown_key_error(name, list(SCHEMA))
    schema = SCHEMA[name]
    if not isinstance(values, dict):
        raise PipelineError(f"{name}: expected a mapping with keys {', '.join(schema)}")
    for key in values:
        if key not in schema:
            raise unknown_key_error(f"{name}.{key}", list(schema))
    missing = [key for key in schema if key not in values]
    if missing:
        raise PipelineError(f"{name}.{missing[0]}: missing from params.yaml")
    checked = {key: check(f"{name}.{key}", values[key]) for key, check in schema.items()}
    if name == "train" and checked["warmup_epochs"] >= checked["epochs"]:
        raise PipelineError(
            f"train.warmup_epochs: {checked['warmup_epochs']!r} is not allowed; "
            f"expected fewer than train.epochs ({checked['epochs']})"
        )
    return checked


def validate_all(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every section and the rules that span sections."""
    for name in raw:
        if name not in SCHEMA:
            raise unknown_key_error(str(name), list(SCHEMA))
    for name in SCHEMA:
        if name not in raw:
            raise PipelineError(f"{name}: section missing from params.yaml")
    checked = {name: validate_section(name, raw[name]) for name in SCHEMA}
    train_size = math.floor(MNIST_TRAIN_SIZE * (1 - checked["prepare"]["validation_size"]))
    if checked["train"]["batch_size"] > train_size:
        raise PipelineError(
            f"train.batch_size: {checked['train']['batch_size']} is not allowed; expected at most the "
            f"{train_size} training images left after prepare.validation_size"
        )
    return checked


def load_section(name: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The validated section `name` of params.yaml."""
    raw = read_params_file(path)
    if name not in raw:
        raise PipelineError(f"{name}: section missing from {path}")
    return validate_section(name, raw[name])
