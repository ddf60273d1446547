"""README.md and docs/: every relative link reaches a file, every #anchor a heading; README stays short."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
# How the project got here (rounds of work, sessions, issue numbers, machines lent, goals met or
# missed, records of older code) is history: these pages. Every other page says what is, for users.
HISTORY_PAGES = {"docs/history.md", "CHANGELOG.md"}
USER_PAGES = [page for page in PAGES if str(page.relative_to(ROOT)) not in HISTORY_PAGES]
# A generated table: between its two markers (lab/docs_tables.py writes it from the lab's results).
BLOCK = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- end table -->)", re.DOTALL)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
README_MAX_LINES = 200


def prose(text: str) -> str:
    """The text outside fenced code blocks, where links and headings are Markdown."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def anchors(path: Path) -> set[str]:
    """The anchors a forge gives `path`'s headings: lowercase, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(path.read_text()), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = sum(1 for existing in found if re.fullmatch(rf"{re.escape(slug)}(-\d+)?", existing))
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [a or b for a, b in LINK.findall(prose(path.read_text()))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # https:, mailto: ...: outside the repository
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor in {linked.name}")
    assert not broken, broken


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Two words, here\n\n[ok](#two-words-here) [bad](#nowhere) [file](missing.md)\n")
    assert anchors(page) == {"title", "two-words-here"}
    assert links(page) == ["#two-words-here", "#nowhere", "missing.md"]


def test_readme_is_short_and_every_docs_page_is_linked_from_it() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    linked = {Path(target.partition("#")[0]).name for target in links(ROOT / "README.md")}
    assert {page.name for page in PAGES[2:]} <= linked


def test_every_setting_is_checked_and_documented_once() -> None:
    """params.yaml's keys are the settings lenet5/config.py checks, in its order, and each has the
    meaning and allowed values docs/params.md is written from (its table: `make docs`)."""
    from ruamel.yaml import YAML

    from lenet5.config import SECTIONS

    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    declared = {name: [spec.name for spec in dataclasses.fields(cls)] for name, cls in SECTIONS.items()}
    assert {section: list(values) for section, values in params.items()} == declared
    for cls in SECTIONS.values():
        for spec in dataclasses.fields(cls):
            assert spec.metadata["meaning"] and spec.metadata["allowed"], spec.name
    page = (ROOT / "docs/params.md").read_text()
    assert all(f"| `{section}.{key}` |" in page for section, keys in declared.items() for key in keys)


def unexplained_tables(text: str) -> list[str]:
    """The first row of each Markdown table outside a generated block that is not preceded by a
    `<!-- not generated: why -->` line (a caption line between them allowed)."""
    text = prose(text)
    blocks = [(m.start(), m.end()) for m in BLOCK.finditer(text)]
    found = []
    for table in re.finditer(r"^[ \t]*\|.*\|\n[ \t]*\| ?-{3}", text, flags=re.M):
        if any(start <= table.start() < end for start, end in blocks):
            continue
        above = [line for line in text[: table.start()].splitlines() if line.strip()][-2:]
        if not any(line.startswith("<!-- not generated: ") for line in above):
            found.append(table.group(0).splitlines()[0])
    return found


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_is_generated_or_says_why_not(page: Path) -> None:
    """A results table is written from data; any other table says what it is instead."""
    assert unexplained_tables(page.read_text()) == []


def test_a_table_typed_by_hand_is_caught() -> None:
    page = "Text.\n\n| seed | accuracy |\n| --- | ---: |\n| 1 | 99.3 |\n"
    assert unexplained_tables(page) == ["| seed | accuracy |"]
    assert unexplained_tables(page.replace("Text.", "<!-- not generated: an example -->")) == []


MEAN_AND_STD = re.compile(r"\d+\.\d+\s+±\s+\d+\.\d+")  # a line may break inside one
HISTORY = re.compile(r"previous round|earlier rounds", re.I)  # headings of sections kept as history


def means(text: str) -> set[str]:
    return {" ".join(figure.split()) for figure in MEAN_AND_STD.findall(text)}


def uncited_means(pages: dict[str, str]) -> list[str]:
    """Each `mean ± std` in the prose (outside tables and code) that no generated table shows,
    unless its section's heading marks it as an earlier round's history."""
    shown = {figure for text in pages.values() for block in BLOCK.finditer(text) for figure in means(block[3])}
    found = []
    for name, text in pages.items():
        for section in re.split(r"^(?=#)", prose(BLOCK.sub("", text)), flags=re.M):
            if HISTORY.search(section.partition("\n")[0]):
                continue
            words = "\n".join(line for line in section.splitlines() if not line.lstrip().startswith("|"))
            found += [f"{name}: {figure}" for figure in sorted(means(words) - shown)]
    return found


def test_every_mean_in_the_prose_is_one_a_generated_table_shows() -> None:
    """A figure the prose quotes is one a table writes from data: typed by hand, it drifts."""
    assert uncited_means({str(page.relative_to(ROOT)): page.read_text() for page in USER_PAGES}) == []


def test_a_mean_typed_into_the_prose_is_caught() -> None:
    table = "<!-- table: x -->\n| a |\n| --- |\n| 99.31 ± 0.06 |\n<!-- end table -->\n"
    assert uncited_means({"page.md": table + "It scores 99.31 ± 0.06%.\n"}) == []
    assert uncited_means({"page.md": table + "It scores 99.32 ±\n0.06%.\n"}) == ["page.md: 99.32 ± 0.06"]
    history = table + "## Where the previous round stood\n\nIt scored 99.32 ± 0.06%.\n"
    assert uncited_means({"page.md": history}) == []


PROCESS_WORDS = re.compile(
    r"\b(?:this|that|the previous|an earlier|earlier|the last|the next) rounds?\b|\bround's\b"
    r"|\bsessions?\b|\blent\b|\bnot met\b|\bmissed\b|\bissues? \d+|\(issue|\btargets? (?:were|was|set|stood|stand)\b"
    r"|\bthe targets\b|\bmet\b"
    # Time words that compare with an older state of the code: a page says what the product does now.
    r"|\btoday\b|\bthe earlier runs?\b|\ban earlier run\b|\bthe same settings before\b"
    r"|\bdid not run on this machine\b|\bcommit [0-9a-f]{7,40}\b",
    re.IGNORECASE,
)


def process_words(text: str) -> list[str]:
    return [match[0] for match in PROCESS_WORDS.finditer(prose(text))]


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_pages_speak_of_the_product_not_of_its_making(page: Path) -> None:
    assert process_words(page.read_text()) == []


def test_the_process_words_are_seen() -> None:
    text = "Not met: 99.31%. Measured this round, in one session (issue 26); the targets were missed."
    assert process_words(text) == ["Not met", "this round", "session", "(issue", "the targets", "missed"]
    assert process_words("int8 rounds every weight; TensorFlow rounds differently.") == []
    older = "`params.yaml` today beat the earlier runs and the same settings before (commit 2329a61)."
    assert process_words(older) == ["today", "the earlier runs", "the same settings before", "commit 2329a61"]
