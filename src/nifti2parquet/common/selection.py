"""Which files of a dataset a command takes: ``--subject``, ``--session``, ``--datatype``,
``--suffix``, ``--task`` (a BIDS dataset) and ``--case`` (a segmentation dataset), each
repeatable and each a list of globs.

One type says it for every command that selects (build, inspect, verify's source reading, export,
the lazy reader) and for everything that shows a selection back (the card's example command, the
message naming an option that differs between array-job parts): the options are declared once,
from :data:`FILTERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from operator import attrgetter
from typing import Any


@dataclass(frozen=True)
class Filter:
    """One filter option: the field of :class:`Selection`, its flag and its help text."""

    field: str
    flag: str
    help: str


_EACH = "repeatable, globs allowed"
FILTERS = (
    Filter("subjects", "--subject", f"Only subjects whose label matches (01 or sub-01; {_EACH})."),
    Filter("sessions", "--session", f"Only sessions whose label matches (1 or ses-1; {_EACH})."),
    Filter("datatypes", "--datatype", f"Only these datatypes (anat, func, dwi...; {_EACH})."),
    Filter("suffixes", "--suffix", f"Only these suffixes (T1w, bold, dwi...; {_EACH})."),
    Filter("tasks", "--task", f"Only these tasks; images without a task are kept ({_EACH})."),
    Filter("cases", "--case", f"Only cases whose id matches (BRATS_001; {_EACH})."),
)
_GLOBS = attrgetter(*(f.field for f in FILTERS))  # every filter's globs, in one call


@dataclass(frozen=True)
class Selection:
    """The globs of each filter; empty: everything."""

    subjects: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    datatypes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        """True when anything is filtered (asked of every file of a tree, most often with no
        filter set: one call, not a walk over the dataclass's fields)."""
        return any(_GLOBS(self))

    @property
    def filters_participants(self) -> bool:
        """Subjects or sessions are filtered: participant-level tables keep only their rows."""
        return bool(self.subjects or self.sessions)

    def keeps_subject(self, label: str) -> bool:
        """``sub-01``, or ``01``, is selected."""
        return _matches(label, self.subjects, "sub-")

    def keeps_session(self, label: str) -> bool:
        return _matches(label, self.sessions, "ses-")

    def flags(self) -> list[str]:
        """``["--subject 01", "--task rest"]``: the selection as command-line options."""
        return [f"{f.flag} {value}" for f in FILTERS for value in getattr(self, f.field)]

    def to_record(self) -> dict[str, list[str]]:
        return {f.field: list(getattr(self, f.field)) for f in FILTERS}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Selection:
        return cls(**{f.field: tuple(data.get(f.field) or ()) for f in FILTERS})


FLAGS = {f.field: f.flag for f in FILTERS}


def _matches(label: str, patterns: tuple[str, ...], prefix: str) -> bool:
    """A label, with or without its prefix, against globs written with or without it."""
    if not patterns:
        return True
    label = label.strip().removeprefix(prefix)
    return any(fnmatchcase(label, p.removeprefix(prefix)) for p in patterns)
