"""The project's shape: each stage's code deps in dvc.yaml are exactly what it imports, a library
folder for each group of modules it uses (lenet5/data, lenet5/training, lenet5/evaluation,
lenet5/serving) and each other project file by name; and the library has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import ROOT

PACKAGES = ("lenet5", "stages")
LIBRARY = ROOT / "lenet5"


def module_file(module: str) -> Path | None:
    """The project file of a dotted module name, or None for anything outside the project."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def direct_imports(path: Path) -> set[Path]:
    """Project files that `path` imports itself (with the packages' __init__.py they execute)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py
                module = module_file(".".join(parts[:depth]))
                if module is not None and module != path:
                    found.add(module)
    return found


def imported_files(path: Path) -> set[Path]:
    """Project files `path` imports, at any depth, itself included."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(direct_imports(current))
    return seen


def as_dep(path: Path) -> str:
    """A file as dvc.yaml names it: a library group's folder for a module inside one, else the file."""
    relative = path.relative_to(ROOT)
    if path.parent != LIBRARY and LIBRARY in path.parents:
        return str(relative.parents[len(relative.parts) - 3])  # lenet5/<group>
    return str(relative)


def is_code(dep: str) -> bool:
    return dep.endswith(".py") or (dep.startswith("lenet5/") and (ROOT / dep).is_dir())


def dep_problems(pipeline: dict) -> list[str]:
    """Each stage whose declared code deps differ from the project code its script imports."""
    problems = []
    for name, stage in pipeline["stages"].items():
        module = stage["cmd"].split("python -m ", 1)[1].split()[0]
        script = module_file(module)
        if script is None:
            problems.append(f"{name}: {module} is not a project module")
            continue
        derived = {as_dep(p) for p in imported_files(script)}
        declared = {dep for dep in stage["deps"] if is_code(dep)}
        if declared != derived:
            problems.append(f"{name}: missing {sorted(derived - declared)}, extra {sorted(declared - derived)}")
    return problems


def test_code_deps_of_every_stage_are_exactly_its_imports() -> None:
    assert dep_problems(yaml.safe_load((ROOT / "dvc.yaml").read_text())) == []


def test_the_check_detects_a_missing_dep() -> None:
    """A group reached only through other modules (train -> loop -> inputs), taken out of dvc.yaml."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"]["plot"]["deps"].remove("lenet5/evaluation")
    pipeline["stages"]["evaluate"]["deps"].append("lenet5/serving")
    assert dep_problems(pipeline) == [
        "evaluate: missing [], extra ['lenet5/serving']",
        "plot: missing ['lenet5/evaluation'], extra []",
    ]


def test_the_library_has_no_import_cycle() -> None:
    """Walking each module's imports never comes back to it: every module can be read on its own."""
    modules = sorted(LIBRARY.rglob("*.py"))
    graph = {path: {p for p in direct_imports(path) if p.name != "__init__.py"} for path in modules}
    cycles = []
    for start in modules:
        todo, seen = list(graph[start]), set()
        while todo:
            current = todo.pop()
            if current == start:
                cycles.append(str(start.relative_to(ROOT)))
                break
            if current not in seen:
                seen.add(current)
                todo.extend(graph.get(current, ()))
    assert cycles == []


def test_no_two_modules_share_a_name() -> None:
    """A name says which file: no module of the library, the stages or the tools shares one."""
    names: dict[str, list[str]] = {}
    for folder in ("lenet5", "stages", "tools", "lab"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "__init__.py":
                names.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


def test_only_the_first_stage_depends_on_the_params_check() -> None:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dependants = [name for name, stage in pipeline["stages"].items() if "data/params_checked.txt" in stage["deps"]]
    assert dependants == ["fetch"]
