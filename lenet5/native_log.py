"""TensorFlow's start-up notices kept out of a command's stderr; everything else on it let through.

TensorFlow's native code writes a few lines to file descriptor 2 on every run that ask nothing of
the user, and TF_CPP_MIN_LOG_LEVEL does not hide them in TF 2.21 (they come before its logging is
set up, or from code that does not read it). So each command's stderr goes through a small filter
process that drops exactly those lines (`NOISE`) and passes every other line on as it arrives:
TensorFlow's errors and warnings, Python's tracebacks, the commands' own messages.

A process, not a thread: if TensorFlow aborts the command, what it wrote last still gets through,
since the filter reads on until the pipe closes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

# Each line dropped, by a part of it, with where it comes from.
NOISE = (
    # absl, once per process, before TensorFlow's first log line of any level
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
    # tf.data in TF 2.21 sets an attribute its own MapDataset kernel does not declare: logged as an
    # error at every dataset Keras builds (each epoch), and harmless
    b"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition",
    # oneDNN's notice, wherever it is on (AVX-512 by default; AVX2 by lenet5/cpu.py): results stay deterministic
    b"oneDNN custom operations are on",
    # which instructions this build could use beyond the ones it does (two lines)
    b"cpu_feature_guard.cc",
    b"To enable the following instructions:",
    # the int8 converter's settings, printed by its C++ code on every conversion
    b"fully_quantize: 0, inference_type: 6",
)

# The filter: reads lines from its stdin (the command's stderr), writes on the ones that are not
# noise to its stdout (where the command's stderr went). `-S`: no site packages to import.
_FILTER = """
import os, sys
noise = {noise!r}
out = sys.stdout.fileno()
for line in sys.stdin.buffer:
    if not any(part in line for part in noise):
        os.write(out, line)
"""

_filter: subprocess.Popen[bytes] | None = None


def filter_native_stderr() -> None:
    """From here on, this process's stderr (file descriptor 2, native code's too) goes through the
    filter. Call it before TensorFlow is imported; `close_native_filter` at exit."""
    global _filter
    if _filter is not None:
        return
    sys.stderr.flush()
    # Its own session: a Ctrl-C meant for the command does not end the filter before the
    # command's last words ("interrupted after ...") have passed through it.
    _filter = subprocess.Popen(
        [sys.executable, "-S", "-c", _FILTER.format(noise=NOISE)],
        stdin=subprocess.PIPE,
        stdout=2,
        start_new_session=True,
    )
    assert _filter.stdin is not None
    os.dup2(_filter.stdin.fileno(), 2)
    _filter.stdin.close()  # fd 2 is now the pipe's only writer here


def close_native_filter(timeout: float = 5.0) -> None:
    """Let the filter pass on what is left and end, so nothing this process wrote arrives after it ends."""
    global _filter
    if _filter is None:
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # closes this process's end of the pipe: the filter reads to its end
    os.close(devnull)
    # A child process of ours may still hold the pipe: then the filter ends with it, not waited for.
    with contextlib.suppress(subprocess.TimeoutExpired):
        _filter.wait(timeout)
    _filter = None
