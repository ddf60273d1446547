"""The training inputs of each epoch: the images in a seeded order, with each image's augmentation draws.

Plain NumPy arrays go to Keras's own data adapter for arrays, so the input path is the same on
every backend: TensorFlow slices the batches inside its graph, JAX takes them as they are. (A
Python generator of batches was 25-50% slower on TensorFlow: tf.data calls back into Python for
every batch while the training step holds the cores.) Each epoch's order and draws come from a
generator seeded by (train.seed, epoch), never from hidden state, so an epoch is the same whether
training ran straight through or resumed from a checkpoint, and on either backend. The images
stay uint8 until the model's first layer (lenet5/training/augment.py), which moves them by the draws;
labels become one-hot, as label smoothing needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet5.config import TrainConfig
from lenet5.data.splits import DEFAULT_CLASSES
from lenet5.training.augment import draw_count

Batch = tuple[dict[str, np.ndarray], np.ndarray]  # ({"pixels", "draws"}, one-hot targets)


def model_batch(
    images: np.ndarray, labels: np.ndarray, draws: np.ndarray | int, classes: int = DEFAULT_CLASSES
) -> Batch:
    """uint8 (N, 28, 28) images and digit labels -> the training model's inputs and one-hot targets.
    `draws`: each image's draws, or how many each takes, for rows of zeros (the images pass unchanged)."""
    draws = np.zeros((len(labels), draws), np.float32) if isinstance(draws, int) else draws
    return {"pixels": images[..., np.newaxis], "draws": draws}, np.eye(classes, dtype=np.float32)[labels]


def epoch_inputs(
    images: np.ndarray, labels: np.ndarray, config: TrainConfig, epoch: int, classes: int = DEFAULT_CLASSES
) -> Batch:
    """Epoch `epoch` (0-based) of training: every image once, shuffled, with its augmentation draws.

    Augmentation (when its shift, rotation or elastic strength is set) applies to all but the last
    `unaugmented_epochs` epochs: those fine-tune on the digits as the test set has them.
    """
    generator = np.random.default_rng((config.seed, epoch))
    order = generator.permutation(len(labels))
    augmenting = bool(config.augment_max_shift or config.augment_max_rotation or config.elastic_strength)
    draws: np.ndarray | int = draws_per_image(config)
    if augmenting and epoch < config.epochs - config.unaugmented_epochs:
        draws = generator.uniform(-1.0, 1.0, (len(labels), draws)).astype(np.float32)
    return model_batch(images[order], labels[order], draws, classes)


def epochs_dataset(
    images: np.ndarray, labels: np.ndarray, config: TrainConfig, first_epoch: int, classes: int = DEFAULT_CLASSES
) -> Any:
    """Epochs `first_epoch` to `config.epochs - 1` as one tf.data stream of batches, each epoch made
    by `epoch_inputs` when the stream reaches it and cut in batches as Keras cuts arrays (in order,
    the last batch short).

    One stream for the whole run lets one `fit` call train every epoch: building Keras's dataset
    from arrays again for each epoch cost about 0.1 s, most of the training time of a set of a
    few thousand images, which trains for hundreds of short epochs. TensorFlow only.
    """
    import tensorflow as tf

    def arrays(epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inputs, targets = epoch_inputs(images, labels, config, int(epoch), classes)
        return inputs["pixels"], inputs["draws"], targets

    def one_epoch(epoch: Any) -> Any:
        kinds = (tf.uint8, tf.float32, tf.float32)
        pixels, draws, targets = tf.numpy_function(arrays, [epoch], kinds, stateful=False)
        pixels.set_shape((None, *images.shape[1:], 1))
        draws.set_shape((None, draws_per_image(config)))
        targets.set_shape((None, classes))
        stream = tf.data.Dataset.from_tensor_slices(({"pixels": pixels, "draws": draws}, targets))
        return stream.batch(config.batch_size)

    return tf.data.Dataset.range(first_epoch, config.epochs).flat_map(one_epoch)


def draws_per_image(config: TrainConfig) -> int:
    return draw_count(config.elastic_strength, config.elastic_smoothness)
