"""The CPU this runs on: its model, vector extensions and cores, and whether TensorFlow uses oneDNN.

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX-512's newer extensions
(VNNI, BF16, AMX). On an x86 CPU with AVX2 and no AVX-512, which most laptops and many cloud
machines are, it leaves them off, and there they train LeNet-5 2.5 times faster than TensorFlow's
own kernels (docs/performance.md). So on x86-64 with AVX2 this project turns them on, before
TensorFlow is imported; elsewhere it keeps TensorFlow's choice. `TF_ENABLE_ONEDNN_OPTS` set by the
user (0 or 1) always wins.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from functools import cache
from pathlib import Path

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
# The vector extensions worth naming, widest first: the first one the CPU has describes it.
EXTENSIONS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON"), ("neon", "NEON"))


@cache
def flags() -> frozenset[str]:
    """The CPU's feature flags, lower case: /proc/cpuinfo on Linux, sysctl on macOS, else none."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^(?:flags|Features)\s*:(.*)$", cpuinfo.read_text(errors="replace"), re.M)
        return frozenset(found[1].split()) if found else frozenset()
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return frozenset({"neon"})  # every Apple silicon CPU has it
    return frozenset()


def vector_extension() -> str:
    """The widest vector extension: AVX-512, AVX2, NEON, or "none known"."""
    return next((name for flag, name in EXTENSIONS if flag in flags()), "none known")


@cache
def model_name() -> str:
    """The CPU's model as the system names it (e.g. "AMD EPYC 7B13"), or the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(errors="replace"), re.M)
        if found:
            return found[1].strip()
    if platform.system() == "Darwin":
        with_sysctl = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        if with_sysctl.returncode == 0 and with_sysctl.stdout.strip():
            return with_sysctl.stdout.strip()
    return platform.processor() or platform.machine()


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def onednn_choice() -> str | None:
    """The value this project sets on this CPU: "1" on x86-64 with AVX2 and no AVX-512, else None."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    return "1" if x86 and vector_extension() == "AVX2" else None


def choose_onednn() -> None:
    """Set TF_ENABLE_ONEDNN_OPTS for this CPU unless the user set it. Before TensorFlow is imported."""
    choice = onednn_choice()
    if choice is not None:
        os.environ.setdefault(ONEDNN, choice)


def onednn_description() -> str:
    """How TensorFlow's oneDNN is set in this process, for the train stage's first line."""
    value = os.environ.get(ONEDNN)
    if value is None:
        return "oneDNN as TensorFlow decides for this CPU"
    if value == onednn_choice():
        return f"oneDNN on, chosen for x86-64 with AVX2 ({ONEDNN}=0 turns it off)"
    return f"oneDNN {'on' if value == '1' else 'off'} ({ONEDNN}={value})"


def describe() -> dict[str, object]:
    """This machine, as a measurement records it beside each result."""
    return {
        "cpu": model_name(),
        "vector_extension": vector_extension(),
        "cores": cores(),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        ONEDNN: os.environ.get(ONEDNN, "TensorFlow's default"),
    }
