"""A command's life: its main() run with one-line errors and an exit status, its stderr filtered
of native libraries' noise, its end without Python's slow shutdown, and a watchdog for waits that
nothing else can interrupt."""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from lenet5.errors import PipelineError
from lenet5.native_log import close_native_filter, filter_native_stderr

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_PRUNED = 3  # the train stage, stopped by the search's pruner (lenet5/training/tuning.py)


def run_command(name: str, main: Callable[[], None]) -> None:
    """Run a command's main(); turn known failures into `name: error: ...` lines and an exit code.

    Its stderr goes through lenet5/native_log.py's filter; then it ends the process (see
    `end_process`): run_command is every command's whole life.
    """
    filter_native_stderr()
    code = 0
    try:
        main()
    except PipelineError as error:
        for problem in error.problems:
            print(f"{name}: error: {problem}", file=sys.stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{name}: interrupted; nothing half-written was kept", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except SystemExit as request:  # argparse's usage errors and --help, a command's own exit status
        if request.code is None or isinstance(request.code, int):
            code = request.code or 0
        else:  # as Python does with a message: print it, exit 1
            print(request.code, file=sys.stderr)
            code = 1
    end_process(code)


def end_process(code: int) -> NoReturn:
    """Exit with `code` once output is flushed and atexit handlers have run, skipping the rest of
    Python's shutdown: with TensorFlow loaded, freeing every module's objects takes 1.5-2 s of each
    stage (measured), and the operating system reclaims all of it at once anyway. Every file a
    command writes is closed (and renamed into place) before its main() returns.
    """
    atexit._run_exitfuncs()  # CPython's own shutdown calls this first, too
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`): nothing more reaches it
            stream.flush()
    close_native_filter()
    os._exit(code)


# A separate process: it runs however long the main one is stuck holding the interpreter lock.
_WATCHDOG = (
    "import os, sys, time; time.sleep(float(sys.argv[1])); print(sys.argv[3], file=sys.stderr); "
    "os.kill(int(sys.argv[2]), 9)"
)


@contextmanager
def kill_unless_done_within(seconds: float, problem: str) -> Iterator[None]:
    """Kills this process with `problem` as its one-line error if the block runs past `seconds`.

    For waits inside native code that neither time out, nor release Python's interpreter lock, nor
    let SIGTERM through (TensorFlow waiting for a cluster to form): no exception could be raised,
    so a watchdog process prints the line and ends this one with SIGKILL (exit status 137).
    """
    line = f"{Path(sys.argv[0]).stem}: error: {problem}"
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(seconds), str(os.getpid()), line])
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()
