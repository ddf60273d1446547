"""The results tables in README.md and docs/, written from the lab pipeline's outputs.

A generated table sits between two markers in the Markdown, which say which table it is:

    <!-- table: export-formats -->
    | format | ... |
    <!-- end table -->

`python -m lab.docs_tables` rewrites every such table from its data: the files lab/dvc.yaml's
stages write to lab/results/ (each naming the machine it ran on; a table that mixes machines is
refused), the committed run's metrics/ and params.yaml. `--check` changes nothing and fails,
naming each table, when a page differs from its data, and, naming each stage and the command that
remakes it, when today's code has made a stage of the lab stale (`dvc status lab/dvc.yaml`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lab.train_speed import describe_machine
from lenet5.config import load_params
from lenet5.errors import PipelineError
from lenet5.evaluation.over_seeds import Spread
from lenet5.process import run_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path("lab/results")  # under the root whose pages are written: the data of those pages
PAGES = ("README.md", "docs/*.md")
BLOCK = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- end table -->)", re.DOTALL)
TEST_DIGITS = 10_000  # MNIST's test set: the results files hold accuracy, errors are its complement
# Cited, not run here: LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to
# document recognition", LeNet-5's test error without and with distortions of the training set.
PUBLISHED = (
    "| LeNet-5 as published (LeCun et al. 1998; cited, not run) | 99.05; 99.2 with distortions | 95; 80 | - | - |"
)
# Each format's row label in the export tables, in the stage's order.
FORMAT_LABELS = {
    "keras": "Keras (`.keras`, optimizer state included)",
    "saved_model": "SavedModel (TF Serving)",
    "tflite_float32": "LiteRT float32",
    "tflite_int8": "LiteRT int8",
}


def load(root: Path, *patterns: str) -> list[dict[str, Any]]:
    """The lab's results files matching `patterns`, each with its name; none found is an error."""
    paths = sorted({path for pattern in patterns for path in (root / RESULTS).glob(pattern)})
    if not paths:
        raise FileNotFoundError(f"no {' or '.join(patterns)} in {RESULTS}; run `dvc repro lab/dvc.yaml`")
    return [json.loads(path.read_text()) | {"file": path.name} for path in paths]


def caption(records: list[dict[str, Any]], what: str) -> str:
    """`what`, on the one machine all `records` name: a table of two machines is refused."""
    machines = {describe_machine(record["machine"]) for record in records}
    if len(machines) != 1:
        raise ValueError(f"{what}: its records name {len(machines)} machines ({'; '.join(sorted(machines))})")
    return f"{what}; {machines.pop()}:"


def spread_cell(values: list[float], scale: float, decimals: int) -> str:
    spread = Spread.of(values)
    return f"{spread.mean * scale:.{decimals}f} ± {spread.std * scale:.{decimals}f}"


def runs(root: Path, name: str) -> list[dict[str, Any]]:
    """The lab's pipeline runs of one sweep (defaults, preset or split), in seed order."""
    return sorted(load(root, f"runs/{name}-*.json"), key=lambda run: run["seed"])


def seeds_text(found: list[dict[str, Any]]) -> str:
    seeds = [run["seed"] for run in found]
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def speed_cases(root: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    (saved,) = load(root, "speed.json")
    cases: dict[str, list[dict[str, Any]]] = {}
    for run in saved["runs"]:
        cases.setdefault(run["case"], []).append(run)
    return saved, cases


def headline(root: Path) -> str:
    """README's results: params.yaml and the preset over their seeds, the Keras recipe over the
    benchmark's, LeNet-5's published figures, and the one run `dvc.lock` records."""
    defaults, preset = runs(root, "defaults"), runs(root, "preset")
    speed, cases = speed_cases(root)
    rows = [
        ("**`params.yaml`**: 5 epochs, batch 512, elastic distortions", defaults),
        ("`make best`: 20 epochs, batch 256, rate 0.01", preset),
    ]
    lines = [
        caption([*defaults, *preset, speed], "Mean ± std over seeds (n), each row its own runs"),
        "",
        "| | test accuracy % | test errors | validation accuracy % | training seconds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, found in rows:
        tested = [run["test_accuracy"] for run in found]
        errors = [round((1 - accuracy) * TEST_DIGITS) for accuracy in tested]
        accuracy = f"{spread_cell(tested, 100, 2)} ({len(found)}; seeds {seeds_text(found)})"
        lines.append(
            f"| {label} | {f'**{accuracy}**' if label.startswith('**') else accuracy} | {spread_cell(errors, 1, 0)} "
            f"| {spread_cell([run['val_accuracy'] for run in found], 100, 2)} "
            f"| {spread_cell([run['train_seconds'] for run in found], 1, 0)} |"
        )
    recipe = cases["recipe"]
    tested = [run["epoch_accuracies"][-1] for run in recipe]
    errors = [round((1 - accuracy) * TEST_DIGITS) for accuracy in tested]
    lines.append(
        f"| the Keras LeNet-5 recipe it starts from (300 steps of 100 images) | {spread_cell(tested, 100, 2)} "
        f"({len(recipe)}; seeds {seeds_text(recipe)}) | {spread_cell(errors, 1, 0)} "
        f"| - | {spread_cell([run['train_seconds'] for run in recipe], 1, 1)} |"
    )
    lines.append(PUBLISHED)
    metrics = root / "metrics"
    evaluated = json.loads((metrics / "eval.json").read_text())
    formats = json.loads((metrics / "export_formats.json").read_text())
    seed = load_params(root / "params.yaml").train.seed
    lines.append(
        f"| `dvc.lock`: one draw, `train.seed: {seed}` (int8 export: {formats['tflite_int8']['accuracy'] * 100:.2f}) "
        f"| {evaluated['accuracy'] * 100:.2f} | {formats['keras']['errors']} | {evaluated['val_accuracy'] * 100:.2f} "
        "| - |"
    )
    return "\n".join(lines)


def training_time(root: Path) -> str:
    """params.yaml's training, as the benchmark and the reporting sweep measured it."""
    speed, cases = speed_cases(root)
    defaults = runs(root, "defaults")
    default = cases["default"]
    rates = [run["samples_per_second"] for run in default]
    return "\n".join(
        [
            caption([speed, *defaults], "params.yaml's training, mean ± std over seeds"),
            "",
            "| measured by | n | training s | images/s (median) |",
            "| --- | ---: | ---: | ---: |",
            f"| the train stage, in the reporting sweep (`dvc exp run`, validation passes included) | {len(defaults)} "
            f"| {spread_cell([run['train_seconds'] for run in defaults], 1, 1)} | - |",
            f"| the benchmark (lab/train_speed.py: the training steps alone, validation not timed) | {len(default)} "
            f"| {spread_cell([run['train_seconds'] for run in default], 1, 1)} | {statistics.median(rates):,.0f} |",
        ]
    )


def speed(root: Path) -> str:
    """The benchmark's cases in one table, each against plain Keras measured in the same run."""
    from lab.train_speed import summarize, table

    saved, cases = speed_cases(root)
    backends = sorted({run["backend"] for run in saved["runs"]})
    keras = next(run["keras"] for run in saved["runs"] if run["case"] != "torch")
    seeds = sorted({run["seed"] for run in saved["runs"]})
    what = (
        f"{', '.join(backends)}, Keras {keras}; `train.seed` {', '.join(map(str, seeds))}; {saved['runs'][0]['device']}"
    )
    return "\n".join([caption([saved], what), "", table({case: summarize(runs) for case, runs in cases.items()})])


def over_seeds(found: list[dict[str, Any]], key: str) -> str:
    """n, mean, std, min and max over runs of a sweep: test, validation and int8 test accuracy, seconds."""
    columns = (
        ("test accuracy %", [run["test_accuracy"] for run in found], 100, 3),
        ("validation accuracy %", [run["val_accuracy"] for run in found], 100, 3),
        ("int8 test accuracy %", [run["formats"]["tflite_int8"]["accuracy"] for run in found], 100, 3),
        ("training seconds", [run["train_seconds"] for run in found], 1, 1),
    )
    lines = [
        caption(found, f"`{key}` {seeds_text(found)}, one run each"),
        "",
        "| metric | n | mean | std | min | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, values, scale, decimals in columns:
        spread = Spread.of(values)
        cells = [spread.mean, spread.std, min(values), max(values)]
        lines.append(f"| {label} | {spread.n} | " + " | ".join(f"{cell * scale:.{decimals}f}" for cell in cells) + " |")
    return "\n".join(lines)


def seed_kinds(root: Path) -> str:
    """What each seed moves: train.seed over the reporting seeds, prepare.seed over five splits."""
    baseline = load_params(root / "params.yaml")
    kinds = (
        ("train.seed", f"prepare.seed: {baseline.prepare.seed}", runs(root, "defaults")),
        ("prepare.seed", f"train.seed: {baseline.train.seed}", runs(root, "split")),
    )
    lines = [
        caption([run for *_, found in kinds for run in found], "One run per seed"),
        "",
        "| seed varied | the other seed | n | test accuracy % | validation accuracy % |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for vary, other, found in kinds:
        test = [run["test_accuracy"] for run in found]
        val = [run["val_accuracy"] for run in found]
        lines.append(
            f"| `{vary}` {seeds_text(found)} | `{other}` | {len(found)} | {spread_cell(test, 100, 3)} "
            f"| {spread_cell(val, 100, 3)} |"
        )
    return "\n".join(lines)


def formats_over_seeds(root: Path) -> str:
    """Each export format against the Keras model of the same seed, over the reporting seeds."""
    found = runs(root, "defaults")
    chosen = [run["formats"] for run in found]
    lines = [
        caption(found, f"params.yaml, `train.seed` {seeds_text(found)}"),
        "",
        "| format | n | test accuracy % | minus Keras's, points | largest difference, points "
        "| agreement with Keras % | digits answered differently | bytes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in FORMAT_LABELS.items():
        accuracy = [run[name]["accuracy"] for run in chosen]
        minus = [run[name]["accuracy"] - run["keras"]["accuracy"] for run in chosen]
        agreement = [run[name]["agreement"] for run in chosen]
        different = [round((1 - value) * TEST_DIGITS) for value in agreement]
        sizes = sorted({run[name]["bytes"] for run in chosen})
        size = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,}-{sizes[-1]:,}"
        against = (
            ["-"] * 4
            if name == "keras"
            else [
                spread_cell(minus, 100, 3),
                f"{max(abs(value) for value in minus) * 100:.2f}",
                spread_cell(agreement, 100, 3),
                f"{min(different)}-{max(different)}",
            ]
        )
        lines.append(f"| {label} | {len(chosen)} | {spread_cell(accuracy, 100, 3)} | {' | '.join(against)} | {size} |")
    return "\n".join(lines)


def export_formats(root: Path) -> str:
    """One run of the pipeline (params.yaml as committed): each export file's scores beside how
    long it takes to answer one digit."""
    (saved,) = load(root, "latency.json")
    scores, latency = saved["formats"], saved["microseconds_per_digit"]
    lines = [
        caption([saved], "params.yaml as committed, one run"),
        "",
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


def limits(root: Path) -> str:
    """Each hostile input, what refusing it cost, and the line it got."""
    (saved,) = load(root, "limits.json")
    lines = [
        caption([saved], "One run"),
        "",
        "| hostile input | bytes on disk | refused in s (process start to exit) | peak RSS MB | the error line |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for case in saved["cases"]:
        message = case["message"].replace("|", "\\|")
        lines.append(
            f"| {case['case']} | {case['bytes']:,} | {case['seconds']:.2f} | {case['peak_rss_mb']:.0f} | {message} |"
        )
    return "\n".join(lines)


def profile(root: Path) -> str:
    from lab import profile_step

    return profile_step.table(json.loads((root / RESULTS / "profile.json").read_text()))


def page_table(root: Path) -> str:
    from lab import page_timing as page

    return page.table(json.loads((root / RESULTS / "page.json").read_text()))


def sizes(root: Path) -> str:
    """docs/make-it-yours.md's table: per subset size, the defaults and the search's best over the
    reporting seeds (test set), the schedule the defaults chose and how long a run of it trained."""
    found = sorted(load(root, "sizes/*.json"), key=lambda record: record["size"])
    first = found[0]
    lines = [
        caption(
            found,
            f"MNIST subsets (seed {first['subset_seed']}), the whole test set; test accuracy %, mean ± std over "
            f"`train.seed` {', '.join(map(str, first['reporting_seeds']))}; each search's trial 0 is `params.yaml`",
        ),
        "",
        "| training images | `params.yaml` (auto) | what auto chose | training, s | the search's best "
        "| minus the best, points | best trial | search: trials (pruned), choosing seeds |",
        "| ---: | ---: | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for record in found:
        defaults, best, search = record["defaults"], record["best"], record["search"]
        schedule = defaults["runs"][0]["schedule"]
        chose = re.search(r"batch (\d+).*?(?:learning rate ([\d.]+).*?)?(\d+) epochs.*; ([\d,]+) steps", schedule)
        chosen = (
            f"batch {chose[1]}{f', rate {chose[2]}' if chose[2] else ''}, {chose[3]} epochs, {chose[4]} steps"
            if chose
            else schedule
        )
        seconds = statistics.mean(run["train_seconds"] for run in defaults["runs"])
        lines.append(
            f"| {record['size']:,} | {defaults['mean'] * 100:.2f} ± {defaults['std'] * 100:.2f} | {chosen} "
            f"| {seconds:.0f} | {best['mean'] * 100:.2f} ± {best['std'] * 100:.2f} "
            f"| {(defaults['mean'] - best['mean']) * 100:+.2f} "
            f"| {search['best_trial']}{' (`params.yaml`)' if search['best_trial'] == 0 else ''} "
            f"| {search['trials']} ({search['pruned']}), {', '.join(map(str, search['choosing_seeds']))} |"
        )
    return "\n".join(lines)


def search_time(root: Path) -> str:
    """docs/make-it-yours.md's search times: each `sizes` stage's search, its trials and minutes."""
    found = sorted(load(root, "sizes/*.json"), key=lambda record: record["size"])
    lines = [
        caption(found, "The `sizes` stages' searches, one seed a trial, one run each"),
        "",
        "| training images | trials (pruned) | minutes | minutes a trial |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for record in found:
        search = record["search"]
        minutes = search["seconds"] / 60
        lines.append(
            f"| {record['size']:,} | {search['trials']} ({search['pruned']}) | {minutes:.1f} "
            f"| {minutes / search['trials']:.1f} |"
        )
    return "\n".join(lines)


def size_record(root: Path, size: int) -> dict[str, Any]:
    (record,) = [record for record in load(root, "sizes/*.json") if record["size"] == size]
    return record


def auto_line(root: Path) -> str:
    """The train stage's first line on 1,000 images, as the `sizes@1000` stage's runs printed it."""
    return "\n".join(["```", f"train: {size_record(root, 1000)['defaults']['runs'][0]['schedule']}", "```"])


def search_transcript(root: Path) -> str:
    """What the `sizes@1000` stage's search printed at its start and end, as a user sees it."""
    return "\n".join(["```", *size_record(root, 1000)["search"]["summary"], "```"])


def study(root: Path) -> str:
    """The defaults' study on MNIST: each trial's settings and validation score over the choosing
    seeds, and whether the best beats params.yaml beyond the seeds' noise."""
    (record,) = load(root, "study.json")
    seeds = ", ".join(map(str, record["choosing_seeds"]))
    names = list(record["trials"][0]["params"])
    lines = [
        caption(
            [record], f"MNIST; validation accuracy %, mean ± std over `train.seed` {seeds}; trial 0 is `params.yaml`"
        ),
        "",
        "| trial | " + " | ".join(f"`{name.removeprefix('train.')}`" for name in names) + " | validation accuracy |",
        "| ---: | " + " | ".join("---:" for _ in names) + " | ---: |",
    ]
    for trial in record["trials"]:
        shown = [
            f"{value:.3g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
            for value in trial["params"].values()
        ]
        score = (
            spread_cell(trial["validation_accuracies"], 100, 2)
            if trial["state"] == "COMPLETE"
            else trial["state"].lower()
        )
        lines.append(f"| {trial['number']} | " + " | ".join(shown) + f" | {score} |")
    beats = record["best_against_defaults"]
    if beats is None:
        verdict = "The study's best is trial 0, `params.yaml` itself: the defaults stay."
    else:
        verdict = (
            f"The best, trial {record['best_trial']}, is {beats['mean'] * 100:+.2f} points on validation against "
            f"`params.yaml` (paired by seed, standard error {beats['standard_error'] * 100:.2f}): "
            + ("beyond the seeds' noise." if beats["beyond_noise"] else "within the seeds' noise: the defaults stay.")
        )
    return "\n".join([*lines, "", verdict])


def lab_machines(root: Path) -> str:
    """Every results file of the lab and the machine it names."""
    found = load(root, "*.json", "runs/*.json", "sizes/*.json")
    rows: dict[str, list[str]] = {}
    for record in found:
        rows.setdefault(describe_machine(record["machine"]), []).append(record["file"])
    lines = ["| machine | results files |", "| --- | --- |"]
    lines += [f"| {words} | {len(files)} files |" for words, files in rows.items()]
    return "\n".join(lines)


def described(metadata: Mapping[str, str]) -> str:
    """A setting's meaning, as its params.yaml comment has it, then the details only this page gives."""
    return f"{metadata['meaning']}; {metadata['details']}" if metadata["details"] else metadata["meaning"]


def params_table(root: Path) -> str:
    """docs/params.md's table: every setting lenet5/config.py checks, in its order, with the value
    params.yaml gives it and the meaning and allowed values config.py writes beside its rule."""
    import dataclasses

    from ruamel.yaml import YAML

    from lenet5.config import SECTIONS, Params

    load_params(root / "params.yaml")  # a table only of settings that pass their checks
    values = YAML(typ="safe").load((root / "params.yaml").read_text())  # as written, as DVC shows them
    lines = ["| key | default | meaning | allowed |", "| --- | --- | --- | --- |"]
    for section in dataclasses.fields(Params):
        for spec in dataclasses.fields(SECTIONS[section.name]):
            value = values[section.name][spec.name]
            shown = ", ".join(map(str, value)).join("[]") if isinstance(value, list) else value
            lines.append(
                f"| `{section.name}.{spec.name}` | {shown} | {described(spec.metadata)} | {spec.metadata['allowed']} |"
            )
    return "\n".join(lines)


TABLES: dict[str, Callable[[Path], str]] = {
    "headline": headline,
    "training-time": training_time,
    "speed": speed,
    "profile": profile,
    "page": page_table,
    "params": params_table,
    "seeds-reporting": lambda root: over_seeds(runs(root, "defaults"), "train.seed"),
    "seeds-split": lambda root: over_seeds(runs(root, "split"), "prepare.seed"),
    "seed-kinds": seed_kinds,
    "formats-over-seeds": formats_over_seeds,
    "export-formats": export_formats,
    "limits": limits,
    "sizes": sizes,
    "search-time": search_time,
    "search-transcript": search_transcript,
    "auto-line": auto_line,
    "study": study,
    "lab-machines": lab_machines,
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
                raise PipelineError(f"{page}: table {name!r} is not one lab/docs_tables.py makes")
            try:
                made[name] = made.get(name) or TABLES[name](root).rstrip("\n") + "\n"
            except (OSError, ValueError, KeyError) as error:  # its data missing or not what it expects
                raise PipelineError(f"{page}: table {name!r}: its data: {type(error).__name__}: {error}") from None
            if match[3] != made[name]:
                stale.append(f"{page.relative_to(root)}: {name}")
            return match[1] + made[name] + match[4]

        new = BLOCK.sub(replace, text)
        if write and new != text:
            page.write_text(new)
    return stale


def stale_stages(root: Path) -> list[str]:
    """The lab's stages that today's code, params or data have made stale (`dvc status lab/dvc.yaml`)."""
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json", "lab/dvc.yaml"], cwd=root, capture_output=True, text=True
    )
    if done.returncode:
        raise PipelineError(f"`dvc status lab/dvc.yaml` failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return sorted(name.removeprefix("lab/dvc.yaml:") for name in json.loads(done.stdout or "{}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a table or the lab is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project whose pages and data to use")
    args = parser.parse_args()
    remake = "remakes it (lab/README.md says how long it takes)"
    problems = [
        f"lab/dvc.yaml:{stage}: stale; `dvc repro lab/dvc.yaml:{stage}` {remake}"
        for stage in (stale_stages(args.root) if args.check else [])
    ]
    stale = regenerate(args.root, write=not args.check)
    if args.check:
        problems += [
            f"{where}: differs from its data; `make docs` (python -m lab.docs_tables) rewrites it" for where in stale
        ]
        if problems:
            raise PipelineError(*problems)
    for where in stale:
        print(f"docs_tables: rewrote {where}")


if __name__ == "__main__":
    run_command("docs_tables", main)
