"""A lazy reader for ML users: rows and images of a built dataset, local or on the Hub, fetching
only the bytes of the images actually read.

``load_dataset`` downloads whole shards. For a few subjects of a large dataset, or to stream
images into a training loop, :func:`open_dataset` reads only footers and small columns up front;
each :class:`LazyImage` reads its own page when asked (one range request from the Hub) and checks it
against the sha256 the ``files`` config records::

    from nifti2parquet import ExportOptions, Selection, open_dataset
    ds = open_dataset(
        "user/brains", ExportOptions(Selection(subjects=("01", "02"), suffixes=("T1w",)))
    )
    for row in ds.rows():
        print(row.values["subject_id"], [img.nifti().shape for img in row.images()])

The filters are ``export``'s (and ``build``'s); a row is yielded when it holds a selected image,
with the images that are not selected left out of it (None, or missing from its list).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import InputError
from ..common.progress import Reporter
from ..common.units import count, format_size
from .catalog import DATA, Catalog, DatasetFile, split_shards
from .dataset import BuiltDataset, ExportOptions, open_built_dataset, read_index
from .readback import open_shard, path_locations


@dataclass(frozen=True)
class LazyImage:
    """One stored image: its path in the source tree and where its bytes are (not read yet)."""

    file: DatasetFile
    source: BuiltDataset = field(repr=False, compare=False)
    shape: tuple[int, ...] | None = field(default=None, compare=False)  # from its row, if read

    def __repr__(self) -> str:  # one line a person reads, not the page records behind it
        shape = f", shape {'x'.join(map(str, self.shape))}" if self.shape else ""
        return f"<LazyImage {self.path}: {format_size(self.size)}{shape}>"

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def size(self) -> int:
        return self.file.size

    @property
    def sha256(self) -> str:
        return self.file.sha256

    def read(self) -> bytes:
        """The image's file bytes, exactly as published, checked against the recorded sha256.

        Reads its value's byte range only (the page header, then the image), not the other
        images of a List(Nifti()) cell that share its page.
        """
        data = b"".join(self.source.stream(self.file))
        if hashlib.sha256(data).hexdigest() != self.file.sha256:
            raise InputError(f"{self.path}: the bytes read do not match the recorded sha256")
        return data

    def nifti(self) -> Any:
        """The image decoded by nibabel (NIfTI-1 or NIfTI-2, gzipped or not), from memory."""
        import nibabel

        data = self.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        version = nibabel.Nifti2Image if int.from_bytes(data[:4], "little") == 540 else None
        return (version or nibabel.Nifti1Image).from_bytes(data)


@dataclass(frozen=True)
class LazyRow:
    """One row of the image rows: its small columns, and its selected images (not read yet)."""

    index: int  # the row's number in the split
    values: dict[
        str, Any
    ]  # every column; image columns hold LazyImage, a list of LazyImage, or None

    def __repr__(self) -> str:
        small = [
            f"{k}={_short(v)}" for k, v in self.values.items() if isinstance(v, (str, int, float))
        ]
        columns = [k for k, v in self.values.items() if _holds_image(v)]
        images = count(len(self.images()), "image")
        shown = ", ".join(small[:_SHOWN]) + (", ..." if len(small) > _SHOWN else "")
        return f"<LazyRow {self.index}: {shown}; {images} in {', '.join(columns) or 'no column'}>"

    def images(self) -> list[LazyImage]:
        found: list[LazyImage] = []
        for value in self.values.values():
            if isinstance(value, LazyImage):
                found.append(value)
            elif isinstance(value, list):
                found += [v for v in value if isinstance(v, LazyImage)]
        return found


class LazyDataset:
    """A built dataset opened for lazy reading (see the module docstring)."""

    def __init__(self, source: str, options: ExportOptions | None = None) -> None:
        self.where = source
        self.options = options or ExportOptions()
        self.source = open_built_dataset(source, self.options)
        self.catalog: Catalog = read_index(self.source, self.options, Reporter())

    def __repr__(self) -> str:
        files = self.catalog.files
        images = sum(1 for f in files if f.location.leaf.column != "content")
        selected = f"{len(files):,} of {count(self.catalog.files_total, 'file')} selected"
        return (
            f"<LazyDataset {self.where} (split {self.source.split}): {selected}, "
            f"{count(images, 'image')} among them>"
        )

    @property
    def bytes_fetched(self) -> int:
        """Everything read from the source so far: indexes and images."""
        return self.source.counter.bytes

    def files(self) -> tuple[DatasetFile, ...]:
        """Every selected file of the dataset (images and the rest), with size and sha256."""
        return self.catalog.files

    def images(self) -> Iterator[LazyImage]:
        """Every selected image, in path order."""
        for file in self.catalog.files:
            if file.location.leaf.column != "content":
                yield LazyImage(file, self.source)

    def rows(self) -> Iterator[LazyRow]:
        """The rows holding a selected image, in order, with every small column."""
        selected = {f.path: f for f in self.catalog.files}
        first = 0
        for shard in split_shards(self.source.store, DATA, self.source.split):
            index = open_shard(self.source.store, shard, self.source.counter, lambda leaf: True)
            images = {}
            for path, location in path_locations(index):
                file = selected.get(path)
                if file is not None:
                    key = (location.row_group, location.leaf.column, location.row, location.index)
                    images[key] = LazyImage(file, self.source)
            for g, table in enumerate(index.groups):
                for r, values in enumerate(table.to_pylist()):
                    row = _with_images(values, index.blobs[g], images, g, r)
                    if row.images():
                        yield LazyRow(first + index.row_starts[g] + r, row.values)
            first += index.metadata.num_rows


def _with_images(
    values: dict[str, Any], blobs: dict[str, Any], images: dict[tuple, LazyImage], g: int, r: int
) -> LazyRow:
    """The row's values with each image cell's ``{path}`` replaced by its LazyImage (or None),
    which knows its shape when an ``_info`` cell of the row records it."""
    shapes = _shapes(values)
    for column in blobs:
        cell = values.get(column)
        if isinstance(cell, list):
            found = [images.get((g, column, r, k)) for k in range(len(cell))]
            values[column] = [_shaped(i, shapes) for i in found if i]
        elif cell is not None:
            found_one = images.get((g, column, r, 0))
            values[column] = _shaped(found_one, shapes) if found_one else None
    return LazyRow(-1, values)


def _shapes(values: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Each image's shape by its path, as the row's ``_info`` structs record it."""
    found = {}
    for value in values.values():
        for info in value if isinstance(value, list) else [value]:
            if isinstance(info, dict) and isinstance(info.get("path"), str) and info.get("shape"):
                found[info["path"]] = tuple(info["shape"])
    return found


def _shaped(image: LazyImage, shapes: dict[str, tuple[int, ...]]) -> LazyImage:
    shape = shapes.get(image.path)
    return dataclasses.replace(image, shape=shape) if shape else image


_SHOWN = 4  # small values a row's repr shows


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _holds_image(value: Any) -> bool:
    return isinstance(value, LazyImage) or (
        isinstance(value, list) and any(isinstance(v, LazyImage) for v in value)
    )


def open_dataset(source: str, options: ExportOptions | None = None) -> LazyDataset:
    """Open the dataset at SOURCE (an OUTPUT_DIR or a Hub repo id) for lazy reading."""
    return LazyDataset(source, options)
