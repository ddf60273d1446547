"""README.md and docs/: every relative link reaches a file, every #anchor a heading; README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.docs_tables import TABLES, regenerate

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
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
    assert {page.name for page in PAGES[1:]} <= linked


def test_every_generated_table_matches_its_data() -> None:
    """The results tables between `<!-- table: NAME -->` markers are what tools/docs_tables.py
    writes from the committed data: a number typed by hand, or data changed without the docs, fails."""
    assert regenerate(ROOT, write=False) == []
    used = {name for page in PAGES for name in re.findall(r"<!-- table: ([\w-]+) -->", page.read_text())}
    assert used == set(TABLES)  # every table it can make is in some page


def test_a_number_edited_by_hand_is_caught_and_rewritten(tmp_path: Path) -> None:
    for page in PAGES:
        target = tmp_path / page.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.read_text())
    speed = tmp_path / "docs/speed.md"
    original = speed.read_text()
    # The first figure in the choosing table, one digit changed.
    table = original.index("<!-- table: candidates-choosing -->")
    figure = re.compile(r"\d\d\.\d\d ± ").search(original, table)
    assert figure is not None
    edited = original[: figure.start()] + str((int(original[figure.start()]) + 1) % 10) + original[figure.start() + 1 :]
    speed.write_text(edited)
    assert regenerate(tmp_path, write=False) == ["docs/speed.md: candidates-choosing"]
    assert regenerate(tmp_path, write=True) == ["docs/speed.md: candidates-choosing"]
    assert speed.read_text() == original
