"""The one home of the tests' shared parts: a generated MNIST mirror, throw-away git + DVC copies
of this project (trained once, copied per module or test), clones standing in for other machines,
params edits undone after the block, free ports, memory-capped children, the S3-compatible server
and headless Chromium.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.mnist_fixture import write_mirror

ROOT = Path(__file__).resolve().parent.parent
# What a user's clone holds that the pipeline needs; its outputs (dvc.lock, metrics/, plots/) are
# left out so each copy starts from nothing.
PROJECT_FILES = [
    "lenet5",
    "stages",
    "params.yaml",
    "dvc.yaml",
    "data/sources.yaml",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
    "page",
    "search.yaml",
    "tools/search.py",
    "package.json",
    "package-lock.json",
]
Mirror = tuple[Path, dict[str, dict[str, Any]]]


# The fast tier (`make test-fast`, `pytest -m "not slow"`) leaves out every test that runs the
# pipeline or trains: those that use a project these fixtures build and train, that build their
# own project from the small MNIST (tmp_path_factory and mirror), or that live in a module whose
# tests all train.
PIPELINE_FIXTURES = {"trained_template", "trained_project", "own_trained_project", "experiments", "cluster"}
TRAINING_MODULES = {"test_training", "test_lab", "test_backends"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        builds_a_project = {"tmp_path_factory", "mirror"} <= fixtures
        module = getattr(item, "module", None)
        trains = module is not None and module.__name__.rpartition(".")[2] in TRAINING_MODULES
        if fixtures & PIPELINE_FIXTURES or builds_a_project or trains:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    """A folder with the four gzip IDX files of a small data set, and each one's sha256 and size."""
    folder = tmp_path_factory.mktemp("mirror")
    return folder, write_mirror(folder)


# The recipe the tests train with: params.yaml's values as published, held here so that a user's
# own experiments (their params.yaml, applied or committed) change no test's expectation; how close
# int8 stays to Keras on a small model, for one, depends on every setting. A setting added later
# and not listed here comes from params.yaml as it is.
RECIPE: dict[str, dict[str, Any]] = {
    "prepare": {"validation_size": 0.1, "seed": 98},
    "train": {
        "seed": 98,
        "epochs": 5,
        "batch_size": 512,
        "optimizer": "adam",
        "adam_betas": [0.7, 0.9],
        "learning_rate": 0.015,
        "lr_schedule": "warmup_cosine",
        "warmup_epochs": 0.5,
        "weight_decay": 0,
        "ema_momentum": 0,
        "augment_max_shift": 2,
        "augment_max_rotation": 10,
        "elastic_strength": 3,
        "elastic_smoothness": 7,
        "unaugmented_epochs": 1,
        "label_smoothing": 0.1,
        "min_images": 250_000,
        "threads": 0,
        "distribute": "none",
        "backend": "tensorflow",
    },
    "plot": {"misclassified_max": 25, "dpi": 100},
}


def recipe_params() -> dict[str, Any]:
    """A valid params.yaml: the workspace's keys, with the tests' recipe for every setting it lists."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in RECIPE.items():
        params[section].update(copy.deepcopy(values))
    return params


def small_params() -> dict[str, Any]:
    """The tests' recipe, shrunk for a thousand images and one epoch."""
    params = recipe_params()
    params["train"].update(epochs=1, batch_size=16, lr_schedule="constant", learning_rate=0.002, warmup_epochs=0)
    params["plot"].update(dpi=50, misclassified_max=10)
    return params


def write_params(project: Path, params: dict[str, Any]) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# MNIST's file of each role, as the generated mirror names them too.
MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def sources_files(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """data/sources.yaml's `files` for files by MNIST's names (each with sha256 and size)."""
    return {role: {"name": name, **files[name]} for role, name in MNIST_NAMES.items() if name in files}


# The generated data set's data/sources.yaml is written whole, never derived from the repository's:
# a clone that trains its own data set (another name, its class names) changes no test's expectation.
GENERATED_SOURCES = {"name": "MNIST", "mirrors": [], "timeout_seconds": 30}


def write_sources(project: Path, files: dict[str, dict[str, Any]], **fields: Any) -> None:
    """data/sources.yaml for the generated digits, with no public mirror (and `fields` changed)."""
    sources = GENERATED_SOURCES | {"files": sources_files(files)} | fields
    (project / "data/sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))


# Address-space limits are what prove a refusal happened before a large allocation. Linux enforces
# RLIMIT_AS; macOS accepts no such limit, so there the children run unlimited and the tests whose
# point is the limit are skipped.
MEMORY_LIMITS = sys.platform.startswith("linux")
# Only ends a run that hangs: it includes a command's start-up, which depends on the machine, so
# no promise of speed is measured with it (speed lives in the lab's benchmark).
HANG_GUARD_SECONDS = 60
needs_memory_limits = pytest.mark.skipif(not MEMORY_LIMITS, reason="this platform does not enforce RLIMIT_AS")


def memory_limit(memory_mb: int | None) -> Callable[[], None] | None:
    """A `preexec_fn` that caps a child process's address space at `memory_mb` MiB (None: no cap)."""
    if not memory_mb or not MEMORY_LIMITS:
        return None

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    return limit


def run_env(mirror_folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The stages run `python -m stages.X` from the copy's root, so they import the copy's lenet5;
    # the interpreter running the tests must be first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MNIST_MIRROR"] = str(mirror_folder)
    env.update(GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@localhost")
    env.update(GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@localhost")
    env.pop("PYTHONPATH", None)
    return env


class Project:
    """A git + DVC copy of the project in a temporary folder, driven through the real CLIs."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env

    def run(self, *command: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args)

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def set_params(self, section: str, **values: Any) -> None:
        """Change params.yaml for good: for a project the test made for itself."""
        params = self.params()
        params[section].update(values)
        write_params(self.path, params)

    @contextlib.contextmanager
    def changed_params(self, section: str, **values: Any) -> Iterator[None]:
        """params.yaml with these values inside the block, byte for byte as it was after it."""
        path = self.path / "params.yaml"
        original = path.read_bytes()
        self.set_params(section, **values)
        try:
            yield
        finally:
            path.write_bytes(original)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


def new_project(tmp_path_factory: pytest.TempPathFactory, mirror: Mirror) -> Project:
    """A fresh committed copy of the project, set up for the small data set."""
    path = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source, target = ROOT / name, path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    write_params(path, small_params())
    write_sources(path, mirror[1])
    if (ROOT / "node_modules").is_dir():  # the page's runtime, git-ignored: as `make setup` left it
        (path / "node_modules").symlink_to(ROOT / "node_modules")
    project = Project(path, run_env(mirror[0]))
    project.git("init", "-q", "-b", "main")
    project.commit("project copy")
    return project


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory, mirror: Mirror) -> Project:
    """A project copy on which `dvc repro` has run once, its results committed; only ever copied."""
    project = new_project(tmp_path_factory, mirror)
    project.dvc("repro")
    project.commit("first run")
    return project


def copy_project(source: Project, path: Path) -> Project:
    """A copy of `source` at `path`, git history and DVC cache included: another folder, same state.

    DVC's `.dvc/tmp` (locks, indexes that name the folder they were made in) stays behind: DVC
    makes it again.
    """

    def leave_behind(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder) == source.path / ".dvc" else []

    shutil.copytree(source.path, path, symlinks=True, ignore=leave_behind)
    return Project(path, dict(source.env))


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory, trained_template: Project) -> Project:
    """A trained project for one test module (a copy: a second, where `dvc repro` takes half a
    minute); its tests only read it, or put back what they change (`changed_params`)."""
    return copy_project(trained_template, tmp_path_factory.mktemp("trained") / "project")


@pytest.fixture
def own_trained_project(tmp_path: Path, trained_template: Project) -> Project:
    """A trained project for one test alone, which may change it for good (train more, kill a run)."""
    return copy_project(trained_template, tmp_path / "project")


def clone_project(origin: Project | Path, path: Path, env: dict[str, str], mirror: Path | None = None) -> Project:
    """`git clone` of `origin`, standing in for another machine; only what git tracks comes along.

    `mirror`, when given, is where its fetch stage looks for MNIST (a missing folder: nowhere).
    """
    source = origin.path if isinstance(origin, Project) else origin
    subprocess.run(["git", "clone", "-q", str(source), str(path)], check=True, capture_output=True)
    return Project(path, {**env, "MNIST_MIRROR": str(mirror)} if mirror else dict(env))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The S3-compatible server's credentials: test values, only ever written to .dvc/config.local.
S3_KEY_ID, S3_SECRET = "test-key-id", "test-secret-not-in-git"


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with an empty bucket `dvc-store`; stopped after the test."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto server did not start on {url}") from None
                time.sleep(0.3)
        request = urllib.request.Request(f"{url}/dvc-store", method="PUT")  # create the bucket
        urllib.request.urlopen(request, timeout=10).close()
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def without_aws_settings(env: dict[str, str]) -> dict[str, str]:
    """Credentials must come from .dvc/config.local, not from the environment running the tests."""
    return {key: value for key, value in env.items() if not key.startswith("AWS_")}


@dataclass
class PageReport:
    errors: list[str]
    outside: list[str]
    values: dict[str, Any]


class Chromium:
    """Pages opened in headless Chromium through Playwright (tools/browser.py), one browser each."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def open(self, url: str, expressions: dict[str, str], settle_seconds: float = 3.0) -> PageReport:
        """Load `url`, let its scripts run, then evaluate each JavaScript expression in the page."""
        from tools.browser import chromium_page

        with chromium_page(self.executable) as (page, log):
            page.goto(url)
            page.wait_for_timeout(settle_seconds * 1000)
            values = {name: page.evaluate(expression) for name, expression in expressions.items()}
            return PageReport(log.errors, log.outside, values)


@pytest.fixture
def chromium() -> Chromium:
    """Headless Chromium (Debian's, driven by Playwright); on CI its absence fails."""
    from tools.browser import find_chromium

    browser = find_chromium()
    if browser is None:
        message = "chromium is not installed (Debian: apt-get install chromium; `make browser`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return Chromium(browser)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own (Debian's postgresql) on 127.0.0.1, in a temporary folder,
    run as an unprivileged user; its URL, then stopped and deleted. On CI its absence fails."""
    import glob
    import tempfile

    found = shutil.which("pg_ctl") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1:]), None)
    if found is None:
        message = "postgresql is not installed (Debian: apt-get install postgresql; `make postgres`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    bin_dir = Path(found).parent
    folder = Path(tempfile.mkdtemp(prefix="lenet5-postgres-"))  # under /tmp: the server's user reaches it
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = free_port(), folder / "data"

    def pg(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "lenet5", "--auth=trust", "-E", "UTF8")
    options = f"-h 127.0.0.1 -p {port} -k {folder}"
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start")
    try:
        yield f"postgresql://lenet5@127.0.0.1:{port}/postgres"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_queue(project: Project, timeout: float = 600) -> str:
    """Poll `dvc queue status` until nothing is queued or running; return its last output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = project.dvc("queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        time.sleep(2)
    raise AssertionError(f"queue still busy after {timeout} s:\n{status}")


@contextlib.contextmanager
def queue_workers(project: Project, jobs: int) -> Iterator[Path]:
    """`dvc queue start -j jobs` in `project`, the workers stopped when the block ends; yields their log.

    The workers are daemons that outlive `dvc queue start`: started with this process's pipes as
    their output, one that lingers keeps them open, and reading the command's output then waits
    for it (seen: minutes, after `dvc queue status` showed every task done). So their output goes
    to a file, and they are stopped (and any task still running killed) at the end.
    """
    log = project.path.parent / f"{project.path.name}-queue-workers.log"
    with open(log, "w") as output:
        started = subprocess.run(
            [sys.executable, "-m", "dvc", "queue", "start", "-j", str(jobs)],
            cwd=project.path, env=project.env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            timeout=120,
        )  # fmt: skip
    assert started.returncode == 0, log.read_text()
    try:
        yield log
    finally:
        project.run(sys.executable, "-m", "dvc", "queue", "stop", "--kill", check=False, timeout=120)


# lenet5-predict and the test digits it reads, for the tests of every model format.
PREDICT = Path(sys.executable).parent / "lenet5-predict"  # the installed console command

COUNT = 30


def first_test_digits(project: Project) -> tuple[np.ndarray, np.ndarray]:
    """The first test digits as the uint8 28x28 frames MNIST ships, and what `evaluate` predicted."""
    images = np.load(project.path / "data/prepared/test_images.npy")[:COUNT]
    with (project.path / "metrics/predictions.csv").open() as file:
        predicted = np.array([int(row["predicted"]) for row in csv.DictReader(file)][:COUNT])
    return images, predicted


def save_png(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path, format="PNG")
    return path


def predict(
    project: Project, *args: str | Path, cwd: Path | None = None, memory_mb: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`lenet5-predict ARGS` run from `cwd` (the project by default), with at most `memory_mb` of address space."""

    return subprocess.run(
        [str(PREDICT), *map(str, args)],
        cwd=cwd or project.path,
        # One OpenBLAS thread under a cap: its per-thread buffers would make the floor depend on cores.
        env={**project.env, "OPENBLAS_NUM_THREADS": "1"} if memory_mb else project.env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=memory_limit(memory_mb),
    )
