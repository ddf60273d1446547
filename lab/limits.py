"""Hostile input, refused: how long each refusal takes and how much memory, measured.

docs/reliability.md promises that what comes from outside the repository is read in bounded
memory and time. The tests check that each hostile file is refused, with the right message, under
a memory cap; this measures what the refusal costs, each case in its own Python process from
start to exit (start-up included), the way a stage or `lenet5-predict` meets the file: the seconds
it ran and its peak resident memory, the process's own high-water mark (Linux's /proc).

    python -m lab.limits [--out lab/results/limits.json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lenet5.errors import PipelineError
from lenet5.files import write_json
from lenet5.process import run_command
from tests.hostile import BOMB_GIGABYTES, billion_laughs, gzip_bomb, idx_header_claiming_4_billion, png_of_size

ROOT = Path(__file__).resolve().parent.parent
BOMB_TARGET = "train-images-idx3-ubyte"  # the bomb poses as it; data/sources.yaml gives its real size


# (name, file name, how to write it, the library call that meets it, as Python taking the path)
CASES: tuple[tuple[str, str, Callable[[Path], None], str], ...] = (
    (
        f"an IDX gzip of {BOMB_GIGABYTES} GB of zeros as train-images (decompression)",
        f"{BOMB_TARGET}.gz",
        gzip_bomb,
        "from lenet5.data.idx import gunzip_digest; from lenet5.data.sources import load_sources; "
        f"gunzip_digest(PATH, load_sources(Path({str(ROOT / 'data/sources.yaml')!r})).files['train_images'].size, "
        "PATH.name)",
    ),
    (
        "an IDX header claiming 4,294,967,295 images",
        f"{BOMB_TARGET}.gz",
        idx_header_claiming_4_billion,
        "from lenet5.data.idx import load_images; from lenet5.data.sources import load_sources; "
        f"load_images(PATH, load_sources(Path({str(ROOT / 'data/sources.yaml')!r})).files['train_images'].size)",
    ),
    (
        "a PNG of 20000x20000 pixels (lenet5-predict)",
        "huge.png",
        lambda path: path.write_bytes(png_of_size(20_000, 20_000)),
        "from lenet5.serving.digits import read_digit; read_digit(PATH)",
    ),
    (
        "a PNG of 60000x60000 pixels (lenet5-predict)",
        "huger.png",
        lambda path: path.write_bytes(png_of_size(60_000, 60_000)),
        "from lenet5.serving.digits import read_digit; read_digit(PATH)",
    ),
    (
        "a params.yaml of nested aliases (billion laughs)",
        "params.yaml",
        lambda path: path.write_text(billion_laughs()),
        "from lenet5.config import load_params; load_params(PATH)",
    ),
)


def measure(call: str, path: Path) -> dict[str, object]:
    """Run `call` on `path` in a fresh Python; it must raise PipelineError. Seconds, peak RSS, message.

    The peak is the process's own high-water mark (VmHWM in Linux's /proc/self/status, read as it
    exits): the ru_maxrss wait4 gives for a child also counts the parent it was forked from.
    """
    program = (
        "import sys; from pathlib import Path; from lenet5.errors import PipelineError\n"
        f"PATH = Path({path.name!r})\n"
        "def peak():\n"
        "    try:\n"
        "        return int(Path('/proc/self/status').read_text().split('VmHWM:')[1].split()[0])\n"
        "    except OSError:  # no /proc (macOS): the process's own peak, in bytes there\n"
        "        import resource; return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
        f"try:\n    {call}\nexcept PipelineError as error:\n"
        "    print(peak(), file=sys.stderr); print(error, file=sys.stderr); sys.exit(2)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    # Run beside the file, so that the message names it as a user would have (no temporary folder).
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, env=env, text=True, cwd=path.parent)
    seconds = time.monotonic() - started
    if done.returncode != 2:
        raise PipelineError(f"{path.name}: not refused (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    peak_kb, message = done.stderr.strip().split("\n", 1)
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(int(peak_kb) / 1024, 1), "message": message}


def main() -> None:
    from lenet5.cpu import describe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the measurements to this JSON file")
    args = parser.parse_args()
    cases = []
    with tempfile.TemporaryDirectory() as folder:
        for name, filename, write, call in CASES:
            path = Path(folder) / filename
            write(path)
            found = {"case": name, "bytes": path.stat().st_size, **measure(call, path)}
            path.unlink()
            print(f"{name}: {found['bytes']:,} bytes, refused in {found['seconds']} s at {found['peak_rss_mb']} MB")
            cases.append(found)
    if args.out:
        write_json(args.out, {"machine": describe(), "cases": cases})


if __name__ == "__main__":
    run_command("lab", main)
