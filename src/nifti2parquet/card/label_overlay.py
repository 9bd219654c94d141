"""A label column's preview: its label images drawn in colour over the images they label.

A label image alone is a few flat shapes; over its image, a reader sees what is segmented. The
rows say which columns are label columns and which image column each one labels
(:attr:`~nifti2parquet.common.rows.Column.overlays`); :func:`with_label_overlays` replaces the
plain picture of each such column by one drawn over its images, from the pairs
:func:`overlay_pairs` finds.

:func:`draw_overlay` is deliberately small (the slices through the most labelled voxels of up to
three pairs, each label value in its colour at half opacity, on the image windowed as the other
previews are): it stands in for the previews package's own overlay drawing, which takes the same
arguments (``output, split, column, pairs, storage``) and returns the same manifest record.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from typing import Any

from ..common.rows import FileRef, SourceRows
from ..common.storage import Storage
from ..shards.output import OutputFolder
from .previews import GAP, MAX_PANEL, load_volume, preview_path, representative, window

Pair = tuple[FileRef, FileRef]  # an image, and the label image drawn over it
ALPHA = 0.5
COLOURS = [  # one per label value (1, 2, 3...), cycling: distinct on grey
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
]


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
    """The previews' records, with each label column's drawn over its images."""
    pairs = overlay_pairs(rows)
    return tuple(
        draw_overlay(output, split, r["column"], pairs[r["column"]], storage)
        if pairs.get(r["column"])
        else r
        for r in records
    )


def draw_overlay(
    output: OutputFolder, split: str, column: str, pairs: Sequence[Pair], storage: Storage
) -> dict[str, Any]:
    """The picture of a label column over its images (up to three pairs, one row each),
    written; its manifest record (without a path when no pair could be drawn)."""
    rows, shown, notes = [], [], []
    by_label = {label.url: (image, label) for image, label in pairs}
    for label in representative([label for _, label in pairs]):
        image = by_label[label.url][0]
        try:
            rows.append(_panels(image, label, storage))
            shown.append(label.display)
        except Exception as exc:  # any failure to decode: a note, never a failed build
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            notes.append(f"{label.display} over {image.display}: cannot be drawn ({reason})")
    record: dict[str, Any] = {"column": column, "images": shown, "notes": notes}
    if rows:
        png, panels = _render(rows)
        path = preview_path(split, column)
        output.makedirs(path.rsplit("/", 1)[0])
        output.write_bytes_atomic(path, png)
        digest = hashlib.sha256(png).hexdigest()
        record.update(path=path, size=len(png), sha256=digest, panels=panels)
    return record


def _panels(image: FileRef, label: FileRef, storage: Storage) -> list[Any]:
    """Sagittal, coronal and axial slices through the most labelled voxels, coloured."""
    import numpy as np

    volume, labels = load_volume(image.url, storage), load_volume(label.url, storage)
    if volume.shape != labels.shape:
        raise ValueError(f"shapes differ: image {volume.shape}, label {labels.shape}")
    shade, values = window(volume), np.rint(labels).astype(np.int64)
    labelled = values > 0
    at = [
        int(np.argmax(labelled.sum(axis=tuple(a for a in range(3) if a != axis))))
        if labelled.any()
        else volume.shape[axis] // 2
        for axis in range(3)
    ]
    views = [(shade[at[0]], values[at[0]])]
    views += [(shade[:, at[1]], values[:, at[1]]), (shade[:, :, at[2]], values[:, :, at[2]])]
    stride = max(1, math.ceil(max(volume.shape) / MAX_PANEL))
    return [
        _colour(np.rot90(grey)[::stride, ::stride], np.rot90(value)[::stride, ::stride])
        for grey, value in views
    ]


def _colour(grey: Any, values: Any) -> Any:
    import numpy as np

    rgb = np.repeat(grey[..., None].astype(np.float32), 3, axis=2)
    for value in np.unique(values[values > 0]):
        colour = np.array(COLOURS[(int(value) - 1) % len(COLOURS)], np.float32)
        mask = values == value
        rgb[mask] = (1 - ALPHA) * rgb[mask] + ALPHA * colour
    return np.round(rgb).astype(np.uint8)


def _render(rows: list[list[Any]]) -> tuple[bytes, list[list[list[int]]]]:
    """One RGB PNG, a row of panels per pair; each panel's [left, top, width, height]."""
    import numpy as np
    from PIL import Image

    heights = [max(p.shape[0] for p in row) for row in rows]
    widths = [sum(p.shape[1] for p in row) + GAP * (len(row) - 1) for row in rows]
    canvas = np.zeros((sum(heights) + GAP * (len(rows) - 1), max(widths), 3), np.uint8)
    layout, top = [], 0
    for row, height in zip(rows, heights):
        left, boxes = 0, []
        for panel in row:
            h, w = panel.shape[:2]
            canvas[top : top + h, left : left + w] = panel
            boxes.append([left, top, w, h])
            left += w + GAP
        layout.append(boxes)
        top += height + GAP
    buffer = io.BytesIO()
    Image.fromarray(canvas, "RGB").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), layout
