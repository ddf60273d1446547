"""The hyperparameter search's parts that know Optuna, not DVC: the search space (search.yaml),
the study and its storage, and the per-epoch report through which the pruner stops a poor trial.

A study is a set of trials, each one setting of the space scored by its validation accuracy. It
lives in a storage that every worker reaches: an SQLite file in the repository by default (one
machine, no server), or PostgreSQL / MySQL by URL for workers on many machines (Optuna's RDB
storage). Workers beat a heartbeat: a trial whose worker died is failed after `grace_seconds` and
queued again, so another worker runs it. The study records what it searches (the data, the space,
the seeds and the settings it leaves fixed); a worker with anything else is refused, so no study
mixes scores that cannot be compared.

Optuna is imported inside the functions: the train stage reads `TRIAL_ENV` on every run, and
loads Optuna only when a search started it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lenet5.checks import Document, raise_if, shown, unknown_key
from lenet5.config import SECTIONS, TrainConfig
from lenet5.errors import PipelineError, first_line

SPACE_FILE = Path("search.yaml")
DEFAULT_STORAGE = "sqlite:///.search/study.db"  # relative to the repository: a file beside the work, git-ignored
# How a search hands a training run its trial: JSON {storage, study, trial_id, step_offset} in
# this environment variable. Without it training is exactly the run params.yaml describes.
TRIAL_ENV = "LENET5_SEARCH_TRIAL"
# The pruner compares trials at the same share of their own schedule (a quarter, a half, three
# quarters), not at the same epoch: a longer schedule is less far along at epoch 3, not worse.
REPORTS_PER_RUN = 4
STEPS_PER_RUN = 100  # each seed's run reports steps offset + 25, 50, 75, 100
PRUNE_FROM_STEP = 50  # never on the first quarter's accuracy: warm-up makes it mostly noise
SEARCHED_SECTION = "train"  # prepare's settings change the validation split that scores the trials


@dataclass(frozen=True)
class Dimension:
    """One setting's values to search: a range (`low`, `high`, `log`, `step`) or `choices`."""

    setting: str  # "train.learning_rate"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    integer: bool = False


def load_space(path: Path = SPACE_FILE) -> dict[str, Dimension]:
    """search.yaml: each key a train setting of params.yaml, each value a range or a list of choices;
    every value checked by that setting's own rule (lenet5/config.py). All problems raised together."""
    doc, problems = Document(path), []
    if not isinstance(doc.values, dict) or not doc.values:
        raise PipelineError(
            f"{path}: expected a mapping of settings, such as "
            "`train.learning_rate: {low: 0.001, high: 0.03, log: true}`"
        )
    fields = {spec.name: spec for spec in dataclasses.fields(TrainConfig)}
    space = {}
    for key, value in doc.values.items():
        where = doc.where(str(key))
        section, _, name = str(key).partition(".")
        if section != SEARCHED_SECTION or name not in fields:
            known = sorted(fields)
            if section in SECTIONS and section != SEARCHED_SECTION:
                problems.append(
                    f"{where}: {key}: only train settings are searched; "
                    "prepare's would change the validation split that scores the trials"
                )
            else:
                problems.append(f"{where}: {unknown_key((SEARCHED_SECTION,), name or section, known)}")
            continue
        try:
            space[str(key)] = _dimension(str(key), value, fields[name])
        except ValueError as error:
            problems.append(f"{where}: {key}: {shown(value)} is not allowed; {error}")
    raise_if(problems)
    return space


def _dimension(setting: str, value: Any, spec: Any) -> Dimension:
    rule = spec.metadata["rule"]
    if not isinstance(value, dict):
        raise ValueError("expected {low: ..., high: ...} (with log: true or step: ...) or {choices: [...]}")
    if set(value) == {"choices"}:
        choices = value["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError("expected choices to be a non-empty list")
        for choice in choices:
            _check_value(rule, choice)
        return Dimension(setting, choices=tuple(choices))
    unknown = set(value) - {"low", "high", "log", "step"}
    if unknown or not {"low", "high"} <= set(value):
        raise ValueError("expected keys low and high (and log or step), or choices alone")
    low, high = _check_value(rule, value["low"]), _check_value(rule, value["high"])
    if isinstance(low, str) or isinstance(high, str) or not low < high:
        raise ValueError("expected low below high, both numbers")
    log = value.get("log", False)
    if not isinstance(log, bool) or (log and low <= 0):
        raise ValueError("expected log to be true or false, and low above 0 with log: true")
    step = value.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or log):
        raise ValueError("expected step to be a number above 0, without log")
    integer = str(spec.type).startswith("int")  # the dataclass field's type: "int", "int | str", "float"
    return Dimension(setting, float(low), float(high), log, step, integer=integer)


def _check_value(rule: Any, value: Any) -> Any:
    try:
        return rule(value)
    except ValueError as error:
        raise ValueError(f"{shown(value)}: {error}") from None


def suggest(trial: Any, space: dict[str, Dimension]) -> dict[str, Any]:
    """One value per setting of the space, from Optuna's sampler."""
    values = {}
    for name, dim in space.items():
        if dim.choices is not None:
            values[name] = trial.suggest_categorical(name, list(dim.choices))
        elif dim.integer:
            values[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log, step=int(dim.step or 1))
        else:
            values[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log, step=dim.step)
    return values


def starting_point(space: dict[str, Dimension], train: TrainConfig) -> dict[str, Any] | None:
    """params.yaml's own value of every searched setting, when each lies in the space: the study's
    first trial, so the search compares its draws with the settings it starts from. None if any
    value lies outside its range (a search that has moved on from params.yaml)."""
    values = {}
    for name, dim in space.items():
        value = getattr(train, name.partition(".")[2])
        inside = (
            value in dim.choices
            if dim.choices is not None
            else not isinstance(value, (str, bool)) and dim.low <= value <= dim.high
        )
        if not inside:
            return None
        values[name] = value
    return values


def signature(
    space: dict[str, Dimension], data: dict[str, Any], fixed: dict[str, Any], seeds: list[int]
) -> dict[str, Any]:
    """What a study searches, as stored with it: workers that differ in any part are refused."""
    return {
        "space": {name: asdict(dim) for name, dim in sorted(space.items())},
        "data": data,
        "fixed_settings": fixed,
        "seeds": seeds,
    }


def optuna_quietly() -> Any:
    """Optuna, its info lines and its experimental-feature warnings off (the heartbeat and its retry
    are marked experimental; pyproject.toml pins the version they were tested with)."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def safe_url(url: str) -> str:
    """A storage URL as messages show it: without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str, heartbeat_seconds: int | None = None, retries: int = 3) -> Any:
    """Optuna's RDB storage at `url`, with a heartbeat for workers; one line if it cannot be reached."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    optuna = optuna_quietly()

    given, url = url, with_driver(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    heartbeat = {}
    if heartbeat_seconds:
        heartbeat = {
            "heartbeat_interval": heartbeat_seconds,
            "grace_period": 3 * heartbeat_seconds,
            # A trial whose worker died (machine lost, process killed) goes back to the queue.
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries),
        }
    try:
        return _create_storage(url, heartbeat)
    except (ArgumentError, ValueError) as error:
        raise PipelineError(
            f"--storage {safe_url(given)}: not a storage URL ({first_line(error)}); expected sqlite:///FILE, "
            "postgresql://USER@HOST/DB or mysql://USER@HOST/DB"
        ) from None
    except (SQLAlchemyError, ImportError, OSError) as error:
        raise PipelineError(
            f"--storage {safe_url(given)}: cannot reach the study's database ({first_line(error)}); start the server "
            "or correct the URL"
        ) from None


def _create_storage(url: str, heartbeat: dict[str, Any], attempts: int = 5) -> Any:
    """RDBStorage, which creates its tables in an empty database: workers that start together race
    to create them, and all but one fail on a duplicate key (seen with two workers on PostgreSQL).
    Once one has made them, the others find them, so those try again after a moment."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_options(url), **heartbeat)
        except (IntegrityError, ProgrammingError) as error:
            if attempt == attempts - 1 or not any(word in str(error) for word in ("duplicate", "already exists")):
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def with_driver(url: str) -> str:
    """postgresql:// through the driver this project installs (psycopg 3), whichever SQLAlchemy prefers."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://") if url.startswith("postgresql://") else url


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # workers of one machine may write at the same moment
    return {"pool_pre_ping": True}


def make_pruner(startup_trials: int) -> Any:
    """Stops a trial whose validation accuracy, at half or three quarters of its schedule, is below
    the median of the finished trials' at the same point (from `startup_trials` finished on)."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=PRUNE_FROM_STEP - 1)


def open_study(
    storage: Any,
    name: str,
    wanted: dict[str, Any],
    startup_trials: int,
    sampler_seed: int | None,
    start: dict[str, Any] | None = None,
) -> Any:
    """The study `name`, created with `wanted` as its signature, or joined if it has the same one.
    A new study's first trial is `start` (params.yaml's values), when given.

    With `sampler_seed`, TPE's draws repeat for one worker; the seed is offset by the trials the
    study already has, so a resumed study does not draw its first settings again."""
    import optuna

    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True, pruner=make_pruner(startup_trials)
    )
    if sampler_seed is not None:
        study.sampler = optuna.samplers.TPESampler(seed=sampler_seed + len(study.get_trials(deepcopy=False)))
    attrs = study.user_attrs
    if "signature" not in attrs:
        study.set_user_attr("signature", wanted)
        study.set_user_attr("pruner_startup_trials", startup_trials)
        if start is not None:
            # skip_if_exists: two workers that create the study at once queue it once.
            study.enqueue_trial(start, skip_if_exists=True)
        return study
    differs = [part for part in wanted if attrs["signature"].get(part) != json.loads(json.dumps(wanted[part]))]
    if differs:
        raise PipelineError(
            f"study {name!r}: it searched other {', '.join(p.replace('_', ' ') for p in differs)} than this "
            f"worker's (search.yaml, data/sources.yaml, params.yaml, --seeds); name a new study with --study, "
            "or join with the same files"
        )
    return study


@dataclass(frozen=True)
class TrialLink:
    """A training run's link to its trial: reports its validation accuracy, asks whether to stop."""

    storage: str
    study: str
    trial_id: int
    step_offset: int

    def environment(self) -> dict[str, str]:
        return {TRIAL_ENV: json.dumps(asdict(self))}


class TrialPrunedError(Exception):
    """The search's pruner stopped this trial."""


def link_from_environment() -> TrialLink | None:
    text = os.environ.get(TRIAL_ENV)
    if not text:
        return None
    try:
        return TrialLink(**json.loads(text))
    except (ValueError, TypeError) as error:
        raise PipelineError(f"${TRIAL_ENV}: not a search's trial ({first_line(error)}); unset it") from None


class TrialReporter:
    """Reports the validation accuracy at each quarter of a run of `epochs` epochs; raises TrialPrunedError
    when the study's pruner says so, recording where, for the search to read."""

    def __init__(self, link: TrialLink, epochs: int) -> None:
        optuna = optuna_quietly()

        self.link, self.epochs, self.reported = link, epochs, 0
        url = with_driver(link.storage)
        self._storage = optuna.storages.RDBStorage(url, engine_kwargs=_engine_options(url))
        study = optuna.load_study(study_name=link.study, storage=self._storage)
        study.pruner = make_pruner(int(study.user_attrs.get("pruner_startup_trials", 5)))
        self.trial = optuna.trial.Trial(study, link.trial_id)

    def epoch_done(self, epoch: int, validation_accuracy: float) -> None:
        quarter = math.floor(REPORTS_PER_RUN * (epoch + 1) / self.epochs)
        if quarter <= self.reported or math.isnan(validation_accuracy):
            return
        self.reported = quarter
        step = self.link.step_offset + quarter * STEPS_PER_RUN // REPORTS_PER_RUN
        self.trial.report(validation_accuracy, step)
        if quarter < REPORTS_PER_RUN and self.trial.should_prune():
            self._storage.set_trial_user_attr(self.link.trial_id, "pruned_at_step", step)
            raise TrialPrunedError(
                f"pruned at {quarter}/{REPORTS_PER_RUN} of its schedule (epoch {epoch + 1}): validation accuracy "
                f"{validation_accuracy:.4f} is below the median of earlier trials there"
            )
