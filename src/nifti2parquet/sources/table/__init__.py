"""A table of files as SOURCE: ``.csv``, ``.tsv``, ``.parquet`` or ``.jsonl``, one row per row.

This is the file table people already build by hand (``subject_id``, ``t1w`` = a path, ``bold`` =
several paths, ``age``...). Image columns are the ones whose values are all NIfTI paths (or named
with ``--image-column``); a cell holding several paths (a Parquet list, a JSON array in text
formats) makes the column ``List(Nifti())``. An empty cell is a missing image; an empty list stays
``[]``. Relative paths resolve against the table's folder. Every path the table names is accounted
for: it is in the output, or it is reported with the reason it is not. Images are stored under
relative paths, never the machine's own (:mod:`..table_paths`). The reading is in :mod:`.reader`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...common.tables import TABLE_SUFFIXES, is_table
from ..registry import SourceKind

if TYPE_CHECKING:
    from ...common.rows import SourceRows
    from ..options import SourceOptions

__all__ = ["KIND"]


def _read(source: str, options: SourceOptions) -> SourceRows:
    from .reader import read_table_source

    return read_table_source(
        source,
        options.storage,
        options.image_columns,
        options.threads,
        options.exclude_columns,
        options.exclude_patterns,
    )


# The kind alone: what reads a table is imported when it is used (see ``sources.bids``)
KIND = SourceKind(
    name="table",
    noun="table",
    label=f"a table of files ({', '.join(TABLE_SUFFIXES)})",
    recognises=lambda source, storage: is_table(source),
    read=_read,
    is_file=True,
)
