"""Every Keras callback of training: Ctrl-C at the end of an epoch, one progress line per epoch,
DVCLive's per-epoch logs, the search's per-epoch report, the checkpoint after every epoch, and the
weights training goes on from when the saved model is their moving average."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lenet5.files import atomic_path


class StopOnInterrupt(keras.callbacks.Callback):
    """Ctrl-C (SIGINT) during training stops it at the end of the current epoch, once that epoch is
    checkpointed and logged, with KeyboardInterrupt raised from here.

    Python's own handler raises KeyboardInterrupt wherever the main thread happens to be, and with
    most of an epoch spent in TensorFlow's runtime that can be inside code that does not let it
    through. While this is entered (`with`), the handler only takes note; the callback acts on it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _note(self, signum: int, frame: Any) -> None:
        self.requested = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.requested:
            raise KeyboardInterrupt


class Progress(keras.callbacks.Callback):
    """Prints one line per epoch and keeps each epoch's wall time (validation included)."""

    def __init__(self, epochs: int, prefix: str = "train") -> None:
        super().__init__()
        self.epochs, self.prefix = epochs, prefix
        self.seconds: list[float] = []
        self.replayed = 0  # epochs a resumed run had already done
        self._started: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._started is None and self.replayed:
            print(f"{self.prefix}: resuming from the checkpoint after epoch {self.replayed}", flush=True)
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._started is None:  # an epoch done before a resume, replayed: nothing to time or print
            self.replayed += 1
            return
        self.seconds.append(time.perf_counter() - self._started)
        row = logs or {}
        print(
            f"{self.prefix}: epoch {epoch + 1}/{self.epochs} loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
            f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f} ({self.seconds[-1]:.1f} s)",
            flush=True,
        )


class LiveLog(keras.callbacks.Callback):
    """Each epoch's logs into DVCLive, named as DVCLive's own Keras callback names them
    (`loss` -> train/loss, `val_loss` -> eval/loss). That callback imports TensorFlow; this one
    runs on any backend."""

    def __init__(self, live: Any) -> None:
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from dvclive.utils import standardize_metric_name

        for metric, value in (logs or {}).items():
            self.live.log_metric(standardize_metric_name(metric, "dvclive.keras"), value)
        self.live.next_step()


class ReportToSearch(keras.callbacks.Callback):
    """Each epoch's validation accuracy to the search's trial (lenet5/training/tuning.py), whose pruner may
    stop the run: then `TrialPrunedError` leaves `fit` and the stage fails, so DVC records no experiment."""

    def __init__(self, reporter: Any) -> None:
        super().__init__()
        self.reporter = reporter

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.reporter.epoch_done(epoch, float((logs or {}).get("val_accuracy", float("nan"))))


class TrainOnFromOwnWeights(keras.callbacks.Callback):
    """Keras's `fit` ends by copying the optimizer's averaged weights into the model: right at the end
    of a run, wrong after each of this project's one-epoch `fit` calls. This puts the weights
    training reached back, so the next epoch goes on from them; `fit` averages once, at the end."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.reached = self.model.get_weights()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.model.set_weights(self.reached)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state and history after every epoch, atomically, for exact resume."""

    def __init__(self, path: Path, run_id: str, history: list[dict[str, float]]) -> None:
        super().__init__()
        self.path, self.run_id, self.history = path, run_id, history

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        arrays = {f"model_{i}": w for i, w in enumerate(self.model.get_weights())}
        optimizer_variables = self.model.optimizer.variables
        arrays |= {f"optimizer_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer_variables)}
        state = {"fingerprint": self.run_id, "history": self.history}
        with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, state=np.array(json.dumps(state)), **arrays)
