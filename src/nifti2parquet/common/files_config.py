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

from collections.abc import Mapping, Sequence

import pyarrow as pa

# the names reading the config back needs, kept apart (re-exported here for the writers)
from .files_index import (  # noqa: F401
    FILES_CONFIG,
    INDEX_COLUMNS,
    REFERENCES,
    STORED_HERE,
    STORED_IN_ROWS,
)
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
    A file that names no other shares one empty tuple of references (read as an empty list).
    """
    by_path: dict[str, tuple] = {}
    refs = rows.references
    for _, _, image in rows.images():
        listed = _listed(refs.get(image.name))
        by_path[image.name] = (
            image.name, image.size, image_sha256[image.display], STORED_IN_ROWS, listed, None
        )  # fmt: skip
    for other, digest in zip(rows.other_files, other_sha256, strict=True):
        by_path[other.name] = _stored(other, digest, _listed(refs.get(other.name)))
    return SourceRows(
        source=rows.source,
        kind=rows.kind,
        columns=FILE_COLUMNS,
        rows=tuple(by_path[p] for p in sorted(by_path)),
        files_found=len(by_path),
        checked="deep",  # not images: no NIfTI check applies
    )


_NONE_LISTED: tuple[str, ...] = ()


def _listed(references: Sequence[str] | None) -> Sequence[str]:
    return list(references) if references else _NONE_LISTED


def stored_files(rows: SourceRows) -> list[FileRef]:
    """The files whose bytes the config's rows hold (every one that is not an image)."""
    return [row[CONTENT] for row in rows.rows if row[CONTENT] is not None]


def _stored(other: FileRef, digest: str, references: Sequence[str]) -> tuple:
    return (other.name, other.size, digest, STORED_HERE, references, other)
