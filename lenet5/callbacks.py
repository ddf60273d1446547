"""Keras callbacks of the train stage: Ctrl-C at the end of an epoch, one progress line per epoch, and
DVCLive's per-epoch logs."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import keras


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
    """Each epoch's validation accuracy to the search's trial (lenet5/search.py), whose pruner may
    stop the run: then `TrialPrunedError` leaves `fit` and the stage fails, so DVC records no experiment."""

    def __init__(self, reporter: Any) -> None:
        super().__init__()
        self.reporter = reporter

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.reporter.epoch_done(epoch, float((logs or {}).get("val_accuracy", float("nan"))))
