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

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

# the names reading the config back needs, kept apart (re-exported here for the writers)
from .files_index import (  # noqa: F401
    FILES_CONFIG,
    INDEX_COLUMNS,
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
        "references",
        "value",
        pa.list_(pa.string()),
        "The files it names that a copy of it needs beside it (paths like path's)",
    ),
    Column("content", "file", None, "The file's bytes (null for images: they are in data/)"),
)
SHA256 = 2  # where a row holds its file's sha256
CONTENT = len(FILE_COLUMNS) - 1  # where a row holds its file's bytes (an FileRef, or None)


def files_rows(
    rows: SourceRows, image_sha256: Mapping[str, str], other_sha256: Sequence[str]
) -> SourceRows:
    """The ``files`` config's rows, one per file in path order.

    ``image_sha256`` maps each image's ``display`` (the path as its source names it) to its
    digest; ``other_sha256`` is each other file's digest, in ``rows.other_files``' order (a list,
    not a mapping by URL: a URL string and a dictionary entry per file add up at a million files).
    The rows are a :class:`FileRows`: each row is made when it is read, not held.
    """
    images = [image for _, _, image in rows.images()]
    files = images + list(rows.other_files)
    if len(files) != len(images) + len(other_sha256):
        raise ValueError("one sha256 per other file expected")
    order = sorted(range(len(files)), key=lambda i: files[i].name)
    # a path listed twice is one row, the last one listed (stable sort: the last of its run)
    last = len(order) - 1
    kept = [
        i for k, i in enumerate(order) if k == last or files[order[k + 1]].name != files[i].name
    ]
    del order
    table = FileRows(
        [files[i] for i in kept],
        Sha256s.from_hex(
            image_sha256[files[i].display] if i < len(images) else other_sha256[i - len(images)]
            for i in kept
        ),
        bytes(i < len(images) for i in kept),
        rows.references,
    )
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
    32 bytes each (:class:`Sha256s`) and one byte per file (an image, stored in the rows, or a
    file stored here); each row's tuple (and its digest's string) is made when it is read. A
    tuple per file held for the whole write was ~110 bytes of every file at the peak of a build
    of many small files, a digest's string ~120 more.

    A file that names no other shares one empty tuple of references (read as an empty list).
    A slice is a FileRows of that slice (a shard's rows, sent to a worker as they are).
    """

    __slots__ = ("_files", "_in_rows", "_references", "_sha256")

    def __init__(
        self,
        files: list[FileRef],
        sha256: Sha256s,
        in_rows: bytes,
        references: Mapping[str, Sequence[str]],
    ) -> None:
        self._files, self._sha256, self._in_rows = files, sha256, in_rows
        self._references = references

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            if index.indices(len(self)) == (0, len(self), 1):
                return self  # a whole files config in one shard: not a copy
            return FileRows(
                self._files[index], self._sha256[index], self._in_rows[index], self._references
            )
        return self._row(self._files[index], self._sha256[index], self._in_rows[index])

    def __iter__(self) -> Iterator[tuple]:
        return map(self._row, self._files, iter(self._sha256), self._in_rows)

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
        return [row[index] for row in self]

    def _row(self, file: FileRef, sha256: str, in_rows: int) -> tuple:
        listed = _listed(self._references.get(file.name))
        if in_rows:
            return (file.name, file.size, sha256, STORED_IN_ROWS, listed, None)
        return (file.name, file.size, sha256, STORED_HERE, listed, file)


_NONE_LISTED: tuple[str, ...] = ()


def _listed(references: Sequence[str] | None) -> Sequence[str]:
    return list(references) if references else _NONE_LISTED


def stored_files(rows: SourceRows) -> list[FileRef]:
    """The files whose bytes the config's rows hold (every one that is not an image)."""
    return [row[CONTENT] for row in rows.rows if row[CONTENT] is not None]
