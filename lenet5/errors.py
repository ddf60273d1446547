"""One way for every command to fail: one line per problem on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """An error the user can act on; each of its lines names the bad value or file."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def run_command(name: str, main: Callable[[], None]) -> None:
    """Run a command's main(); turn known failures into `name: error: ...` lines and an exit code."""
    try:
        main()
    except PipelineError as error:
        for problem in error.problems:
            print(f"{name}: error: {problem}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; nothing half-written was kept", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
