"""Where rows come from: a table of files, or a BIDS dataset; ``read_source`` picks one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..common.errors import InputError
from ..common.storage import Storage, is_remote, join, local_path
from ..common.rows import SourceRows
from .table import TABLE_SUFFIXES, is_table, read_table_source

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


def read_source(source: str, options: SourceOptions) -> SourceRows:
    """Read SOURCE (a table file or a BIDS folder, local or remote) into rows."""
    if is_table(source):
        return read_table_source(
            source, options.storage, options.image_columns, options.threads, options.exclude_columns
        )
    if _is_bids(source, options.storage):
        from .bids import read_bids_source

        return read_bids_source(source, options)
    if not is_remote(source) and not os.path.exists(local_path(source)):
        raise InputError(f"{source}: no such file or folder")
    raise InputError(
        f"{source}: not a table ({', '.join(TABLE_SUFFIXES)}) nor a BIDS dataset "
        f"(a folder with dataset_description.json)"
    )


def check_source_exists(source: str) -> None:
    """Refuse a local SOURCE that is not there, before anything is created for it (a remote one
    is found, or not, when it is read)."""
    if is_remote(source) or os.path.exists(local_path(source)):
        return
    what = "file" if is_table(source) else "file or folder"
    raise InputError(f"{source}: no such {what}")


def _is_bids(source: str, storage: Storage) -> bool:
    marker = join(source, "dataset_description.json")
    if not is_remote(source):
        return os.path.isfile(local_path(marker))
    fs, path = storage.filesystem(marker)
    return bool(fs.exists(path))


__all__: Sequence[str] = (
    "SELECTION_FIELDS",
    "SourceOptions",
    "check_source_exists",
    "read_source",
)
