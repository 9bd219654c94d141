"""The rows a source produces: the plain data that flows from a source to the plan and the writer.

A source (a file table, a BIDS tree) turns into a :class:`SourceRows`: ordered columns, ordered rows
of cells, and an account of every file it found, including the ones it left out and why. Image cells
hold :class:`FileRef` (where to read the bytes and how big they are), never the bytes: bytes are
read by the writer, one row group at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import pyarrow as pa

from .errors import Problem
from .segmentation import SegmentationInfo
from .stored_paths import StoredPaths

# what a column's cells hold; ``file``: any file's bytes (the ``files`` config)
ColumnContent = Literal["image", "image_list", "file", "value"]


@dataclass(frozen=True, slots=True, eq=False)
class FileRef:
    """One file to embed: a NIfTI image, or any other file of the dataset (the ``files`` config).

    ``url`` is a local absolute path or an fsspec URL; ``name`` is what goes into the ``path`` field
    (the basename, as ``datasets`` writes it); ``display`` is how the user refers to the file (the
    path as written in their table, or relative to the BIDS root); ``version`` fingerprints the file
    as stat'ed (size + mtime, or an object store's ETag), so a resumed build notices changed inputs.
    Slotted: a source holds one per file, a million at a time.
    """

    url: str
    size: int
    name: str
    display: str
    version: str = ""

    def _key(self) -> tuple[str, int, str, str, str]:
        return (self.url, self.size, self.name, self.display, self.version)

    def __eq__(self, other: object) -> bool:
        """Equal by fields, whichever kind of reference (:class:`FileUnder` too)."""
        if not isinstance(other, FileRef):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[type[FileRef], tuple[str, int, str, str, str]]:
        """Pickled by its fields (to worker processes): slots, without a ``__dict__`` per file,
        and the same on every Python the project supports."""
        return FileRef, self._key()


def version_of(size: int, stamp: str | int) -> str:
    """A file's ``version``: a local file's stamp is its mtime in ns (``Storage.stat``)."""
    return f"{size}:{stamp}" if isinstance(stamp, int) else stamp


class FileUnder(FileRef):
    """A file of a folder source whose stored path is its path under the root: its ``url`` is
    the root's (one string shared by every file) joined with that path when asked, not a
    string per file (a BIDS tree of a million files holds a million of these).

    No slots of its own: the root's prefix sits in :class:`FileRef`'s ``url`` slot and the
    stamp in its ``version`` slot (each is read back through the base class's slot), so a
    file costs the five slots of a plain reference, not seven."""

    __slots__ = ()

    def __new__(cls, *args: Any, **fields: Any) -> FileRef:  # type: ignore[misc]
        """``dataclasses.replace`` calls the class with a FileRef's fields: a plain FileRef."""
        if "url" in fields:
            return FileRef(**fields)
        return super().__new__(cls)

    def __init__(self, prefix: str, size: int, rel: str, stamp: str | int = "") -> None:
        """``prefix``: the root with its separator (``/data/ds/``); ``rel``: the path under it,
        which is also the ``name`` and the ``display``; ``stamp``: the version, or a local
        file's mtime in ns (:func:`version_of`)."""
        _URL_SLOT.__set__(self, prefix)
        _VERSION_SLOT.__set__(self, stamp)
        for key, value in (("size", size), ("name", rel), ("display", rel)):
            object.__setattr__(self, key, value)

    @property
    def prefix(self) -> str:
        return _URL_SLOT.__get__(self)

    @property
    def stamp(self) -> str | int:
        return _VERSION_SLOT.__get__(self)

    @property  # type: ignore[override]
    def url(self) -> str:
        return self.prefix + self.name

    @property  # type: ignore[override]
    def version(self) -> str:
        return version_of(self.size, self.stamp)


# FileRef's own slots, which FileUnder's properties of the same names hide
_URL_SLOT: Any = FileRef.__dict__["url"]
_VERSION_SLOT: Any = FileRef.__dict__["version"]


class StructCell(tuple):
    """A struct value: its fields' values in the Arrow type's field order. Arrow reads a tuple
    as a struct as it reads a dict, and a tuple costs a third of a dict's memory: a source
    holds one per image (BIDS ``K_info``). Its own type so a size estimate can tell it from
    a list."""

    __slots__ = ()


@dataclass(frozen=True)
class Column:
    """One output column. Value columns carry their Arrow type; image columns have fixed types."""

    name: str
    content: ColumnContent
    arrow_type: pa.DataType | None = None
    description: str = ""
    describes: str | None = None  # the image column this value column is aligned with, if any
    # A label image column: the image column whose voxels it labels (previews draw it over that)
    overlays: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()  # the Parquet field's metadata (key, text)

    @property
    def is_image(self) -> bool:
        return self.content != "value"


@dataclass(frozen=True)
class ImageColumnSummary:
    """What one image column holds, for the card: counts, and what its images are."""

    column: str
    pipeline: str  # "" for raw data; a derivative pipeline's folder name
    suffix: str
    task: str
    datatypes: tuple[str, ...]
    rows: int  # rows holding at least one of its images
    files: int
    is_list: bool
    entities: tuple[str, ...] = ()  # what tells its images apart from the kind's others: space-T1w


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about the dataset as a whole, for the card: what the source says, with the
    user's words on top (``build --title``...), as the manifest records it."""

    title: str = ""
    license: str = ""
    authors: tuple[str, ...] = ()
    description: str = ""
    description_format: str = ""  # "markdown" or "text" when its file name says; "": by its look
    citation: str = ""
    doi: str = ""
    acknowledgements: str = ""
    references: tuple[str, ...] = ()
    bids_version: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # other fields worth showing: (label, text)
    license_name: str = ""  # a license the Hub has no identifier for
    year: str = ""  # for the BibTeX entry, only when the dataset says it (see year_source)
    year_source: str = ""  # where the year comes from: "CHANGES (1.0.4, 2020-12-18)"...
    example_subject: str = ""  # a subject label that exists, for the card's example commands
    layout: str = ""  # how rows are laid out (BIDS: session, subject or file); "" for a table
    image_columns: tuple[ImageColumnSummary, ...] = ()  # what each image column holds
    release: str = ""  # the release or version the dataset states
    segmentation: SegmentationInfo | None = None  # a segmentation dataset's channels and labels

    def to_record(self) -> dict[str, Any]:
        record = _json_ready(asdict(self))
        record["segmentation"] = self.segmentation.to_record() if self.segmentation else None
        return record

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> DatasetInfo:
        values = {k: _tuples(v) for k, v in data.items() if k in _INFO_FIELDS}
        values["image_columns"] = tuple(
            ImageColumnSummary(**_tuples_in(c)) for c in data.get("image_columns") or ()
        )
        segmentation = data.get("segmentation")
        values["segmentation"] = (
            SegmentationInfo.from_record(segmentation) if segmentation else None
        )
        return cls(**values)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    """JSON lists back into the tuples a frozen record holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _tuples_in(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _tuples(v) for k, v in data.items()}


_INFO_FIELDS = {f.name for f in fields(DatasetInfo)} - {"image_columns", "segmentation"}


@dataclass(frozen=True, slots=True)
class MetadataFile:
    """A small file whose content goes into the rows: a sidecar JSON, a table, a description.

    Kept so the privacy scan can name the file that holds a value (and, for a sidecar, the
    images it describes); the content itself is not kept here.
    """

    display: str  # as the user knows it (relative to the BIDS root, or the table as given)
    url: str
    # sidecar, a table of the dataset, its description; source: the table the rows are
    role: Literal["sidecar", "table", "description", "source"]
    describes: tuple[str, ...] = ()  # displays of the images it applies to (sidecars)


class MetadataUnder(MetadataFile):
    """A metadata file of a folder source at its path under the root: its ``url`` is the
    root's prefix (one string shared by every file) and that path, joined when asked. The
    prefix sits in :class:`MetadataFile`'s ``url`` slot (no slot of its own)."""

    __slots__ = ()

    def __new__(cls, *args: Any, **fields: Any) -> MetadataFile:  # type: ignore[misc]
        """``dataclasses.replace`` calls the class with the record's fields: a plain record."""
        if "url" in fields:
            return MetadataFile(**fields)
        return super().__new__(cls)

    def __init__(
        self,
        prefix: str,
        rel: str,
        role: Literal["sidecar", "table", "description", "source"],
        describes: tuple[str, ...] = (),
    ) -> None:
        _METADATA_URL_SLOT.__set__(self, prefix)
        for key, value in (("display", rel), ("role", role), ("describes", describes)):
            object.__setattr__(self, key, value)

    @property
    def prefix(self) -> str:
        return _METADATA_URL_SLOT.__get__(self)

    @property  # type: ignore[override]
    def url(self) -> str:
        return self.prefix + self.display

    def __eq__(self, other: object) -> bool:
        """Equal to the plain record it stands for."""
        if not isinstance(other, MetadataFile):
            return NotImplemented
        return _metadata_key(self) == _metadata_key(other)

    def __hash__(self) -> int:
        return hash(_metadata_key(self))

    def __reduce__(self) -> tuple[type[MetadataFile], tuple[Any, ...]]:
        """Pickled as the plain record it stands for."""
        return MetadataFile, _metadata_key(self)


_METADATA_URL_SLOT: Any = MetadataFile.__dict__["url"]  # hidden by MetadataUnder.url


def _metadata_key(m: MetadataFile) -> tuple[Any, ...]:
    return (m.display, m.url, m.role, m.describes)


@dataclass(frozen=True)
class SourceRows:
    """A source, read: columns, rows of cells, and the account of files found and left out.

    Cells: a value column holds a plain Python value (or None; a struct: a dict, or a
    :class:`StructCell` of its values in field order); an ``image`` column an FileRef or
    None (a missing image); an ``image_list`` column a tuple of FileRef (possibly empty) or None.
    """

    source: str
    kind: str  # the source kind that read it (``sources.registry``): shown, never branched on
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    info: DatasetInfo = field(default_factory=DatasetInfo)
    files_found: int = 0
    left_out: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    checked: Literal["cheap", "deep"] | None = None  # checks the source already ran on its images
    one_image_per_row: bool = False  # a row is its image (BIDS --rows file): no image, no row
    # In a one-image-per-row layout, the value column naming the image column each row's image
    # would have in the other layouts (BIDS: ``kind``); the card counts images by it.
    kind_column: str | None = None
    # Every file is in at most one cell (a BIDS crawl); a table may name one file in several
    # cells (a template, a mask), and each of them stores it.
    each_file_once: bool = False
    # Every other file of the dataset that is published (BIDS: events.tsv, sidecars, README...,
    # and NIfTI files that fit no row; a table: the table itself), stored in the ``files`` config.
    other_files: tuple[FileRef, ...] = ()
    metadata_files: tuple[MetadataFile, ...] = ()  # what the value columns were read from
    # Folders not read, each named once: version control, nifti2parquet builds (a BIDS folder)
    skipped: tuple[Problem, ...] = ()
    # What each file names (BIDS: IntendedFor, AssociatedEmptyRoom, B0FieldSource, stim_file):
    # stored path -> the stored paths it needs beside it, for a filtered export
    references: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A table source: its image paths as written and as stored (the copy of the table published
    # carries the stored ones)
    stored_paths: StoredPaths | None = None

    @property
    def image_columns(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.columns) if c.is_image)

    def images(self) -> Iterator[tuple[int, int, FileRef]]:
        """Every image, in row order: (row index, column index, image)."""
        image_columns = self.image_columns  # once, not per row
        for r, row in enumerate(self.rows):
            yield from ((r, c, img) for c, img in images_in_row(row, image_columns))

    def image_count(self) -> int:
        return sum(1 for _ in self.images())

    def image_bytes(self) -> int:
        return sum(img.size for _, _, img in self.images())

    def images_per_kind(self) -> dict[str, int]:
        """Images per value of the ``kind_column`` (empty without one)."""
        names = [c.name for c in self.columns]
        if self.kind_column not in names:
            return {}
        index = names.index(self.kind_column)
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[str(row[index])] = counts.get(str(row[index]), 0) + 1
        return counts

    def let_go_of_values(self) -> None:
        """Once every shard is written, set each value cell to None, in place: the values are in
        the shards, and what a build does after (the files config, the image list, the
        manifest, the previews) reads the image cells only (and the ``kind_column``, which the
        manifest counts by). A BIDS row's values (each image's metadata struct, sidecar text,
        bval, bvec, events) are most of its memory, and the files config's write is a build's
        peak. In place, since the previews' thread and the job hold this same object."""
        keep = [c.is_image or c.name == self.kind_column for c in self.columns]
        if all(keep):
            return
        lean = tuple(tuple(cell if k else None for cell, k in zip(row, keep)) for row in self.rows)
        object.__setattr__(self, "rows", lean)


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
