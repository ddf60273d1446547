"""The error a user can act on: one line per problem, each naming the bad value or file and what
to do. How a command turns it into lines on stderr and an exit status: lenet5/process.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class PipelineError(Exception):
    """An error the user can act on; each of its lines names the bad value or file."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def first_line(error: BaseException) -> str:
    """An exception from a library, as one short line: its first line, or its type if it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


@contextmanager
def hint_on_error(hint: str) -> Iterator[None]:
    """Add `hint` (what to do about it) to every line of a PipelineError raised in the block."""
    try:
        yield
    except PipelineError as error:
        raise PipelineError(*(f"{problem}; {hint}" for problem in error.problems)) from None
