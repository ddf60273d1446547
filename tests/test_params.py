"""params.yaml validation: each bad value is refused with one line naming key, value and range."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stages.errors import PipelineError
from stages.params import load_section, read_params_file, validate_all
from tests.conftest import ROOT

DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_value(section: str, key: str, value: Any) -> dict[str, Any]:
    params = copy.deepcopy(DEFAULTS)
    params[section][key] = value
    return params


def test_project_params_are_valid() -> None:
    checked = validate_all(DEFAULTS)
    assert checked["train"]["epochs"] == DEFAULTS["train"]["epochs"]
    assert set(checked) == {"fetch", "prepare", "train", "evaluate", "plot"}


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "epochs", 0, "train.epochs: 0 is not allowed; expected an integer from 1 to 1000"),
        ("train", "epochs", -3, "train.epochs: -3 is not allowed"),
        ("train", "epochs", 2.5, "train.epochs: 2.5 is not allowed"),
        ("train", "epochs", True, "train.epochs: True is not allowed"),
        ("train", "batch_size", 0, "train.batch_size: 0 is not allowed"),
        ("train", "batch_size", 54001, "train.batch_size: 54001 is not allowed; expected at most the 54000"),
        ("prepare", "validation_size", 0, "prepare.validation_size: 0 is not allowed; expected a number in (0, 1)"),
        ("prepare", "validation_size", 1.0, "prepare.validation_size: 1.0 is not allowed"),
        ("prepare", "validation_size", "10%", "prepare.validation_size: '10%' is not allowed"),
        ("train", "optimizer", "adamax", "train.optimizer: 'adamax' is not allowed; expected one of adam, adamw"),
        ("train", "learning_rate", 0, "train.learning_rate: 0 is not allowed"),
        ("train", "learning_rate", float("nan"), "train.learning_rate: nan is not allowed"),
        ("train", "lr_schedule", "cosine", "train.lr_schedule: 'cosine' is not allowed"),
        ("train", "warmup_epochs", 20, "train.warmup_epochs: 20.0 is not allowed; expected fewer than train.epochs"),
        ("fetch", "mirrors", "https://x/", "fetch.mirrors: 'https://x/' is not allowed"),
        ("fetch", "mirrors", ["ftp://x/"], "fetch.mirrors: ['ftp://x/'] is not allowed"),
        ("plot", "dpi", 10, "plot.dpi: 10 is not allowed; expected an integer from 50 to 300"),
    ],
)
def test_bad_values_are_refused(section: str, key: str, value: Any, message: str) -> None:
    with pytest.raises(PipelineError) as error:
        validate_all(with_value(section, key, value))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_misspelled_key_suggests_the_right_one() -> None:
    params = copy.deepcopy(DEFAULTS)
    params["train"]["epoch"] = params["train"].pop("epochs")
    with pytest.raises(PipelineError, match=r"^train\.epoch: unknown key; did you mean train\.epochs\?$"):
        validate_all(params)


def test_unknown_section_and_missing_key() -> None:
    params = copy.deepcopy(DEFAULTS)
    params["trian"] = params.pop("train")
    with pytest.raises(PipelineError, match=r"^trian: unknown key; did you mean train\?$"):
        validate_all(params)
    params = copy.deepcopy(DEFAULTS)
    del params["train"]["seed"]
    with pytest.raises(PipelineError, match=r"^train\.seed: missing from params\.yaml$"):
        validate_all(params)


def test_sha256_values_must_be_hex_digests() -> None:
    params = copy.deepcopy(DEFAULTS)
    params["fetch"]["sha256"]["t10k-labels-idx1-ubyte"] = "abc"
    with pytest.raises(PipelineError, match=r"^fetch\.sha256\.t10k-labels-idx1-ubyte: 'abc' is not a lowercase hex"):
        validate_all(params)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="nope.yaml: not found"):
        read_params_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(PipelineError, match="bad.yaml: not valid YAML"):
        read_params_file(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(PipelineError, match="list.yaml: expected a mapping"):
        read_params_file(tmp_path / "list.yaml")


def test_load_section_reads_only_its_section(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"plot": DEFAULTS["plot"], "train": {"broken": 1}}))
    assert load_section("plot", path) == {"misclassified_max": 25, "dpi": 100}
    with pytest.raises(PipelineError, match="evaluate: section missing"):
        load_section("evaluate", path)
