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
from collections.abc import Callable, Mapping
from pathlib import Path

from lenet5.config import load_params
from lenet5.errors import PipelineError
from lenet5.evaluation.over_seeds import REPORTING_SEEDS, Spread
from lenet5.process import run_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path("bench/results")  # under the root whose pages are written: the data of those pages
PAGES = ("README.md", "docs/*.md")
BLOCK = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- end table -->)", re.DOTALL)
TEST_DIGITS = 10_000  # MNIST's test set: the results files hold accuracy, errors are its complement
# The reporting runs of today's params.yaml and preset (bench.candidates --split test), and of the
# params.yaml before TensorFlow's oneDNN kernels were chosen on AVX2 CPUs (its own kernels then).
CURRENT = ("candidates", "reporting.json", "params.yaml")
CURRENT_PRESET = ("candidates", "reporting.json", "make best")
BEFORE_ONEDNN = ("candidates", "candidates-reporting.json", "params.yaml (this round)")
# README's results rows: label, where the test accuracies come from, where the rest come from
# (None: the same runs); ("candidates", file, name) of a bench.candidates file, or ("benchmark", file, case).
HEADLINE_ROWS = (
    (
        "**`params.yaml`**: 5 epochs, batch 512, elastic distortions",
        CURRENT,
        None,
    ),
    (
        "`make best`: 20 epochs, batch 256, rate 0.01",
        CURRENT_PRESET,
        None,
    ),
    (
        "the Keras LeNet-5 recipe it starts from (300 steps of 100 images)",
        ("benchmark", "recipe.json", "recipe"),
        None,
    ),
)
# Cited, not run here: LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to
# document recognition", LeNet-5's test error without and with distortions of the training set.
PUBLISHED = (
    "| LeNet-5 as published (LeCun et al. 1998; cited, not run) | 99.05; 99.2 with distortions | 95; 80 | - | - |"
)
SEEDS = RESULTS / "seeds.json"  # the pipeline's own sweeps (`dvc exp run --queue`), saved by tools.seeds --save
# (the seed varied, the seed held where the sweep's baseline run has it, the values of the varied one)
SEED_KINDS = (("train.seed", "prepare.seed", REPORTING_SEEDS), ("prepare.seed", "train.seed", tuple(range(1, 6))))
PRESET_CURVE_EPOCHS = (1, 4, 8, 12, 16, 18, 19, 20)  # where the preset's curve is shown, still rising
# Each format's row label in the export tables, in the stage's order.
FORMAT_LABELS = {
    "keras": "Keras (`.keras`, optimizer state included)",
    "saved_model": "SavedModel (TF Serving)",
    "tflite_float32": "LiteRT float32",
    "tflite_int8": "LiteRT int8",
}


def candidates_table(name: str, against: str | None, benchmark: str | None = None) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        from bench import candidates

        return candidates.table(root / RESULTS / name, against, benchmark and root / RESULTS / benchmark)

    return make


def candidates_curves(name: str) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        from bench import candidates

        return candidates.curves(root / RESULTS / name)

    return make


def spread_cell(values: list[float], scale: float, decimals: int, n: int | None = None) -> str:
    """`mean ± std`, with ` (n)` where `n` asks for it (or the count differs from the row's)."""
    spread = Spread.of(values)
    count = f" ({spread.n})" if n is not None and n != spread.n else ""
    return f"{spread.mean * scale:.{decimals}f} ± {spread.std * scale:.{decimals}f}{count}"


def reported_runs(source: tuple[str, ...], root: Path = ROOT) -> list[dict[str, float]]:
    """Runs as {seed, test_accuracy, and val_accuracy and seconds where measured}: a candidate of
    candidates-reporting.json, or a case of a bench.train_speed --runs file."""
    if source[0] == "candidates":
        _, name, candidate_name = source
        saved = json.loads((root / RESULTS / name).read_text())["candidates"]
        return next(candidate["runs"] for candidate in saved if candidate["name"] == candidate_name)
    _, name, case = source
    from bench import train_speed

    return [
        {"seed": run["seed"], "test_accuracy": run["epoch_accuracies"][-1], "seconds": run["train_seconds"]}
        for run in train_speed.saved_runs(root / RESULTS / name)[0]
        if run["case"] == case and run["backend"].split()[0] == "tensorflow"
    ]


def headline(root: Path) -> str:
    """README's results: test accuracy and errors, validation accuracy and training seconds over the
    reporting seeds (HEADLINE_ROWS says which runs), LeNet-5's published figures, and the one run
    `dvc.lock` records (from the metrics files it wrote)."""
    lines = [
        "| | test accuracy % | test errors | validation accuracy % | training seconds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, test_source, other_source in HEADLINE_ROWS:
        tested = [run["test_accuracy"] for run in reported_runs(test_source, root)]
        others = reported_runs(other_source or test_source, root)
        validated = [run["val_accuracy"] for run in others if "val_accuracy" in run]
        seconds = [run["seconds"] for run in others]
        errors = [round((1 - accuracy) * TEST_DIGITS) for accuracy in tested]
        accuracy = f"{spread_cell(tested, 100, 2)} ({len(tested)})"
        cells = [
            f"**{accuracy}**" if label.startswith("**") else accuracy,
            spread_cell(errors, 1, 0),
            spread_cell(validated, 100, 2, len(tested)) if validated else "-",
            spread_cell(seconds, 1, 0 if Spread.of(seconds).mean >= 10 else 1, len(tested)),
        ]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines.append(PUBLISHED)
    metrics = root / "metrics"
    evaluated = json.loads((metrics / "eval.json").read_text())
    formats = json.loads((metrics / "export_formats.json").read_text())
    seconds = json.loads((metrics / "train_timing.json").read_text())["train_seconds"]
    seed = load_params(root / "params.yaml").train.seed
    lines.append(
        f"| `dvc.lock`: one draw, `train.seed: {seed}` (int8 export: {formats['tflite_int8']['accuracy'] * 100:.2f}) "
        f"| {evaluated['accuracy'] * 100:.2f} | {formats['keras']['errors']} | {evaluated['val_accuracy'] * 100:.2f} "
        f"| {seconds:.0f} |"
    )
    return "\n".join(lines)


def seeds_report(root: Path, vary: str, seeds: str) -> str:
    """What `python -m tools.seeds --from bench/results/seeds.json [--vary KEY] --seeds SEEDS` prints."""
    from tools import seeds as summarised

    source = str(SEEDS)
    options = ([] if vary == summarised.SEED else ["--vary", vary]) + ["--seeds", seeds]
    runs, head, _ = summarised.load(root / SEEDS)
    runs = summarised.of_seeds(runs, vary, summarised.seed_set(seeds))
    text = summarised.summary(runs, head, 0, f"`{source}`", vary, None, False)
    return f"```\n$ python -m tools.seeds --from {source} {' '.join(options)}\n{text}\n```"


def seed_kinds(root: Path) -> str:
    """What each seed moves: train.seed over the reporting seeds, prepare.seed over five splits."""
    from tools import seeds

    runs, head, _ = seeds.load(root / SEEDS)
    baseline = next(params for name, params, _ in runs if name == head)  # params.yaml when the sweeps ran
    lines = [
        "| seed varied | the other seed | n | test accuracy % | validation accuracy % |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for vary, other, wanted in SEED_KINDS:
        chosen = [run for run in runs if run[1][vary] in wanted and run[1][other] == baseline[other]]
        test = [run[2]["accuracy"] for run in chosen]
        val = [run[2]["val_accuracy"] for run in chosen]
        lines.append(
            f"| `{vary}` {min(wanted)}-{max(wanted)} | `{other}: {baseline[other]}` | {len(chosen)} "
            f"| {spread_cell(test, 100, 3)} | {spread_cell(val, 100, 3)} |"
        )
    return "\n".join(lines)


def formats_over_seeds(root: Path) -> str:
    """Each export format against the Keras model of the same seed, over the reporting seeds."""
    from tools import seeds

    _, _, saved = seeds.load(root / SEEDS)
    chosen = [run["formats"] for run in saved if run["params"]["train.seed"] in REPORTING_SEEDS]
    lines = [
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


def preset_curve(root: Path) -> str:
    """The preset's mean validation accuracy after chosen epochs, over the seeds it reported on."""
    runs = reported_runs(("candidates", "candidates-reporting.json", "make best (this round)"), root)
    seeds = [run["seed"] for run in runs]
    curves = [run["epoch_val_accuracy"] for run in runs]
    means = [Spread.of([curve[epoch - 1] for curve in curves]).mean for epoch in PRESET_CURVE_EPOCHS]
    return "\n".join(
        [
            "| epoch | " + " | ".join(map(str, PRESET_CURVE_EPOCHS)) + " |",
            "| --- |" + " ---: |" * len(PRESET_CURVE_EPOCHS),
            f"| mean validation % (seeds {min(seeds)}-{max(seeds)}) | "
            + " | ".join(f"{mean * 100:.2f}" for mean in means)
            + " |",
        ]
    )


def speed_runs(name: str) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        from bench import train_speed

        return train_speed.run_tables(root / RESULTS / name)

    return make


def limits(root: Path) -> str:
    """bench.limits' measurements: each hostile input, what refusing it cost, and the line it got."""
    from bench.train_speed import describe_machine

    saved = json.loads((root / RESULTS / "limits.json").read_text())
    lines = [
        f"{describe_machine(saved['machine'])}, one run:",
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


def loop_tables(root: Path) -> str:
    from bench import loop

    return loop.tables(json.loads((root / RESULTS / "loop.json").read_text()))


def export_formats(root: Path) -> str:
    """The committed run's export scores (metrics/export_formats.json, from `dvc repro`) beside
    bench.latency's timings of the same files (bench/results/latency.json)."""
    scores = json.loads((root / "metrics/export_formats.json").read_text())
    latency = json.loads((root / RESULTS / "latency.json").read_text())["microseconds_per_digit"]
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


# README's training times: one benchmark run per kind of CPU (`bench.train_speed --onednn 0,1`), each
# with oneDNN on, as the train stage runs there (this project's choice on AVX2, TensorFlow's own on
# AVX-512 CPUs with VNNI), and off.
TRAINING_TIME_RUNS = ("onednn-avx2.json", "onednn-avx512.json")


def training_time(root: Path) -> str:
    """params.yaml's training time on each CPU the benchmark ran on: mean ± std (n seeds)."""
    from bench.train_speed import saved_runs, summarize

    lines = [
        "| CPU, 2 cores | training s, mean ± std (seeds) | images/s | TensorFlow's own kernels: training s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in TRAINING_TIME_RUNS:
        runs, machine = saved_runs(root / RESULTS / name)
        kernels = {
            onednn: [run for run in runs if run["case"] == "default" and run.get("onednn") == onednn]
            for onednn in ("1", "0")
        }
        speed = summarize(kernels["1"])["samples_per_second"]  # the median, as the speed tables show it
        seconds = {
            onednn: f"{spread_cell([run['train_seconds'] for run in group], 1, 0)} ({len(group)})"
            for onednn, group in kernels.items()
        }
        lines.append(
            f"| {machine['cpu']}, {machine['vector_extension']} | {seconds['1']} | {speed:,.0f} | {seconds['0']} |"
        )
    return "\n".join(lines)


def machines(root: Path) -> str:
    """Every record in bench/results/ by the machine it names, and the pages whose tables use it."""

    used: dict[str, set[str]] = {}
    for page in pages(root):
        for name in re.findall(r"^<!-- table: ([\w-]+) -->$", page.read_text(), re.M):
            for record in TABLE_DATA.get(name, ()):
                used.setdefault(record, set()).add(str(page.relative_to(root)))
    rows: dict[str, list[str]] = {}
    for path in sorted((root / RESULTS).glob("*.json")):
        machine = json.loads(path.read_text()).get("machine")
        if isinstance(machine, dict):
            words = f"{machine['cpu']} | {machine['vector_extension']} | {machine['cores']}"
        elif machine:  # recorded as words, before records named the vector extension
            cores = re.search(r"(\d+) cores", machine)
            extension = "no AVX-512 (the rest not recorded)" if "no AVX-512" in machine else "not recorded"
            words = f"{re.split(r'[,(]', machine)[0].strip()} | {extension} | {cores[1] if cores else '-'}"
        else:
            words = "not recorded | - | -"
        pages_using = ", ".join(sorted(used.get(path.name, ()))) or "-"
        rows.setdefault(words, []).append(f"`{path.name}` ({pages_using})")
    lines = ["| CPU | vector extension | cores | records (pages that show them) |", "| --- | --- | ---: | --- |"]
    lines += [f"| {words} | {'; '.join(files)} |" for words, files in rows.items()]
    return "\n".join(lines)


def profile(root: Path) -> str:
    from bench import profile_step

    return profile_step.table(json.loads((root / RESULTS / "profile.json").read_text()))


def page_table(root: Path) -> str:
    from bench import page

    return page.table(json.loads((root / RESULTS / "page.json").read_text()))


def accuracy_against_before(root: Path) -> str:
    """Today's params.yaml over the reporting seeds against the same settings with TensorFlow's own
    kernels: the means, Welch's 95% interval of the difference, and the earlier mean's own 95%
    interval (Student's t), which today's mean should fall inside."""
    from scipy import stats

    from lenet5.evaluation.over_seeds import difference

    lines = [
        "| runs | kernels | seeds | test accuracy % | 95% interval of the mean | validation accuracy % "
        "| training seconds |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    spreads = {}
    for label, kernels, source in (
        ("`params.yaml` today", "oneDNN (chosen for AVX2)", CURRENT),
        ("the same settings before", "TensorFlow's own", BEFORE_ONEDNN),
    ):
        runs = reported_runs(source, root)
        test = Spread.of([run["test_accuracy"] for run in runs])
        low, high = stats.t.interval(0.95, test.n - 1, loc=test.mean, scale=test.std / test.n**0.5)
        seeds = [run["seed"] for run in runs]
        cells = [spread_cell([run[key] for run in runs], 100, 2) for key in ("test_accuracy", "val_accuracy")]
        seconds = spread_cell([run["seconds"] for run in runs], 1, 0)
        lines.append(
            f"| {label} | {kernels} | {min(seeds)}-{max(seeds)} (n={test.n}) | {cells[0]} "
            f"| {low * 100:.2f} to {high * 100:.2f} | {cells[1]} | {seconds} |"
        )
        spreads[label] = test
    today, before = spreads.values()
    delta = difference(today, before)
    lines += [
        "",
        f"Difference of the means: {delta.delta * 100:+.2f} points, 95% interval {delta.low * 100:+.2f} to "
        f"{delta.high * 100:+.2f} (Welch).",
    ]
    return "\n".join(lines)


# The results files each table reads (for the machines table).
TABLE_DATA: dict[str, tuple[str, ...]] = {
    "headline": ("reporting.json", "recipe.json"),
    "accuracy-before-after": ("reporting.json", "candidates-reporting.json"),
    "speed-avx2": ("onednn-avx2.json",),
    "speed-avx512": ("onednn-avx512.json",),
    "training-time": TRAINING_TIME_RUNS,
    "profile": ("profile.json",),
    "page": ("page.json",),
    "candidates-choosing": ("candidates-choosing.json",),
    "candidates-choosing-curves": ("candidates-choosing.json",),
    "candidates-reporting": ("candidates-reporting.json", "backends-cpu.json"),
    "preset-curve": ("candidates-reporting.json",),
    "loop": ("loop.json",),
    "limits": ("limits.json",),
    "backends-cpu": ("backends-cpu.json",),
    "tensorflow-before-after": ("tensorflow-before-after.json",),
    "tensorflow-before-after-quiet": ("tensorflow-before-after-quiet.json",),
    "offline-cpu-check": ("offline-cpu-check.json",),
    "export-formats": ("latency.json",),
    "formats-over-seeds": ("seeds.json",),
    "seeds-reporting": ("seeds.json",),
    "seeds-split": ("seeds.json",),
    "seed-kinds": ("seeds.json",),
}


TABLES: dict[str, Callable[[Path], str]] = {
    "machines": machines,
    "speed-avx2": speed_runs("onednn-avx2.json"),
    "speed-avx512": speed_runs("onednn-avx512.json"),
    "training-time": training_time,
    "profile": profile,
    "page": page_table,
    "accuracy-before-after": accuracy_against_before,
    "params": params_table,
    "headline": headline,
    "candidates-choosing": candidates_table("candidates-choosing.json", against=None),
    "candidates-choosing-curves": candidates_curves("candidates-choosing.json"),
    "candidates-reporting": candidates_table(
        "candidates-reporting.json",
        against="backends-cpu.json: default, tensorflow",
        benchmark="backends-cpu.json",
    ),
    "seeds-reporting": lambda root: seeds_report(root, "train.seed", "101-110"),
    "seeds-split": lambda root: seeds_report(root, "prepare.seed", "1-5"),
    "seed-kinds": seed_kinds,
    "formats-over-seeds": formats_over_seeds,
    "preset-curve": preset_curve,
    "loop": loop_tables,
    "limits": limits,
    "backends-cpu": speed_runs("backends-cpu.json"),
    "tensorflow-before-after": speed_runs("tensorflow-before-after.json"),
    "tensorflow-before-after-quiet": speed_runs("tensorflow-before-after-quiet.json"),
    "offline-cpu-check": speed_runs("offline-cpu-check.json"),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a table differs from its data")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project whose pages and data to use")
    args = parser.parse_args()
    stale = regenerate(args.root, write=not args.check)
    if args.check and stale:
        raise PipelineError(
            *(
                f"{where}: differs from its data; `make docs` (python -m tools.docs_tables) rewrites it"
                for where in stale
            )
        )
    for where in stale:
        print(f"docs_tables: rewrote {where}")


if __name__ == "__main__":
    run_command("docs_tables", main)
