"""One way for every stage to fail: a one-line message on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """An error the user can act on; its message names the bad value or file."""


EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main(); turn known failures into one line and an exit code."""
    try:
        main()
    except PipelineError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; nothing half-written was kept", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
