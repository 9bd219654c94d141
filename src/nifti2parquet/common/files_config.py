"""The ``files`` config: every file of the dataset, and the bytes of those not in an image row.

The image rows hold each NIfTI image once, under its relative path. Everything else a dataset is
made of (BIDS: events.tsv, the sidecar JSONs as written, participants.tsv/json, README, CHANGES,
``.bidsignore``, physio, NIfTI files that fit no row...; a table source: the table itself) is
stored here, byte for byte, one row per file. The config is also the dataset's index: it lists the
images too (``stored`` = "data", no ``content``), so the sha256 of every file is published and
``export`` can check each file it writes, from the Hub as well as from a local build.

Each row also lists the files its file names (``references``: a BIDS sidecar's
``IntendedFor``/``AssociatedEmptyRoom``/``B0FieldSource`` targets, an events table's stimuli), so an
export of some subjects brings what their files need (``retrieval.references``).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

# the names reading the config back needs, kept apart (re-exported here for the writers)
from .files_index import (  # noqa: F401
    FILES_CONFIG,
    INDEX_COLUMNS,
    PLACE_COLUMNS,
    REFERENCES,
    STORED_HERE,
    STORED_IN_ROWS,
)
from .hashing import Sha256s
from .rows import Column, FileRef, SourceRows

FILE_COLUMNS = (
    Column("path", "value", pa.string(), "The file's path relative to the dataset's root"),
    Column("size", "value", pa.int64(), "Its size in bytes"),
    Column("sha256", "value", pa.string(), "The sha256 of its bytes"),
    Column(
        "stored",
        "value",
        pa.string(),
        "Where its bytes are: 'files' (in content) or 'data' (an image row, under this path)",
    ),
    Column(
        "image_shard",
        "value",
        pa.string(),
        "For an image: the shard under data/ whose row holds it (null for the other files)",
    ),
    Column("image_row", "value", pa.int64(), "For an image: its row in that shard, from 0"),
    Column("image_column", "value", pa.string(), "For an image: the column of the row holding it"),
    Column(
        "image_index",
        "value",
        pa.int64(),
        "For an image in a list of images: its position in the list, from 0",
    ),
    Column(
        "references",
        "value",
        pa.list_(pa.string()),
        "The files it names that a copy of it needs beside it (paths like path's)",
    ),
    Column("content", "file", None, "The file's bytes (null for images: they are in data/)"),
)
SHA256 = 2  # where a row holds its file's sha256
CONTENT = len(FILE_COLUMNS) - 1  # where a row holds its file's bytes (an FileRef, or None)


class ImagePlaces:
    """Every image's sha256 and where it is in ``data/`` (shard, row in the shard, column,
    position in a list cell), found by its ``display`` path.

    Kept in arrays, a position in them per image (shard and column names once each): the files
    config is written at a build's peak of memory, when a million files' places as tuples would
    be ~0.1 KB each.
    """

    __slots__ = ("_at", "_column", "_ids", "_index", "_names", "_row", "_shard", "sha256")

    def __init__(self) -> None:
        self._at: dict[str, int] = {}
        self._ids: dict[str, int] = {}  # shard and column names, each once, by name
        self._names: list[str] = []  # the same, by id
        self.sha256 = Sha256s()
        self._shard, self._column = array("I"), array("I")
        self._row, self._index = array("I"), array("i")  # index -1: a single image

    def add(
        self, display: str, sha256: str, shard: str, row: int, column: str, index: int | None
    ) -> None:
        self._at[display] = len(self._row)
        self.sha256.extend((sha256,))
        self._shard.append(self._name(shard))
        self._row.append(row)
        self._column.append(self._name(column))
        self._index.append(-1 if index is None else index)

    def _name(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = len(self._names)
            self._names.append(name)
        return self._ids[name]

    def at(self, display: str) -> int:
        """The image's position here (KeyError when it is not an image of the rows)."""
        return self._at[display]

    def keep_places_only(self) -> None:
        """Drop the paths' dictionary and the digests once the rows have theirs: the config's
        write keeps the places to its end, and needs neither."""
        self._at, self.sha256 = {}, Sha256s()

    def place(self, at: int) -> tuple[str, int, str, int | None]:
        """Shard, row in the shard, column and position in the list (None: a single image)."""
        index = self._index[at]
        names = self._names
        return (
            names[self._shard[at]],
            self._row[at],
            names[self._column[at]],
            None if index < 0 else index,
        )


def files_rows(rows: SourceRows, images: ImagePlaces, other_sha256: Sequence[str]) -> SourceRows:
    """The ``files`` config's rows, one per file in path order.

    ``images`` has each image's digest and place by its ``display`` (the path as its source
    names it); ``other_sha256`` is each other file's digest, in ``rows.other_files``' order (a
    list, not a mapping by URL: a URL string and a dictionary entry per file add up at a million
    files). The rows are a :class:`FileRows`: each row is made when it is read, not held.
    """
    listed = [image for _, _, image in rows.images()]
    files = listed + list(rows.other_files)
    if len(files) != len(listed) + len(other_sha256):
        raise ValueError("one sha256 per other file expected")
    order = sorted(range(len(files)), key=lambda i: files[i].name)
    # a path listed twice is one row, the last one listed (stable sort: the last of its run)
    last = len(order) - 1
    kept = [
        i for k, i in enumerate(order) if k == last or files[order[k + 1]].name != files[i].name
    ]
    del order
    places = array("i", (images.at(files[i].display) if i < len(listed) else -1 for i in kept))
    digests = Sha256s.from_hex(
        images.sha256[at] if at >= 0 else other_sha256[i - len(listed)]
        for i, at in zip(kept, places)
    )
    images.keep_places_only()
    table = FileRows([files[i] for i in kept], digests, places, images, rows.references)
    return SourceRows(
        source=rows.source,
        kind=rows.kind,
        columns=FILE_COLUMNS,
        rows=table,  # type: ignore[arg-type]  # a sequence of rows, like the tuple it stands for
        files_found=len(table),
        checked="deep",  # not images: no NIfTI check applies
    )


class FileRows(Sequence[tuple]):
    """The files config's rows, in path order, kept as a list of the files, their sha256 as
    32 bytes each (:class:`Sha256s`) and for each its position in the :class:`ImagePlaces`
    (-1: a file stored here, not an image); each row's tuple (and its digest's string) is made
    when it is read. A tuple per file held for the whole write was ~110 bytes of every file at
    the peak of a build of many small files, a digest's string ~120 more.

    A file that names no other shares one empty tuple of references (read as an empty list).
    A slice is a FileRows of that slice (a shard's rows, sent to a worker as they are).
    """

    __slots__ = ("_files", "_images", "_places", "_references", "_sha256")

    def __init__(
        self,
        files: list[FileRef],
        sha256: Sha256s,
        places: array,
        images: ImagePlaces,
        references: Mapping[str, Sequence[str]],
    ) -> None:
        self._files, self._sha256, self._places = files, sha256, places
        self._images, self._references = images, references

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            if index.indices(len(self)) == (0, len(self), 1):
                return self  # a whole files config in one shard: not a copy
            return FileRows(
                self._files[index],
                self._sha256[index],
                self._places[index],
                self._images,
                self._references,
            )
        return self._row(self._files[index], self._sha256[index], self._places[index])

    def __iter__(self) -> Iterator[tuple]:
        return map(self._row, self._files, iter(self._sha256), self._places)

    def __eq__(self, other: object) -> bool:
        """Equal to a sequence of the same rows (a tuple of them, as the rows once were)."""
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def column(self, index: int) -> list[Any] | pa.Array:
        """One column's cells, without a tuple per row; the sha256 as an Arrow array made from
        the digests' bytes (no string per row)."""
        if index == SHA256:
            return self._sha256.arrow()
        files, places = self._files, self._places
        if index < SHA256:  # path, size
            return [f.name if index == 0 else f.size for f in files]
        if index == SHA256 + 1:
            return [STORED_IN_ROWS if at >= 0 else STORED_HERE for at in places]
        if index < CONTENT - 1:  # where an image is
            k = index - SHA256 - 2
            return [self._images.place(at)[k] if at >= 0 else None for at in places]
        if index == CONTENT - 1:
            return [_listed(self._references.get(f.name)) for f in files]
        return [f if at < 0 else None for f, at in zip(files, places)]

    def _row(self, file: FileRef, sha256: str, at: int) -> tuple:
        listed = _listed(self._references.get(file.name))
        if at >= 0:
            return (
                file.name,
                file.size,
                sha256,
                STORED_IN_ROWS,
                *self._images.place(at),
                listed,
                None,
            )
        return (file.name, file.size, sha256, STORED_HERE, *_NOWHERE, listed, file)


_NONE_LISTED: tuple[str, ...] = ()
_NOWHERE = (None,) * len(PLACE_COLUMNS)  # a file stored here has no place in data/


def _listed(references: Sequence[str] | None) -> Sequence[str]:
    return list(references) if references else _NONE_LISTED


def stored_files(rows: SourceRows) -> list[FileRef]:
    """The files whose bytes the config's rows hold (every one that is not an image)."""
    return [row[CONTENT] for row in rows.rows if row[CONTENT] is not None]
