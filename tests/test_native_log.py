"""A command's stderr through lenet5/native_log.py's filter: TensorFlow's start-up notices dropped,
every other line kept, in order, and all of it out before the command has ended."""

from __future__ import annotations

import subprocess
import sys

from lenet5.native_log import NOISE
from tests.conftest import ROOT

# A command as the stages are (run_command), writing through file descriptor 2 as native code does.
COMMAND = """
import os, sys
from lenet5.errors import PipelineError, run_command

def main():
    os.write(2, b"before\\n")
    for line in sys.argv[1:]:
        os.write(2, line.encode() + b"\\n")
    os.write(2, b"E0000 something TensorFlow really wants said\\n")
    raise PipelineError("the last word")

run_command("demo", main)
"""


def test_noise_is_dropped_and_everything_else_kept_in_order() -> None:
    noise = [f"I0000 00:00:1.0 123 somefile.cc:1] {part.decode()} and more" for part in NOISE]
    done = subprocess.run([sys.executable, "-c", COMMAND, *noise], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "before",
        "E0000 something TensorFlow really wants said",
        "demo: error: the last word",
    ]


def test_the_filter_has_passed_everything_on_when_the_command_exits() -> None:
    """The command waits for its filter: a parent that reads only until the command exits (DVC
    running a stage) still sees its last line, and sees it before anything printed afterwards."""
    script = (
        f"import subprocess, sys; subprocess.run([sys.executable, '-c', {COMMAND!r}]); print('after', file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stderr.splitlines()[-2:] == ["demo: error: the last word", "after"]
