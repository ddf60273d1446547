"""The project's shape: each stage's code deps in dvc.yaml are exactly the project files it imports."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import ROOT

PACKAGES = ("lenet5", "stages")


def module_file(module: str) -> Path | None:
    """The project file of a dotted module name, or None for anything outside the project."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(path: Path) -> set[Path]:
    """Project files `path` imports, at any depth, with the packages' __init__.py they execute."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(ast.parse(current.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py
                    found = module_file(".".join(parts[:depth]))
                    if found is not None:
                        todo.append(found)
    return seen


def dep_problems(pipeline: dict) -> list[str]:
    """Each stage whose declared code deps differ from the project files its script imports."""
    problems = []
    for name, stage in pipeline["stages"].items():
        module = stage["cmd"].split("python -m ", 1)[1].split()[0]
        script = module_file(module)
        if script is None:
            problems.append(f"{name}: {module} is not a project module")
            continue
        derived = {str(p.relative_to(ROOT)) for p in imported_files(script)}
        declared = {dep for dep in stage["deps"] if dep.endswith(".py")}
        if declared != derived:
            problems.append(f"{name}: missing {sorted(derived - declared)}, extra {sorted(declared - derived)}")
    return problems


def test_code_deps_of_every_stage_are_exactly_its_imports() -> None:
    assert dep_problems(yaml.safe_load((ROOT / "dvc.yaml").read_text())) == []


def test_the_check_detects_a_missing_dep() -> None:
    """A dep reached only through other modules (train -> training -> inputs), taken out of dvc.yaml."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"]["train"]["deps"].remove("lenet5/inputs.py")
    pipeline["stages"]["evaluate"]["deps"].append("lenet5/download.py")
    assert dep_problems(pipeline) == [
        "train: missing ['lenet5/inputs.py'], extra []",
        "evaluate: missing [], extra ['lenet5/download.py']",
    ]


def test_only_the_first_stage_depends_on_the_params_check() -> None:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dependants = [name for name, stage in pipeline["stages"].items() if "data/params_checked.txt" in stage["deps"]]
    assert dependants == ["fetch"]
