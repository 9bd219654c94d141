"""How a source is read: which files it yields, how rows are laid out, how files are reached."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.storage import Storage

# The options that decide which files a source yields and how rows are laid out (everything in
# SourceOptions but how to reach the files). Build, inspect and verify take them alike, and the
# manifest records them.
SELECTION_FIELDS = (
    "image_columns",
    "rows",
    "derivatives",
    "subjects",
    "sessions",
    "datatypes",
    "suffixes",
    "tasks",
    "exclude_fields",
    "exclude_columns",
)


@dataclass(frozen=True)
class SourceOptions:
    """How to read a source. BIDS-only options are ignored for tables, and the other way round."""

    image_columns: tuple[str, ...] = ()
    rows: str = "auto"  # BIDS row layout: auto (session, or subject without sessions), session...
    derivatives: bool = True
    subjects: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    datatypes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    exclude_fields: tuple[str, ...] = ()  # sidecar JSON keys left out of the published metadata
    exclude_columns: tuple[str, ...] = ()  # table columns left out likewise
    storage: Storage = field(default_factory=Storage)
    threads: int = 16
