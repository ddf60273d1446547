"""Summarise experiments over seeds, from DVC's own records (`dvc exp show --json`).

    dvc exp run --queue -S 'train.seed=range(1,11)'    # the current params over ten seeds
    dvc queue start -j 1                               # then `dvc queue status` until all say Success
    python -m tools.seeds [--md] [--against NAME] [--seeds 101-110] [--rev REV ...] [--vary KEY]
    python -m tools.seeds --save seeds.json                  # keep them, to commit
    python -m tools.seeds --from seeds.json --seeds 101-110  # read them back

Every committed run that `dvc exp show` lists (the baseline commit and its experiments; the
workspace is left out, since it repeats HEAD or is not committed) is grouped with the runs whose
params are all equal but `train.seed`. For each group: n, mean, standard deviation, min and max of
test accuracy, test errors (runs before the export stages), validation accuracy, the int8 file's
test accuracy. Then each other group
against the reference group (the one holding HEAD's own run, or `--against` an experiment's):
the difference of the means with its 95% confidence interval. `--seeds` counts only runs of those
seeds (a range like 101-110, or a list like 1,2,3): the reporting seeds, say, and not the seeds
the settings were chosen with. `--rev` reads the experiments of other commits than HEAD (as
`dvc exp show --rev`; repeat it for several). `--vary` names the param that is the seed
(`prepare.seed`: which digits are held out for validation).

DVC keeps experiments in the repository that ran them until they are pushed (`dvc exp push`).
`--save` writes the runs it would summarise to a JSON file to commit: each run's params, metrics
and `metrics/export_formats.json` (every export format's scores), the commit they ran from and the
command that saved them; `--from` summarises such a file instead of `dvc exp show`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lenet5.errors import PipelineError
from lenet5.evaluation.over_seeds import Group, Spread, difference, group_by_settings
from lenet5.files import write_json
from lenet5.process import run_command

SEED = "train.seed"
FORMATS = "metrics/export_formats.json"  # an output, not a DVC metric: read from each run's commit
# (metric in DVC's records, label, shown in percent, decimals)
METRICS = (
    ("accuracy", "test accuracy %", True, 3),
    ("errors", "test errors", False, 1),  # in eval.json until the export stages took its column
    ("val_accuracy", "validation accuracy %", True, 3),
    ("int8_accuracy", "int8 test accuracy %", True, 3),
)
Run = tuple[str, dict[str, Any], dict[str, float]]


def flatten(prefix: str, values: Any) -> Iterator[tuple[str, Any]]:
    """{"train": {"seed": 1}} -> ("train.seed", 1), as `dvc exp show` names params."""
    if isinstance(values, dict):
        for key, value in values.items():
            yield from flatten(f"{prefix}.{key}" if prefix else str(key), value)
    else:
        yield prefix, values


def read_runs(exp_show: list[dict[str, Any]]) -> tuple[list[Run], str | None, int, dict[str, str]]:
    """(name, params, metrics) of every committed run with results; HEAD's name; runs skipped;
    each run's commit by name."""
    runs: list[Run] = []
    revs: dict[str, str] = {}
    head, skipped = None, 0

    def visit(node: Any, top_level: bool) -> None:
        nonlocal head, skipped
        if isinstance(node, list):
            for item in node:
                visit(item, top_level)
            return
        if not isinstance(node, dict):
            return
        executor = node.get("executor") or {}
        if executor.get("state") in ("queued", "running", "failed"):  # shows its baseline's results
            skipped += len(node.get("revs") or [])
            return
        data = node.get("data")
        if "rev" in node and isinstance(data, dict) and node["rev"] != "workspace":
            name = node.get("name") or str(node["rev"])[:7]
            params = dict(flatten("", (data.get("params") or {}).get("params.yaml", {}).get("data", {})))
            metrics = {
                key: value
                for entry in (data.get("metrics") or {}).values()
                for key, value in (entry.get("data") or {}).items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
            if top_level and head is None:
                head = name
            if "accuracy" in metrics and params and not node.get("error"):
                runs.append((name, params, metrics))
                revs[name] = str(node["rev"])
            else:
                skipped += 1  # queued, running or failed
        for key, value in node.items():
            if key == "experiments" or key == "revs":
                visit(value, False)

    visit(exp_show, True)
    return runs, head, skipped, revs


def git_output(*args: str) -> str | None:
    done = subprocess.run(["git", *args], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def save(path: Path, runs: list[Run], head: str | None, revs: dict[str, str], command: list[str]) -> None:
    """The runs, with each one's export scores from its commit, as one JSON file to commit."""
    saved = []
    for name, params, metrics in runs:
        formats = git_output("show", f"{revs[name]}:{FORMATS}")  # absent in runs before the export stage
        saved.append(
            {
                "name": name,
                "rev": revs[name],
                "params": params,
                "metrics": metrics,
                **({"formats": json.loads(formats)} if formats else {}),
            }
        )
    baseline = (git_output("rev-parse", "HEAD") or "").strip()
    from lenet5.cpu import describe

    record = {"command": " ".join(command), "baseline": baseline, "head": head, "machine": describe(), "runs": saved}
    write_json(path, record)  # the machine is this one: DVC's queue runs the experiments here


def load(path: Path) -> tuple[list[Run], str | None, list[dict[str, Any]]]:
    """What `save` wrote: the runs, HEAD's name then, and each run's record as saved."""
    try:
        saved = json.loads(path.read_text())
        runs = [(run["name"], run["params"], run["metrics"]) for run in saved["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{path}: not a file `tools.seeds --save` wrote: {type(error).__name__}: {error}") from None
    return runs, saved.get("head"), saved["runs"]


def seed_set(text: str) -> set[int]:
    """`101-110` or `1,2,3` as a set of seeds."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            return set(range(low, high + 1))
        return {int(part) for part in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a range like 101-110 or a list like 1,2,3") from None


def shown(spread: Spread, percent: bool, decimals: int) -> list[str]:
    scale = 100 if percent else 1
    return [f"{value * scale:.{decimals}f}" for value in (spread.mean, spread.std, spread.low, spread.high)]


def label(group: Group, reference: Group) -> str:
    """The params in which `group` differs from the reference group."""
    changed = [f"{k}={v}" for k, v in group.settings.items() if reference.settings.get(k) != v]
    return ", ".join(changed) or "the reference params"


def group_table(group: Group, markdown: bool) -> list[str]:
    """n, mean, std, min and max of each metric the group's runs report."""
    header = ["metric", "n", "mean", "std", "min", "max"]
    rows = [
        [text, str(group.metrics[key].n), *shown(group.metrics[key], percent, decimals)]
        for key, text, percent, decimals in METRICS
        if key in group.metrics
    ]
    return table(header, rows, markdown)


def report(groups: list[Group], reference: Group, skipped: int, markdown: bool, source: str, seed_key: str) -> str:
    lines = []
    letters = {id(group): chr(ord("A") + i) if i < 26 else f"G{i + 1}" for i, group in enumerate(groups)}
    runs = sum(len(group.names) for group in groups)
    lines.append(
        f"{runs} runs from {source} in {len(groups)} group(s) of equal params but {seed_key}"
        + (f"; {skipped} without results (queued, running or failed) left out" if skipped else "")
    )
    for group in groups:
        letter = letters[id(group)]
        title = "reference" if group is reference else label(group, reference)
        seeds = ", ".join(str(seed) for seed in group.seeds)
        lines += ["", f"{'### ' if markdown else ''}{letter}: {title} (n={len(group.names)}; seeds {seeds})", ""]
        lines += group_table(group, markdown)
    others = [group for group in groups if group is not reference]
    if others:
        lines += [
            "",
            f"{'### ' if markdown else ''}Against {letters[id(reference)]}: difference of the means, "
            "95% confidence interval (Welch)",
            "",
        ]
        rows = []
        for group in others:
            cells = [letters[id(group)]]
            for key, _, percent, decimals in METRICS:
                if key not in group.metrics or key not in reference.metrics:
                    cells.append("")
                    continue
                found = difference(group.metrics[key], reference.metrics[key])
                scale = 100 if percent else 1
                interval = (
                    f" [{found.low * scale:+.{decimals}f}, {found.high * scale:+.{decimals}f}]"
                    if found.low is not None and found.high is not None
                    else " (n<2: no interval)"
                )
                cells.append(f"{found.delta * scale:+.{decimals}f}{interval}")
            rows.append(cells)
        lines += table(["group", *(text for _, text, _, _ in METRICS)], rows, markdown)
    return "\n".join(lines)


def table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        align = ["---"] + ["---:"] * (len(header) - 1)
        return ["| " + " | ".join(row) + " |" for row in [header, align, *rows]]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]


def of_seeds(runs: list[Run], vary: str, seeds: set[int] | None) -> list[Run]:
    """The runs whose `vary` param is one of `seeds` (all of them without seeds)."""
    return runs if seeds is None else [run for run in runs if run[1].get(vary) in seeds]


def summary(
    runs: list[Run], head: str | None, skipped: int, source: str, vary: str, against: str | None, markdown: bool
) -> str:
    """The report over `runs` grouped by their params but `vary`; the reference group (always A)
    holds `against`'s run, else HEAD's, else it is the first group."""
    groups = group_by_settings(runs, vary)
    wanted = against or head
    reference = next((group for group in groups if wanted in group.names), None)
    if reference is None:
        if against:
            known = ", ".join(name for group in groups for name in group.names)
            raise PipelineError(f"--against {against}: no such run with results; known: {known}")
        reference = groups[0]
    groups.remove(reference)
    return report([reference, *groups], reference, skipped, markdown, source, vary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--md", action="store_true", help="Markdown tables, for a pull request")
    parser.add_argument("--against", metavar="NAME", help="the reference: the group of this experiment or commit")
    parser.add_argument("--seeds", type=seed_set, help="only runs of these seeds: 101-110, or 1,2,3")
    parser.add_argument("--rev", action="append", default=[], help="a commit whose experiments to read (repeatable)")
    parser.add_argument("--vary", default=SEED, metavar="KEY", help=f"the param that is the seed (default {SEED})")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the runs summarised to this JSON file")
    parser.add_argument("--from", dest="saved", type=Path, metavar="FILE", help="read runs --save wrote, not DVC's")
    args = parser.parse_args()
    if args.saved:
        if args.save or args.rev:
            raise PipelineError("--from reads a saved file: --save and --rev are for DVC's records")
        runs, head, _ = load(args.saved)
        skipped, source, commits = 0, f"`{args.saved}`", {}
    else:
        revs = [arg for rev in args.rev for arg in ("--rev", rev)]
        command = [sys.executable, "-m", "dvc", "exp", "show", "--json", *revs]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PipelineError(f"dvc exp show failed: {last}")
        runs, head, skipped, commits = read_runs(json.loads(done.stdout))
        source = "`dvc exp show`"
    runs = of_seeds(runs, args.vary, args.seeds)
    if not runs:
        raise PipelineError(f"no run with results in {source}; run `dvc repro` or `dvc exp run` first")
    if args.save:
        save(args.save, runs, head, commits, ["python", "-m", "tools.seeds", *sys.argv[1:]])
    print(summary(runs, head, skipped, source, args.vary, args.against, args.md))


if __name__ == "__main__":
    run_command("seeds", main)
