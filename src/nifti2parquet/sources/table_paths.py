"""A table source's images under the paths they are stored at; those ``--exclude`` leaves out.

The table's own path strings stay each image's ``display`` (how its author and ``verify --source``
find it); its ``name``, what the dataset stores and publishes, becomes the relative path
:func:`~nifti2parquet.common.stored_paths.stored_paths` gives it. ``--exclude`` patterns are
matched against those stored paths, as a BIDS build matches them against paths in its folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..common.errors import Problem
from ..common.path_patterns import ExcludePatterns
from ..common.rows import FileRef
from ..common.storage import basename
from ..common.stored_paths import StoredPaths, stored_paths

Refs = dict[tuple[int, str], list[FileRef]]  # (row, column) -> the images of that cell


def store_relative(
    table: str, folder: str, refs: Refs, columns: Sequence[str]
) -> tuple[Refs, StoredPaths]:
    """Every image renamed to its stored path, and the record of written -> stored."""
    stored = stored_paths(folder, sorted({ref.url for cell in refs.values() for ref in cell}))
    renamed = {
        key: [dataclasses.replace(ref, name=stored[ref.url]) for ref in cell]
        for key, cell in refs.items()
    }
    written = {ref.display: stored[ref.url] for cell in refs.values() for ref in cell}
    record = StoredPaths(basename(table), tuple(columns), tuple(sorted(written.items())))
    return renamed, record


def without_excluded(refs: Refs, patterns: ExcludePatterns) -> tuple[Refs, list[Problem]]:
    """The images the patterns keep, and one problem ("info") per image they leave out."""
    if not patterns:
        return refs, []
    kept: Refs = {}
    left: dict[str, Problem] = {}
    for key, cell in refs.items():
        kept[key] = []
        for ref in cell:
            reason = patterns.reason(ref.name)
            if reason:
                left.setdefault(ref.display, Problem(ref.display, reason, "info"))
            else:
                kept[key].append(ref)
    return kept, list(left.values())
