"""User-facing problems and errors.

Every problem nifti2parquet reports names the file it is about and says what is wrong, in one line.
Problems are plain data so that a stage can collect *all* of them before deciding to stop, and so
that the CLI, the ``--json`` summary and the dataset card can all show the same list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
"""error: the file cannot be used; warning: used, but note this; info: left out on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input (a file, a table row, an option)."""

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "severity": self.severity}


class N2PError(Exception):
    """An error the user can act on: printed as one line (plus listed problems), exit non-zero."""

    exit_code = 2

    def __init__(self, message: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple:
        """Pickle with the problems (worker processes send errors to the parent)."""
        return (self.__class__, (self.message, self.problems))

    def lines(self) -> list[str]:
        """The message, then one line per problem."""
        return [self.message, *(f"  {p}" for p in self.problems)]


class InputError(N2PError):
    """The source (a table, a BIDS tree, an image file) cannot be built as given."""


class OptionError(N2PError):
    """An option or a combination of options is invalid."""


class OutputError(N2PError):
    """The output folder is in a state we must not touch (or cannot be written)."""


class VerifyError(N2PError):
    """A dataset failed verification."""

    exit_code = 1


def os_reason(exc: OSError) -> str:
    """What a failed file operation means, in plain words: 'permission denied', not
    "[Errno 13] Permission denied: '/a/path'" (the caller names the file)."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def cannot_read(exc: OSError) -> str:
    """The problem said of a file that could not be read, wherever that happens."""
    return f"cannot read: {os_reason(exc)}"


FILTERED = "filtered out"  # how a source words a file left out by the user's own filters


def is_filtered(problem: Problem) -> bool:
    """Left out by the user's filters (``--subject``...): counted, never listed on the card."""
    return problem.severity == "info" and problem.message.startswith(FILTERED)


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
