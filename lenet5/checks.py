"""Reading a settings file exactly as DVC reads it, and the rules its values are checked by.

params.yaml (lenet5/config.py), data/sources.yaml (lenet5/data/sources.py) and search.yaml
(lenet5/training/tuning.py) are read with ruamel.yaml's YAML 1.2 rules, as DVC reads them (`1e-3`
is a number, `yes` is a string), so the pipeline and `dvc params diff` always agree on a value.
Each section becomes a frozen dataclass whose fields carry their rule; every problem is reported in
the same run, one line each with its line number.

Frozen dataclasses rather than pydantic: the rules are ranges and choices with messages in this
project's one-line format, and pydantic's lax mode would accept `"3"` for an integer that DVC
shows as a string.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

from lenet5.errors import PipelineError

# A settings file is a page of settings: anything far larger, deeper or self-referencing is hostile.
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


def closest(key: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(key, known, n=1)
    return close[0] if close else None


def unknown_key(keys: tuple[str, ...], key: str, known: list[str]) -> str:
    close = closest(key, known)
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
            problems.append(f"{doc.where(*keys, key)}: {unknown_key(keys, key, known)}")
            suggested.add(closest(key, known))
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
                rule(value) if rule else check_section(spec.metadata["section"], value, doc, (spec.name,), problems)
            )
        except ValueError as error:
            problems.append(f"{doc.where(*keys, spec.name)}: {full}: {shown(value)} is not allowed; {error}")
    return cls(**checked) if len(problems) == start else None


def raise_if(problems: list[str]) -> None:
    if problems:
        raise PipelineError(*problems)
