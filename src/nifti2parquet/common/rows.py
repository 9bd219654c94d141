"""The rows a source produces: the plain data that flows from a source to the plan and the writer.

A source (a file table, a BIDS tree) turns into a :class:`SourceRows`: ordered columns, ordered rows
of cells, and an account of every file it found, including the ones it left out and why. Image cells
hold :class:`FileRef` (where to read the bytes and how big they are), never the bytes: bytes are
read by the writer, one row group at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from .errors import Problem

ColumnKind = Literal["image", "image_list", "file", "value"]  # file: any file's bytes (``files``)


@dataclass(frozen=True)
class FileRef:
    """One file to embed: a NIfTI image, or any other file of the dataset (the ``files`` config).

    ``url`` is a local absolute path or an fsspec URL; ``name`` is what goes into the ``path`` field
    (the basename, as ``datasets`` writes it); ``display`` is how the user refers to the file (the
    path as written in their table, or relative to the BIDS root); ``version`` fingerprints the file
    as stat'ed (size + mtime, or an object store's ETag), so a resumed build notices changed inputs.
    """

    url: str
    size: int
    name: str
    display: str
    version: str = ""


@dataclass(frozen=True)
class Column:
    """One output column. Value columns carry their Arrow type; image columns have fixed types."""

    name: str
    kind: ColumnKind
    arrow_type: pa.DataType | None = None
    description: str = ""
    describes: str | None = None  # the image column this value column is aligned with, if any

    @property
    def is_image(self) -> bool:
        return self.kind != "value"


@dataclass(frozen=True)
class DatasetInfo:
    """What a source knows about the dataset as a whole (for the card)."""

    title: str = ""
    license: str = ""
    authors: tuple[str, ...] = ()
    description: str = ""
    citation: str = ""
    doi: str = ""
    acknowledgements: str = ""
    references: tuple[str, ...] = ()
    bids_version: str = ""
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MetadataFile:
    """A small file whose content goes into the rows: a sidecar JSON, a table, a description.

    Kept so the privacy scan can name the file that holds a value (and, for a sidecar, the
    images it describes); the content itself is not kept here.
    """

    display: str  # as the user knows it (relative to the BIDS root, or the table as given)
    url: str
    role: Literal["sidecar", "table", "description"]
    describes: tuple[str, ...] = ()  # displays of the images it applies to (sidecars)


@dataclass(frozen=True)
class SourceRows:
    """A source, read: columns, rows of cells, and the account of files found and left out.

    Cells: a value column holds a plain Python value (or None); an ``image`` column an FileRef or
    None (a missing image); an ``image_list`` column a tuple of FileRef (possibly empty) or None.
    """

    source: str
    kind: Literal["table", "bids"]
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    info: DatasetInfo = field(default_factory=DatasetInfo)
    files_found: int = 0
    left_out: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    checked: Literal["cheap", "deep"] | None = None  # checks the source already ran on its images
    one_image_per_row: bool = False  # a row is its image (BIDS --rows file): no image, no row
    # Every other file of the dataset that is published (BIDS: events.tsv, sidecars, README...,
    # and NIfTI files that fit no row; a table: the table itself), stored in the ``files`` config.
    other_files: tuple[FileRef, ...] = ()
    metadata_files: tuple[MetadataFile, ...] = ()  # what the value columns were read from

    @property
    def image_columns(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.columns) if c.is_image)

    def images(self) -> Iterator[tuple[int, int, FileRef]]:
        """Every image, in row order: (row index, column index, image)."""
        for r, row in enumerate(self.rows):
            yield from ((r, c, img) for c, img in images_in_row(row, self.image_columns))

    def image_count(self) -> int:
        return sum(1 for _ in self.images())

    def image_bytes(self) -> int:
        return sum(img.size for _, _, img in self.images())


def images_in_row(
    row: tuple[Any, ...], image_columns: tuple[int, ...]
) -> Iterator[tuple[int, FileRef]]:
    """The images of one row as (column index, image), in column order."""
    for c in image_columns:
        yield from ((c, img) for img in cell_images(row[c]))


def cell_images(cell: Any) -> tuple[FileRef, ...]:
    """The images of one image cell: none when missing, one, or a list's, in order."""
    if cell is None:
        return ()
    return (cell,) if isinstance(cell, FileRef) else tuple(cell)
