"""What a stage tells the user to do when a file the pipeline wrote comes back damaged or missing.

The library names the file and what is wrong with it; a stage adds how to get a good copy back
with DVC: from the cache or a remote, or by running the stage that writes it again, alone
(`-s`: its own inputs are intact, and `-f` without it would rerun every stage before it too).
"""

from __future__ import annotations

from pathlib import Path


def good_copy(path: Path, stage: str) -> str:
    """The hint for an output of `stage` at `path` (kept in DVC's cache)."""
    cached = f"`dvc checkout --force {path}` (or `dvc pull --force`)"
    return f"get a good copy with {cached}, or rebuild it: `dvc repro -f -s {stage}`"


def rerun(stage: str) -> str:
    """The hint for an output of `stage` that DVC does not cache: run the stage again."""
    return f"write it again with `dvc repro -f -s {stage}`"
