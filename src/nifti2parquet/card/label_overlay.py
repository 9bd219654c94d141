"""A label column's preview: its label images drawn in colour over the images they label.

A label image alone is a few flat shapes; over its image, a reader sees what is segmented. The
rows say which columns are label columns and which image column each one labels
(:attr:`~nifti2parquet.common.rows.Column.overlays`); :func:`with_label_overlays` replaces the
plain picture of each such column by one drawn over its images, from the pairs
:func:`overlay_pairs` finds.

The drawing itself is the previews' (:func:`~nifti2parquet.card.previews.make_overlay_preview`:
the slices through the most labelled voxels, each label value in its colour over the image).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..common.rows import FileRef, SourceRows
from ..common.storage import Storage
from ..shards.output import OutputFolder

Pair = tuple[FileRef, FileRef]  # an image, and the label image drawn over it


def overlay_pairs(rows: SourceRows) -> dict[str, list[Pair]]:
    """For each label column, the (image, label) pairs of its rows, in row order (a row without
    either has no pair)."""
    names = [c.name for c in rows.columns]
    found: dict[str, list[Pair]] = {}
    for c, column in enumerate(rows.columns):
        if column.overlays is None or column.overlays not in names:
            continue
        image_at = names.index(column.overlays)
        pairs = [(row[image_at], row[c]) for row in rows.rows]
        found[column.name] = [p for p in pairs if isinstance(p[0], FileRef) and p[1] is not None]
    return found


def with_label_overlays(
    records: Sequence[dict[str, Any]],
    output: OutputFolder,
    rows: SourceRows,
    split: str,
    storage: Storage,
) -> tuple[dict[str, Any], ...]:
    """The previews' records (which leave label columns out), then each label column's, drawn
    over its images (the previews, and numpy, are imported only when there is one)."""
    found = {column: pairs for column, pairs in overlay_pairs(rows).items() if pairs}
    if not found:
        return tuple(records)
    from .previews import make_overlay_preview

    drawn = [
        make_overlay_preview(output, split, column, pairs, storage)
        for column, pairs in found.items()
    ]
    return (*records, *drawn)
