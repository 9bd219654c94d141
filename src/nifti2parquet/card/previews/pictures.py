"""One picture per image column: which images, drawn how, and written where.

Drawing (reading a few images, resampling, composing the PNG in memory) is apart from writing
(the PNGs into the output, and their records), so a build can draw while it writes its shards,
on a thread of its own (``PreviewDrawing``): the drawing reads a few small files and renders a
few pictures, mostly in C code that lets the shards' copy and hashing run on. Nothing is written
to the output until the build finishes, so a failed build leaves no picture behind.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ...common.rows import FileRef, SourceRows
from ...common.storage import Storage
from ...shards.output import OutputFolder
from .choosing import candidates, distinct, within_budget
from .composition import Row, compose, describe, image_row, overlay_row
from .shading import is_label_image
from .slices import most_labelled, read_planes

PREVIEWS = "previews"
Item = TypeVar("Item")


@dataclass(frozen=True)
class Picture:
    """A column's picture, drawn but not written: the images shown (one per row), a note per
    image that could not be drawn, and the PNG with each view's place in it (None: nothing
    could be drawn)."""

    column: str
    shown: tuple[str, ...]
    notes: tuple[str, ...]
    png: bytes | None = None
    panels: tuple[Any, ...] = ()


def preview_path(split: str, column: str) -> str:
    return f"{PREVIEWS}/{split}/{re.sub(r'[^A-Za-z0-9._-]+', '_', column)}.png"


def make_previews(
    output: OutputFolder, rows: SourceRows, split: str, storage: Storage
) -> tuple[dict[str, Any], ...]:
    """Write one PNG per image column; return the manifest's records (one per column, with a
    ``note`` and no ``path`` when nothing could be drawn)."""
    return write_pictures(output, split, draw_previews(rows, storage))


def draw_previews(rows: SourceRows, storage: Storage) -> list[Picture]:
    """The picture of every image column of ``rows`` that has an image."""
    per_column: dict[int, list[FileRef]] = {c: [] for c in rows.image_columns}
    for _, c, image in rows.images():  # one pass over the rows, whatever the columns
        per_column[c].append(image)
    drawn = {  # a label column is drawn over its image
        c: distinct(images, _url)
        for c, images in per_column.items()
        if images and rows.columns[c].overlays is None
    }
    total = sum(image.size for images in drawn.values() for image in images)
    choices = within_budget([candidates(images, _size) for images in drawn.values()], _size, total)
    pictures = []
    for c, parts in zip(drawn, choices):
        column = rows.columns[c].name
        pictures.append(draw_column(column, parts, _drawer(column, storage), _display))
    return pictures


def _drawer(column: str, storage: Storage) -> Callable[[FileRef], Row]:
    def draw(image: FileRef) -> Row:
        planes = read_planes(image.url, storage)
        caption = f"{column}: {image.display}   {describe(planes)}"
        return image_row(planes, caption, is_label_image(planes, column, image.display))

    return draw


def make_overlay_preview(
    output: OutputFolder,
    split: str,
    column: str,
    pairs: Sequence[tuple[FileRef, FileRef]],
    storage: Storage,
) -> dict[str, Any]:
    """The picture of a label column drawn over its images (``pairs`` of an image and its
    labels, in row order, on one voxel grid), written; its manifest record. The slices shown
    are those holding the most labelled voxels (the middle ones when a label image is empty)."""

    def draw(pair: tuple[FileRef, FileRef]) -> Row:
        at = most_labelled(pair[1].url, storage)
        image, labels = (read_planes(ref.url, storage, at) for ref in pair)
        where = "most labelled slices" if at else "middle slices"
        caption = f"{column}: {pair[1].display} over {pair[0].display}, {where}   "
        return overlay_row(image, labels, caption + describe(image))

    choices = candidates(distinct(pairs, lambda p: (p[0].url, p[1].url)), _pair_size)
    picture = draw_column(column, choices, draw, lambda p: p[1].display)
    return write_pictures(output, split, [picture])[0]


def draw_column(
    column: str,
    choices: Sequence[Sequence[Item]],
    draw: Callable[[Item], Row],
    display: Callable[[Item], str],
) -> Picture:
    """Draw the first item of each part of ``choices`` that can be drawn, as one picture."""
    drawn, shown, notes = [], [], []
    for part in choices:
        for item in part:
            try:
                drawn.append(draw(item))
            except Exception as exc:  # any failure to decode: a note, never a failed build
                notes.append(f"{display(item)}: cannot be decoded for a preview ({_plain(exc)})")
                continue
            shown.append(display(item))
            break
    if not drawn:
        return Picture(column, tuple(shown), tuple(notes))
    png, panels = compose(drawn)
    return Picture(column, tuple(shown), tuple(notes), png, tuple(panels))


def write_pictures(
    output: OutputFolder, split: str, pictures: Sequence[Picture]
) -> tuple[dict[str, Any], ...]:
    """Write the PNGs; the manifest's records."""
    records = []
    for picture in pictures:
        record: dict[str, Any] = {
            "column": picture.column,
            "images": list(picture.shown),
            "notes": list(picture.notes),
        }
        if picture.png is not None:
            path = preview_path(split, picture.column)
            output.makedirs(path.rsplit("/", 1)[0])
            output.write_bytes_atomic(path, picture.png)
            record.update(
                path=path,
                size=len(picture.png),
                sha256=hashlib.sha256(picture.png).hexdigest(),
                panels=list(picture.panels),
            )
        records.append(record)
    return tuple(records)


class PreviewDrawing:
    """The previews of ``rows``, drawn on a thread started now; ``records`` writes them.

    A build starts it before writing its shards, so the few MB of images a preview reads are
    read and drawn while the shards are copied. (Not at a lower priority: on a busy machine the
    build would then wait for its own previews at the end.)"""

    def __init__(self, rows: SourceRows, storage: Storage) -> None:
        self.rows, self.storage = rows, storage
        self._pictures: list[Picture] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._draw, name="n2p-previews", daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        try:
            self._pictures = draw_previews(self.rows, self.storage)
        except BaseException as exc:  # handed to the build's own thread by records()
            self._error = exc

    def records(
        self, output: OutputFolder, rows: SourceRows, split: str
    ) -> tuple[dict[str, Any], ...]:
        """Wait for the drawing and write it. Rows that changed since (a file left out after
        its shard failed) are drawn again, here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if rows is not self.rows or self._pictures is None:
            return make_previews(output, rows, split, self.storage)
        return write_pictures(output, split, self._pictures)


def _url(image: FileRef) -> str:
    return image.url


def _size(image: FileRef) -> int:
    return image.size


def _display(image: FileRef) -> str:
    return image.display


def _pair_size(pair: tuple[FileRef, FileRef]) -> int:
    return pair[0].size + pair[1].size


def _plain(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
