"""Typed settings: params.yaml, the experiment's knobs (data/sources.yaml is lenet5/sources.py).

Both are read with ruamel.yaml's YAML 1.2 rules, exactly as DVC reads them (`1e-3` is a number,
`yes` is a string), so the pipeline and `dvc params diff` always agree on a value. Each section
becomes a frozen dataclass: functions take the typed config, never a dict. Every value is checked
once, here, and every problem is reported in the same run, one line each with its line number.

Frozen dataclasses rather than pydantic: the rules are ranges and choices with messages in this
project's one-line format, and pydantic's lax mode would accept `"3"` for an integer that DVC
shows as a string.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lenet5.errors import PipelineError

PARAMS_FILE = Path("params.yaml")
AUTO = "auto"  # train.epochs and train.batch_size: follow the data set's size (lenet5/schedule.py)
# params.yaml is a page of settings: anything far larger, deeper or self-referencing is hostile.
MAX_YAML_BYTES = 64 * 1024
MAX_YAML_DEPTH = 8

Rule = Callable[[Any], Any]  # returns the checked value, or raises ValueError("expected ...")


def setting(rule: Rule, meaning: str = "", allowed: str = "", details: str = "") -> Any:
    """A dataclass field checked by `rule` when the file is loaded, described here once: `meaning`
    is its comment in params.yaml (a test holds the two equal) and its line in docs/params.md,
    followed there by `details`; `allowed` (by default the rule's own words) is the values it takes."""
    allowed = allowed or getattr(rule, "allowed", "")
    return field(metadata={"rule": rule, "meaning": meaning, "allowed": allowed, "details": details})


def described(rule: Rule, allowed: str) -> Rule:
    """`rule`, with the words docs/params.md uses for the values it allows."""
    rule.allowed = allowed  # type: ignore[attr-defined]
    return rule


def integer(low: int, high: int) -> Rule:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return int(value)

    return described(check, f"integer {low} to {'2^31-1' if high == 2**31 - 1 else f'{high:,}'}")


def integer_or_auto(low: int, high: int) -> Rule:
    def check(value: Any) -> int | str:
        if value == AUTO:
            return AUTO
        try:
            return integer(low, high)(value)
        except ValueError:
            raise ValueError(f"expected {AUTO} or an integer from {low} to {high:,}") from None

    return described(check, f"`{AUTO}`, or an integer {low} to {high:,}")


def number(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Rule:
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if (
            not ok
            or not (low < value if low_open else low <= value)
            or not (value < high if high_open else value <= high)
        ):
            raise ValueError(f"expected a number in {interval}")
        return float(value)

    return described(check, interval)


def choice(*allowed: str) -> Rule:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return str(value)

    return described(check, ", ".join(allowed))


def pair(low: float, high: float) -> Rule:
    """Two numbers, each in [low, high): a list in YAML, a tuple here."""

    def check(value: Any) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError(f"expected a list of two numbers in [{low}, {high})")
        return tuple(number(low, high, high_open=True)(v) for v in value)  # type: ignore[return-value]

    return described(check, f"two numbers in [{low}, {high})")


# Each setting's rule, what it means and which values it takes, once: params.yaml holds the values,
# docs/params.md is written from these (`make docs`), and check_params applies the rules.
@dataclass(frozen=True)
class PrepareConfig:
    validation_size: float = setting(
        number(0, 1, low_open=True, high_open=True), "fraction of the training images held out for validation"
    )
    seed: int = setting(integer(0, 2**31 - 1), "seed of that split")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = setting(integer(0, 2**31 - 1), "seeds weights, shuffling and augmentation")
    epochs: int | str = setting(
        integer_or_auto(1, 1000),
        "passes over the training split; auto: the fewest that show train.min_images images",
    )
    batch_size: int | str = setting(
        integer_or_auto(1, 2**24),
        "images per step; auto: 512, halved (down to 16) until an epoch makes 8+ steps",
        "`auto`, or 1 to the training split's size",
    )
    min_images: int = setting(
        integer(1, 10**9),
        "with epochs: auto, images to train on in all, whatever the set's size",
    )
    optimizer: str = setting(
        choice("adam", "adamw", "sgd", "rmsprop"), "adam, adamw, sgd (Nesterov, momentum 0.9) or rmsprop"
    )
    adam_betas: tuple[float, float] = setting(
        pair(0, 1),
        "adam, adamw: how slowly the averages of gradients and squared gradients forget",
        details="`beta_1`, `beta_2` (Keras's own are [0.9, 0.999]); `-S 'train.adam_betas=[0.9,0.999]'`",
    )
    learning_rate: float = setting(number(0, 1, low_open=True), "peak learning rate")
    lr_schedule: str = setting(
        choice("constant", "warmup_cosine"), "constant, or linear warm-up then cosine decay to 0"
    )
    warmup_epochs: float = setting(
        number(0, 1000), "length of the warm-up, fractions allowed", "0 to below `train.epochs`"
    )
    weight_decay: float = setting(number(0, 1, high_open=True), "decoupled weight decay, 0 for none")
    ema_momentum: float = setting(
        number(0, 1, high_open=True),
        "the saved model is the weights' moving average with this momentum per step; 0 off",
        details="Keras's `use_ema`: training itself goes on from its own weights",
    )
    augment_max_shift: float = setting(
        number(0, 8),
        "random shift of each training image, in pixels",
        "[0, 8]; 0 with rotation 0 turns augmentation off",
    )
    augment_max_rotation: float = setting(number(0, 45), "random rotation of each training image, in degrees")
    elastic_strength: float = setting(
        number(0, 8),
        "elastic distortion: each control point of the field moves up to this, in pixels; 0 off",
        details="Simard et al. 2003: a smooth random displacement field, along x and y",
    )
    elastic_smoothness: float = setting(
        number(2, 28),
        "pixels between the field's control points: larger is smoother",
        details="a cubic B-spline through them",
    )
    unaugmented_epochs: int = setting(
        integer(0, 1000),
        "the last epochs train on the images unchanged, after the augmented ones",
        "0 to `train.epochs`",
    )
    label_smoothing: float = setting(
        number(0, 1, high_open=True),
        "share of each target spread evenly over the classes",
        details="Keras's `label_smoothing`",
    )
    threads: int = setting(
        integer(0, 256), "TensorFlow intra-op threads, 0 for all cores", details="0 with `jax` (XLA takes every core)"
    )
    distribute: str = setting(
        choice("none", "mirrored", "multi_worker"),
        "none; mirrored: a replica per local GPU (or the CPU); multi_worker: TF_CONFIG machines",
        details="mirrored is TensorFlow's `MirroredStrategy` or Keras's `DataParallel` on JAX; multi_worker runs "
        "one process per machine, TensorFlow only (see [Beyond one CPU](scaling.md))",
    )
    backend: str = setting(
        choice("tensorflow", "jax"),
        "the Keras backend that trains: tensorflow, or jax (no multi_worker, threads 0)",
        details="the model file is the same format either way, and evaluate, export and `lenet5-predict` read it "
        "(see [Beyond one CPU](scaling.md))",
    )


@dataclass(frozen=True)
class PlotConfig:
    misclassified_max: int = setting(
        integer(1, 100), "how many misclassified test digits plots/misclassified.png shows", "1 to 100"
    )
    dpi: int = setting(integer(50, 300), "resolution of the PNGs", "50 to 300")


@dataclass(frozen=True)
class Params:
    """params.yaml: one typed section per stage that has settings."""

    prepare: PrepareConfig
    train: TrainConfig
    plot: PlotConfig


Section = TypeVar("Section")


class Document:
    """A YAML file's values (read as DVC reads them) and where each key stands, for messages."""

    def __init__(self, path: Path) -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        self.path = path
        try:
            size = path.stat().st_size
            if size > MAX_YAML_BYTES:
                raise PipelineError(f"{path}: {size:,} bytes; a settings file may be at most {MAX_YAML_BYTES:,}")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PipelineError(f"{path}: not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise PipelineError(f"{path}: cannot read ({error})") from None
        try:
            self._refuse_hostile_structure(YAML(typ="safe", pure=True).parse(text))
            # Values exactly as DVC loads them (its parse_yaml uses typ="safe"); positions from
            # the round-trip loader, which keeps each key's line.
            self.values = YAML(typ="safe").load(text)
            self._positions = YAML(typ="rt").load(text)
        except YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise PipelineError(f"{path}{where}: not valid YAML ({problem})") from None

    def _refuse_hostile_structure(self, events: Any) -> None:
        """Anchors and aliases (the "billion laughs" expansion) and deep nesting, before building anything."""
        depth = 0
        for event in events:
            kind = type(event).__name__
            line = event.start_mark.line + 1
            if kind == "AliasEvent" or getattr(event, "anchor", None):
                raise PipelineError(f"{self.path}:{line}: YAML anchors and aliases are not allowed here")
            depth += kind in ("MappingStartEvent", "SequenceStartEvent")
            depth -= kind in ("MappingEndEvent", "SequenceEndEvent")
            if depth > MAX_YAML_DEPTH:
                raise PipelineError(f"{self.path}:{line}: nested deeper than {MAX_YAML_DEPTH} levels")

    def where(self, *keys: str) -> str:
        """`path:line` of the deepest of `keys` that exists, for an error message."""
        node, line = self._positions, None
        for key in keys:
            if not hasattr(node, "lc") or not isinstance(node, dict) or key not in node:
                break
            line = node.lc.key(key)[0] + 1
            node = node[key]
        return f"{self.path}:{line}" if line else str(self.path)


def _closest(key: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(key, known, n=1)
    return close[0] if close else None


def _unknown_key(keys: tuple[str, ...], key: str, known: list[str]) -> str:
    close = _closest(key, known)
    name = ".".join([*keys, key])
    hint = f"did you mean {'.'.join([*keys, close])}?" if close else f"known keys: {', '.join(known)}"
    return f"{name}: unknown key; {hint}"


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: its repr, cut short (a list of 300 names is not one line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]} ...{text[-1] if text[-1] in ')]}' else ''}"


def check_section(cls: type[Section], values: Any, doc: Document, keys: tuple[str, ...], problems: list[str]) -> Any:
    """Build `cls` from a mapping, adding one message per bad, unknown or missing key to `problems`."""
    name = ".".join(keys)
    specs = dataclasses.fields(cls)  # type: ignore[arg-type]
    known = [spec.name for spec in specs]
    if not isinstance(values, dict):
        problems.append(f"{doc.where(*keys)}: {name or 'the file'}: expected a mapping with keys {', '.join(known)}")
        return None
    start = len(problems)
    suggested = set()
    for key in map(str, values):
        if key not in known:
            problems.append(f"{doc.where(*keys, key)}: {_unknown_key(keys, key, known)}")
            suggested.add(_closest(key, known))
    checked: dict[str, Any] = {}
    for spec in specs:
        full = ".".join([*keys, spec.name])
        if spec.name in suggested and spec.name not in values:
            continue  # a misspelling of it was reported, with the right name
        if spec.name not in values:
            problems.append(f"{doc.where(*keys)}: {full}: missing")
            continue
        value = values[spec.name]
        rule = spec.metadata.get("rule")
        try:
            checked[spec.name] = (
                rule(value) if rule else check_section(SECTIONS[spec.name], value, doc, (spec.name,), problems)
            )
        except ValueError as error:
            problems.append(f"{doc.where(*keys, spec.name)}: {full}: {shown(value)} is not allowed; {error}")
    return cls(**checked) if len(problems) == start else None


SECTIONS: dict[str, type] = {"prepare": PrepareConfig, "train": TrainConfig, "plot": PlotConfig}


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Every section of params.yaml, checked; all problems raised together."""
    doc, problems = Document(path), []
    params = check_section(Params, doc.values, doc, (), problems)
    if params is not None:
        problems += _cross_checks(params, doc)
    raise_if(problems)
    return params


def _cross_checks(params: Params, doc: Document) -> list[str]:
    problems = []
    train = params.train
    # The rules that depend on the number of epochs or on the training split's size are checked
    # where the data are known, once (lenet5/schedule.py).
    if train.backend == "jax" and train.distribute == "multi_worker":
        problems.append(
            f"{doc.where('train', 'distribute')}: train.distribute: multi_worker is not allowed with train.backend "
            "jax; multi_worker trains on TensorFlow only (mirrored uses every local GPU on JAX)"
        )
    if train.backend == "jax" and train.threads:
        problems.append(
            f"{doc.where('train', 'threads')}: train.threads: {train.threads} is not allowed with train.backend jax; "
            "expected 0 (JAX's compiled steps take every core)"
        )
    return problems


def raise_if(problems: list[str]) -> None:
    if problems:
        raise PipelineError(*problems)
