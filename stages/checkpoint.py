"""Per-epoch training checkpoints, so a killed train stage resumes instead of starting over.

A checkpoint holds the model weights, the optimizer's state (its step count and moments) and the
history so far, in one file replaced atomically after every epoch. It carries a fingerprint of
the train params and the training data, and is used only by a run with the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from stages.atomic import atomic_path


def fingerprint(params: dict[str, Any], *arrays: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def save_checkpoint(
    path: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer, state: dict[str, Any]
) -> None:
    arrays = {f"model_{i}": w for i, w in enumerate(model.get_weights())}
    arrays |= {f"optimizer_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer.variables)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, state=np.array(json.dumps(state)), **arrays)


def load_checkpoint(
    path: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer, expected_fingerprint: str
) -> dict[str, Any] | None:
    """Restore model and optimizer from `path`; None if absent, unreadable or from other inputs."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except (OSError, ValueError):
        return None
    state = json.loads(str(arrays.pop("state")))
    if state.get("fingerprint") != expected_fingerprint:
        return None
    model.set_weights([arrays[f"model_{i}"] for i in range(len(model.weights))])
    optimizer.build(model.trainable_variables)
    for i, variable in enumerate(optimizer.variables):
        variable.assign(arrays[f"optimizer_{i}"])
    return state
