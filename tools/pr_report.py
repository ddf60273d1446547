"""Write a pull request's report: what a change did to params, metrics and plots, against its base.

    python -m tools.pr_report --base origin/main --out report

Writes report/report.md: `dvc params diff` and `dvc metrics diff` against the base revision as
Markdown tables, then each plot whose data changed, as a PNG beside it (DVC's charts rendered
with vl-convert, both revisions in one chart; the stage's PNGs side by side). The CI workflow
posts that file as one pull-request comment with CML, which uploads the images it links.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from lenet5.errors import PipelineError
from lenet5.process import run_command


def dvc(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"dvc {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def vega_changed(spec: dict[str, Any]) -> bool:
    """Whether the chart's data differ between its revisions (each data row names its revision)."""
    by_revision: dict[str, list[str]] = {}
    for row in spec.get("data", {}).get("values", []):
        fields = {key: value for key, value in row.items() if key not in ("rev", "filename", "field")}
        by_revision.setdefault(str(row.get("rev")), []).append(json.dumps(fields, sort_keys=True))
    return len({json.dumps(sorted(rows)) for rows in by_revision.values()}) > 1


def changed_plots(base: str, out: Path) -> list[str]:
    """Markdown for each plot that differs between `base` and the workspace, its PNGs written to `out`."""
    import vl_convert

    plots = json.loads(dvc("plots", "diff", base, "--json", "-o", str(out / "dvc_plots")))["data"]
    sections = []
    for name, renders in plots.items():
        if not renders:
            continue
        kind = renders[0].get("type")
        if kind == "vega":
            spec = renders[0]["content"]
            if not vega_changed(spec):
                continue
            png = out / f"{slug(name)}.png"
            png.write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
            sections.append(f"### {name}\n\n![{name}]({png.name})\n")
        elif kind == "image":
            files = {render["revisions"][0]: Path(render["url"]) for render in renders}
            contents = {revision: path.read_bytes() for revision, path in files.items() if path.is_file()}
            if len(set(contents.values())) < 2:
                continue
            cells = []
            for revision, data in contents.items():
                png = out / f"{slug(name)}_{slug(revision)}.png"
                png.write_bytes(data)
                cells.append(f"![{name} at {revision}]({png.name})")
            header = " | ".join(contents)
            sections.append(
                f"### {name}\n\n| {header} |\n| {' | '.join('---' for _ in contents)} |\n| {' | '.join(cells)} |\n"
            )
    return sections


def table_or(markdown: str, nothing: str) -> str:
    """DVC's Markdown table, or `nothing` when it has no row (DVC then prints the header alone)."""
    lines = markdown.strip().splitlines()
    return "\n".join(lines) if len(lines) > 2 else nothing


def report(base: str, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    params = table_or(dvc("params", "diff", base, "--md"), "No parameter changed.")
    metrics = table_or(dvc("metrics", "diff", base, "--md", "--precision", "5"), "No metric changed.")
    plots = changed_plots(base, out) or ["No plot changed."]
    return "\n".join(
        [
            f"## Pipeline report: this change against `{base}`",
            "",
            "### Parameters",
            "",
            params,
            "",
            "### Metrics",
            "",
            metrics,
            "",
            "## Plots that changed",
            "",
            *plots,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare with, e.g. origin/main")
    parser.add_argument("--out", type=Path, required=True, help="folder for report.md and its images")
    args = parser.parse_args()
    text = report(args.base, args.out)
    (args.out / "report.md").write_text(text + "\n")
    print(f"wrote {args.out / 'report.md'}")


if __name__ == "__main__":
    run_command("pr_report", main)
