"""LeNet-5's layers and parameter count, and model files that are byte-reproducible."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lenet5.errors import PipelineError
from lenet5.training.model import build_lenet5, load_model, predict_probabilities, save_model

# The published architecture (LeCun et al. 1998, as the Keras recipe builds it) at MNIST's ten
# classes: a test of the definition, not a second one. Each further class adds 84 weights and a bias.
LENET5_PARAMETERS = 61_706


def test_lenet5_layers_and_parameters() -> None:
    model = build_lenet5()
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [
        (28, 28, 1), (32, 32, 1), (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,), (120,), (84,), (10,)
    ]  # fmt: skip
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:2] == ["Rescaling", "ZeroPadding2D"]  # the recipe's preprocessing, inside the model
    assert kinds[2:] == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense", "Dense"]
    activations = [layer.activation.__name__ for layer in model.layers if hasattr(layer, "activation")]
    assert activations == ["relu", "relu", "relu", "relu", "softmax"]
    assert model.count_params() == LENET5_PARAMETERS == 61_706
    output = predict_probabilities(model, np.zeros((2, 28, 28), np.uint8))
    assert output.shape == (2, 10) and np.allclose(output.sum(axis=1), 1.0)


@pytest.mark.parametrize("classes", [2, 20, 47, 256])
def test_the_last_layer_follows_the_class_count_and_the_file_loads(tmp_path: Path, classes: int) -> None:
    model = build_lenet5(classes)
    assert model.count_params() == LENET5_PARAMETERS + (classes - 10) * 85
    assert predict_probabilities(model, np.zeros((3, 28, 28), np.uint8)).shape == (3, classes)
    save_model(model, tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").output_shape == (None, classes)


def test_model_scales_and_pads_raw_pixels() -> None:
    model = build_lenet5()
    pixels = np.full((1, 28, 28, 1), 255.0, np.float32)
    padded = model.get_layer("pad")(model.get_layer("scale")(pixels)).numpy()[0, :, :, 0]
    assert padded.shape == (32, 32) and padded[2:30, 2:30].min() == 1.0
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not padded[border].any()  # a two-pixel black frame, as in the recipe


def test_saved_model_is_byte_identical_and_loads(tmp_path: Path) -> None:
    model = build_lenet5()
    save_model(model, tmp_path / "a.keras")
    time.sleep(2.1)  # Keras stamps the save time into the archive: past the 2 s resolution of zip times
    twin = build_lenet5()  # and memory addresses of its objects into config.json
    twin.set_weights(model.get_weights())
    save_model(twin, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    loaded = load_model(tmp_path / "a.keras")
    for saved, original in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.keras", "b.keras"]


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="missing.keras: missing"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(PipelineError, match="junk.keras: damaged or not a Keras model"):
        load_model(tmp_path / "junk.keras")


def test_a_keras_file_holding_another_network_is_refused(tmp_path: Path) -> None:
    """A valid .keras archive of some other network (here 28x28 in, 5 classes out) is not LeNet-5's,
    even though LeNet-5 of 5 classes has the same input and output."""
    import keras

    inputs = keras.Input((28, 28, 1))
    other = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inputs)))
    other.save(tmp_path / "other.keras")
    expected = "other.keras: a Keras model, but not LeNet-5 taking 28x28 images"
    with pytest.raises(PipelineError, match=expected):
        load_model(tmp_path / "other.keras")


def test_the_guard_follows_the_one_definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_model accepts what build_lenet5 builds, and nothing else: a network of another shape is
    refused, and once the definition itself changes, the new network is the one accepted."""
    import keras

    import lenet5.training.model

    wider = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    save_model(wider, tmp_path / "other.keras")
    with pytest.raises(PipelineError, match="not LeNet-5"):
        load_model(tmp_path / "other.keras")
    original = lenet5.training.model.build_lenet5

    def with_a_hidden_layer_more(classes: int = 10, config: object = None) -> keras.Model:
        model = original(classes, config)
        layers = [keras.Input((28, 28, 1), name="pixels"), *model.layers[:-1]]
        layers += [
            keras.layers.Dense(32, activation="relu", name="fc3"),
            model.layers[-1].__class__.from_config(model.layers[-1].get_config()),
        ]
        return keras.Sequential(layers, name="lenet5")

    monkeypatch.setattr(lenet5.training.model, "build_lenet5", with_a_hidden_layer_more)
    save_model(with_a_hidden_layer_more(), tmp_path / "changed.keras")
    assert load_model(tmp_path / "changed.keras").count_params() != LENET5_PARAMETERS
    save_model(original(), tmp_path / "published.keras")
    with pytest.raises(PipelineError, match="not LeNet-5"):
        load_model(tmp_path / "published.keras")
