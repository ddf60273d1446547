"""A command's stderr through lenet5/native_log.py's filter: TensorFlow's start-up notices dropped,
every other line kept, in order, and all of it out before the command has ended."""

from __future__ import annotations

import random
import string
import subprocess
import sys
from pathlib import Path

from lenet5.native_log import NOISE
from tests.conftest import ROOT

# A command as the stages are (run_command), writing through file descriptor 2 as native code does.
COMMAND = """
import os, sys
from lenet5.errors import PipelineError
from lenet5.process import run_command

def main():
    os.write(2, b"before\\n")
    for path in sys.argv[1:]:  # a file of lines, written through file descriptor 2 as they are
        with open(path, "rb") as lines:
            for line in lines:
                os.write(2, line)
    raise PipelineError("the last word")

run_command("demo", main)
"""


def lines_that_must_pass() -> list[bytes]:
    """What a command may write besides the notices: TensorFlow's own warnings and errors, info lines
    from the same files as the notices, a traceback, blank lines, bytes that are not UTF-8, a
    100 kB line, lines that name a notice's words without being one, and 300 seeded random lines."""
    rng = random.Random(7)
    alphabet = string.printable.replace("\n", "").replace("\r", "").replace("\x0b", "").replace("\x0c", "")
    return [
        b"W0000 00:00:1.0 123 cpu_allocator_impl.cc:84] Allocation of 200 MB exceeds 10% of free system memory.",
        b"I0000 00:00:1.0 123 port.cc:153] some other notice from the file the oneDNN one comes from",
        b"E0000 00:00:1.0 123 something TensorFlow really wants said",
        b"Traceback (most recent call last):",
        b'  File "stages/train.py", line 1, in <module>',
        b"ValueError: oneDNN custom operation failed",  # a notice's words, cut differently
        b"",
        b"\xff\xfe not UTF-8 \x80",
        b"x" * 100_000,
        *("".join(rng.choices(alphabet, k=rng.randint(1, 200))).encode() for _ in range(300)),
    ]


def test_noise_is_dropped_and_every_other_line_kept_in_order(tmp_path: Path) -> None:
    keep = lines_that_must_pass()
    noise = [f"I0000 00:00:1.0 123 somefile.cc:1] {part.decode()} and more".encode() for part in NOISE]
    written = [line for pair in zip(keep, noise * (len(keep) // len(noise) + 1), strict=False) for line in pair]
    source = tmp_path / "lines"
    source.write_bytes(b"\n".join(written) + b"\n")
    done = subprocess.run([sys.executable, "-c", COMMAND, str(source)], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.split(b"\n") == [b"before", *keep, b"demo: error: the last word", b""]


def test_the_filter_has_passed_everything_on_when_the_command_exits() -> None:
    """The command waits for its filter: a parent that reads only until the command exits (DVC
    running a stage) still sees its last line, and sees it before anything printed afterwards."""
    script = (
        f"import subprocess, sys; subprocess.run([sys.executable, '-c', {COMMAND!r}]); print('after', file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stderr.splitlines()[-2:] == ["demo: error: the last word", "after"]
