"""Where rows come from: a table of files, or a BIDS dataset; ``read_source`` picks one."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..common.errors import InputError
from ..common.rows import SourceRows
from ..common.storage import Storage, is_remote, join, local_path
from ..common.tables import TABLE_SUFFIXES, is_table
from .options import SourceOptions
from .table import read_table_source


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
    "SourceOptions",
    "check_source_exists",
    "read_source",
)
