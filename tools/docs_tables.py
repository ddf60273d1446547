"""The results tables in README.md and docs/, written from the committed data they report.

A generated table sits between two markers in the Markdown, which say which table it is:

    <!-- table: export-formats -->
    | format | ... |
    <!-- end table -->

`python -m tools.docs_tables` rewrites every such table from its data (bench/results/*.json,
metrics/*.json); `--check` changes nothing and fails, naming each table, when a page differs from
its data (a number edited by hand, or data changed without the docs). A test runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

from lenet5.errors import PipelineError, run_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
PAGES = ("README.md", "docs/*.md")
BLOCK = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- end table -->)", re.DOTALL)
# Each format's row label in the export table, in the stage's order.
FORMAT_LABELS = {
    "keras": "Keras (`.keras`, optimizer state included)",
    "saved_model": "SavedModel (TF Serving)",
    "tflite_float32": "LiteRT float32",
    "tflite_int8": "LiteRT int8",
}


def candidates_table(name: str, **options: object) -> Callable[[], str]:
    def make() -> str:
        from bench import candidates

        return candidates.table(RESULTS / name, **options)  # type: ignore[arg-type]

    return make


def candidates_curves(name: str) -> Callable[[], str]:
    def make() -> str:
        from bench import candidates

        return candidates.curves(RESULTS / name)

    return make


def loop_tables() -> str:
    from bench import loop

    return loop.tables(json.loads((RESULTS / "loop.json").read_text()))


def export_formats() -> str:
    """The committed run's export scores (metrics/export_formats.json, from `dvc repro`) beside
    bench.latency's timings of the same files (bench/results/latency.json)."""
    scores = json.loads((ROOT / "metrics/export_formats.json").read_text())
    latency = json.loads((RESULTS / "latency.json").read_text())["microseconds_per_digit"]
    lines = [
        "| format | test accuracy % | errors | agreement with Keras % | bytes | µs per digit (batch 1, one thread) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in FORMAT_LABELS.items():
        found = scores[name]
        lines.append(
            f"| {label} | {found['accuracy'] * 100:.2f} | {found['errors']} | {found['agreement'] * 100:.4g} "
            f"| {found['bytes']:,} | {latency[name]:,} |"
        )
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {
    "candidates-choosing": candidates_table("candidates-choosing.json", against=None),
    "candidates-choosing-curves": candidates_curves("candidates-choosing.json"),
    "candidates-reporting": candidates_table(
        "candidates-reporting.json",
        against="backends-cpu.json: default, tensorflow",
        benchmark=RESULTS / "backends-cpu.json",
    ),
    "loop": loop_tables,
    "export-formats": export_formats,
}


def pages(root: Path) -> list[Path]:
    return sorted(path for pattern in PAGES for path in root.glob(pattern))


def regenerate(root: Path, write: bool) -> list[str]:
    """Each generated table of the pages under `root` that differs from its data, as `page: name`;
    with `write`, rewritten. An unknown table name is an error."""
    stale, made = [], {}
    for page in pages(root):
        text = page.read_text()

        def replace(match: re.Match[str], page: Path = page) -> str:
            name = match[2]
            if name not in TABLES:
                raise PipelineError(f"{page}: table {name!r} is not one tools/docs_tables.py makes")
            try:
                made[name] = made.get(name) or TABLES[name]().rstrip("\n") + "\n"
            except (OSError, ValueError, KeyError) as error:  # its data missing or not what it expects
                raise PipelineError(f"{page}: table {name!r}: its data: {type(error).__name__}: {error}") from None
            if match[3] != made[name]:
                stale.append(f"{page.relative_to(root)}: {name}")
            return match[1] + made[name] + match[4]

        new = BLOCK.sub(replace, text)
        if write and new != text:
            page.write_text(new)
    return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a table differs from its data")
    args = parser.parse_args()
    stale = regenerate(ROOT, write=not args.check)
    if args.check and stale:
        raise PipelineError(*(f"{where}: differs from its data; run `python -m tools.docs_tables`" for where in stale))
    for where in stale:
        print(f"docs_tables: rewrote {where}")


if __name__ == "__main__":
    run_command("docs_tables", main)
