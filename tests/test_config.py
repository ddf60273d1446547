"""params.yaml and data/sources.yaml: read as DVC reads YAML 1.2, every bad value reported at once."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lenet5.config import SECTIONS, TrainConfig, load_params
from lenet5.data.sources import load_sources
from lenet5.errors import PipelineError
from tests.conftest import ROOT, recipe_params
from tests.hostile import billion_laughs

DEFAULTS = recipe_params()  # a valid params.yaml, whatever the workspace's says


def write(tmp_path: Path, params: dict[str, Any]) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def with_value(tmp_path: Path, section: str, key: str, value: Any) -> Path:
    params = copy.deepcopy(DEFAULTS)
    params[section][key] = value
    return write(tmp_path, params)


def problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(PipelineError) as error:
        load_params(path)
    return error.value.problems


def test_project_params_are_valid_typed_and_frozen(tmp_path: Path) -> None:
    params = load_params(ROOT / "params.yaml")  # the committed file passes its own checks
    assert isinstance(params.train, TrainConfig)
    # Each value reaches its own field, typed: none of these is the project's default.
    changed = copy.deepcopy(DEFAULTS)
    changed["prepare"].update(seed=3)
    changed["train"].update(epochs=7, learning_rate=1, adam_betas=[0.8, 0.95], optimizer="sgd", warmup_epochs=0.25)
    changed["train"].update(seed=11, batch_size=64, threads=1)
    changed["plot"].update(dpi=72)
    loaded = load_params(write(tmp_path, changed))
    assert (loaded.prepare.seed, loaded.train.epochs, loaded.train.optimizer, loaded.plot.dpi) == (3, 7, "sgd", 72)
    assert (loaded.train.adam_betas, loaded.train.warmup_epochs) == ((0.8, 0.95), 0.25)
    assert loaded.train.learning_rate == 1.0 and isinstance(loaded.train.learning_rate, float)  # YAML's 1 is an int
    assert (loaded.train.seed, loaded.train.batch_size, loaded.train.threads) == (11, 64, 1)
    assert (params.train.seed, params.train.batch_size, params.train.threads) != (11, 64, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.epochs = 3  # type: ignore[misc]
    # The repository's data set, whichever it is: MNIST as published, or a user's own.
    sources = load_sources(ROOT / "data/sources.yaml")
    assert sorted(sources.files) == ["test_images", "test_labels", "train_images", "train_labels"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sources.name = "other"  # type: ignore[misc]
    if sources.name == "MNIST":  # as published: MNIST's sizes, its classes named by their digits
        assert sources.files["train_images"].size == 47_040_016 and sources.classes is None


@pytest.mark.parametrize("text", ["1e-3", "5E-4", ".001", "0.001"])
def test_yaml_1_2_numbers_are_numbers(tmp_path: Path, text: str) -> None:
    """PyYAML (YAML 1.1) reads `1e-3` as a string; DVC and this project read it as 0.001."""
    path = with_value(tmp_path, "train", "learning_rate", 0.5)
    path.write_text(path.read_text().replace("learning_rate: 0.5", f"learning_rate: {text}"))
    assert load_params(path).train.learning_rate == float(text)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "epochs", 0, "train.epochs: 0 is not allowed; expected auto or an integer from 1 to 1,000"),
        ("train", "epochs", "automatic", "train.epochs: 'automatic' is not allowed; expected auto or an integer"),
        ("train", "epochs", 2.5, "train.epochs: 2.5 is not allowed"),
        ("train", "epochs", True, "train.epochs: True is not allowed"),
        ("train", "batch_size", 0, "train.batch_size: 0 is not allowed; expected auto or an integer from 1"),
        ("prepare", "validation_size", 1.0, "prepare.validation_size: 1.0 is not allowed; expected a number in (0, 1)"),
        ("prepare", "validation_size", "10%", "prepare.validation_size: '10%' is not allowed"),
        ("train", "optimizer", "adamax", "train.optimizer: 'adamax' is not allowed; expected one of adam, adamw"),
        ("train", "learning_rate", float("nan"), "train.learning_rate: nan is not allowed"),
        ("train", "lr_schedule", "cosine", "train.lr_schedule: 'cosine' is not allowed"),
        (
            "train",
            "adam_betas",
            [0.9],
            "train.adam_betas: [0.9] is not allowed; expected a list of two numbers in [0, 1)",
        ),
        ("train", "adam_betas", [0.9, 1], "train.adam_betas: [0.9, 1] is not allowed; expected a number in [0, 1)"),
        ("train", "label_smoothing", 1, "train.label_smoothing: 1 is not allowed; expected a number in [0, 1)"),
        ("train", "distribute", "horovod", "train.distribute: 'horovod' is not allowed; expected one of none"),
        ("train", "backend", "torch", "train.backend: 'torch' is not allowed; expected one of tensorflow, jax"),
        ("plot", "dpi", 10, "plot.dpi: 10 is not allowed; expected an integer from 50 to 300"),
    ],
)
def test_bad_values_are_refused_with_their_line(
    tmp_path: Path, section: str, key: str, value: Any, message: str
) -> None:
    path = with_value(tmp_path, section, key, value)
    line = 1 + next(i for i, text in enumerate(path.read_text().splitlines()) if text.strip().startswith(f"{key}:"))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line}: {message}"), problem


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("distribute", "multi_worker", "train.distribute: multi_worker is not allowed with train.backend jax;"),
        ("threads", 2, "train.threads: 2 is not allowed with train.backend jax; expected 0"),
    ],
)
def test_what_jax_cannot_do_is_refused_with_its_line(tmp_path: Path, key: str, value: Any, message: str) -> None:
    params = copy.deepcopy(DEFAULTS)
    params["train"].update({"backend": "jax", key: value})
    path = write(tmp_path, params)
    line = 1 + next(i for i, text in enumerate(path.read_text().splitlines()) if text.strip().startswith(f"{key}:"))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line}: {message}"), problem
    params["train"]["backend"] = "tensorflow"  # the same values are fine on TensorFlow
    load_params(write(tmp_path, params))


def test_every_bad_value_is_reported_in_one_run(tmp_path: Path) -> None:
    params = copy.deepcopy(DEFAULTS)
    params["prepare"]["seed"] = -1
    params["train"]["epoch"] = params["train"].pop("epochs")
    params["train"]["batch_size"] = 0
    params["plot"]["dpi"] = "high"
    found = problems(write(tmp_path, params))
    assert len(found) == 4, found
    assert [p.split(": ", 2)[1] for p in found] == ["prepare.seed", "train.epoch", "train.batch_size", "plot.dpi"]
    assert f"{tmp_path}/params.yaml:" in found[0]
    assert found[1].endswith("train.epoch: unknown key; did you mean train.epochs?")  # and no "epochs: missing"


def test_unknown_section_and_missing_key(tmp_path: Path) -> None:
    params = copy.deepcopy(DEFAULTS)
    params["trian"] = params.pop("train")
    assert problems(write(tmp_path, params))[0].endswith("trian: unknown key; did you mean train?")
    params = copy.deepcopy(DEFAULTS)
    del params["train"]["seed"]
    assert problems(write(tmp_path, params)) == (f"{tmp_path}/params.yaml:4: train.seed: missing",)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="nope.yaml: not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: [unclosed\n")
    with pytest.raises(PipelineError, match=r"bad.yaml:3:1: not valid YAML \(expected ',' or ']'"):
        load_params(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(PipelineError, match="list.yaml: the file: expected a mapping with keys prepare, train, plot"):
        load_params(tmp_path / "list.yaml")


def test_hostile_yaml_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """Aliases that would expand to 10^9 strings, deep nesting, a huge file: each refused at once."""
    (tmp_path / "laughs.yaml").write_text(billion_laughs())
    with pytest.raises(PipelineError, match=r"laughs.yaml:1: YAML anchors and aliases are not allowed here"):
        load_params(tmp_path / "laughs.yaml")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(PipelineError, match=r"deep.yaml:1: nested deeper than 8 levels"):
        load_params(tmp_path / "deep.yaml")
    (tmp_path / "huge.yaml").write_text("# filler\n" * 100_000)
    with pytest.raises(PipelineError, match=r"huge.yaml: 900,000 bytes; a settings file may be at most 65,536"):
        load_params(tmp_path / "huge.yaml")


def test_sources_are_checked(tmp_path: Path) -> None:
    sources = yaml.safe_load((ROOT / "data/sources.yaml").read_text())
    sources["mirrors"] = ["ftp://x/"]
    sources["files"]["test_labels"]["sha256"] = "abc"
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(sources))
    with pytest.raises(PipelineError) as error:
        load_sources(path)
    assert [p.split(": ", 1)[1] for p in error.value.problems] == [
        "mirrors: ['ftp://x/'] is not allowed; expected a list of http(s):// or file:// base URLs",
        error.value.problems[1].split(": ", 1)[1],
    ]
    assert "expected test_labels.sha256 to be a lowercase hex SHA-256" in error.value.problems[1]


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["only"], "expected a list of 2 to 256 names"),
        (["a", "b", "a"], "expected every class name to be non-empty and different from the others"),
        ([f"c{i}" for i in range(257)], "expected a list of 2 to 256 names"),
        ("cats and dogs", "expected a list of 2 to 256 names"),
    ],
)
def test_class_names_are_checked(tmp_path: Path, classes: object, message: str) -> None:
    sources = yaml.safe_load((ROOT / "data/sources.yaml").read_text())
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(sources | {"classes": classes}))
    with pytest.raises(PipelineError, match=message):
        load_sources(path)
    path.write_text(yaml.safe_dump(sources | {"classes": ["cat", "dog", 3]}))
    assert load_sources(path).classes == ("cat", "dog", "3")


def params_comments(path: Path) -> dict[str, tuple[int, str | None]]:
    """Each setting of a params.yaml: its line and its end-of-line comment."""
    from ruamel.yaml import YAML

    document = YAML(typ="rt").load(path.read_text())
    found = {}
    for section, values in document.items():
        for key in values:
            comment = values.ca.items.get(key)
            text = comment[2].value.strip().removeprefix("#").strip() if comment and comment[2] else None
            found[f"{section}.{key}"] = (values.lc.key(key)[0] + 1, text)
    return found


def comment_differences(path: Path) -> list[str]:
    """One line per setting whose params.yaml comment is not its meaning in lenet5/config.py."""
    meanings = {
        f"{section}.{spec.name}": spec.metadata["meaning"]
        for section, cls in SECTIONS.items()
        for spec in dataclasses.fields(cls)
    }
    return [
        f"{path}:{line}: {key}: the comment {comment!r} is not lenet5/config.py's meaning {meanings[key]!r}; "
        "a setting is described once, there: copy it here"
        for key, (line, comment) in params_comments(path).items()
        if comment != meanings.get(key)
    ]


def test_each_setting_is_described_once_in_config_and_params_yaml_repeats_it() -> None:
    assert comment_differences(ROOT / "params.yaml") == []


def test_a_comment_that_drifts_from_its_meaning_is_named(tmp_path: Path) -> None:
    text = (ROOT / "params.yaml").read_text().replace("# resolution of the PNGs", "# how sharp the PNGs are")
    (tmp_path / "params.yaml").write_text(text)
    (line,) = comment_differences(tmp_path / "params.yaml")
    assert re.fullmatch(
        rf"{re.escape(str(tmp_path))}/params.yaml:\d+: plot.dpi: the comment 'how sharp the PNGs are' is "
        r"not lenet5/config.py's meaning 'resolution of the PNGs'; a setting is described once, there: copy it here",
        line,
    )
