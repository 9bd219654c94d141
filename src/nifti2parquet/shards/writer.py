"""The shard writer: one planned shard from its rows to a complete Parquet file.

Two parts make a shard. pyarrow encodes everything small: the value columns, the image names, the
schema and the footer, from the shard's rows with an empty placeholder where each image's bytes go
(the placeholders have the images' exact nullness, so every level, count and histogram is already
right), into a file beside the shard (its "skeleton", one row group's table at a time). Then the
shard is assembled in one sequential pass: pyarrow's column chunks are copied over as they are,
and each NIfTI ``bytes`` chunk is replaced by pages we frame ourselves (``pages``), whose image
bytes are read from the files straight into the shard's write blocks (``transfer``, ``blocks``);
the footer and the page index are pyarrow's, with offsets moved and the replaced chunks' sizes
put in.

So image bytes are never in Arrow's memory nor in Python objects: peak memory is the interpreter,
one row group's small columns and a few 8 MiB blocks, whatever the size of the images, and every
byte is read once, hashed once for the manifest and once for the shard, and written to disk, all
at once on separate threads.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..common.files_config import FileRows
from ..common.hashing import Sha256s
from ..common.rows import Column, FileRef, cell_images, images_in_row
from ..common.schema import (
    NIFTI_LIST_TYPE,
    NIFTI_TYPE,
    arrow_schema,
    file_key_value_metadata,
    parquet_writer_options,
)
from ..common.storage import Storage, is_remote
from . import thrift
from .output import PARTIAL
from .pages import ChunkPages, row_page, value_prefix
from .plan import ShardPlan
from .thrift import I64, STRUCT, Struct
from .transfer import Progress, ShardFile

MAGIC = b"PAR1"
# fewer images than this are sorted in Python (100,000 in about 0.04 s) rather than by numpy,
# whose import costs more (about 0.08 s): a build without previews then never imports numpy
NUMPY_SORT_FROM = 100_000
# (max repetition, max definition) level of a NIfTI ``bytes`` leaf: every field is nullable.
LEVELS = {"image": (0, 2), "file": (0, 2), "image_list": (1, 4)}


@dataclass(frozen=True)
class ShardTask:
    """Everything a (possibly separate) process needs to write one shard."""

    shard: ShardPlan
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]  # the shard's rows only, in order
    tmp_file: str  # a local path to write to; the caller moves it into place
    storage: Storage
    read_threads: int = 4  # remote images: range requests at once
    prefetch_bytes: int = 0  # remote images: bytes fetched ahead of the writing
    # a value column holding the sha256 of each row's one file (the files config's): the copy is
    # checked against it, and its string is the one the result lists
    sha256_column: int | None = None


@dataclass(frozen=True)
class ShardResult:
    """What was written: enough to check the file later without reading it again."""

    path: str
    tmp_file: str
    size: int
    sha256: str
    num_rows: int
    num_row_groups: int
    num_bytes: int  # Arrow in-memory bytes, the `datasets` notion of a split's size
    image_sha256: Sha256s  # the shard's images, in row then column then list order


def write_shard(task: ShardTask, progress: Progress | None = None) -> ShardResult:
    """Write ``task.shard`` to ``task.tmp_file``; raise InputError if an input changed or broke."""
    groups = [
        task.rows[g.start - task.shard.start : g.stop - task.shard.start]
        for g in task.shard.row_groups
    ]
    skeleton_file = _skeleton_path(task.tmp_file)
    try:
        num_bytes = _write_skeleton(task.columns, groups, skeleton_file)
        with _Skeleton(skeleton_file) as skeleton:
            return _assemble(task, groups, skeleton, num_bytes, progress)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(skeleton_file)


def _assemble(
    task: ShardTask,
    groups: Sequence[Sequence[tuple[Any, ...]]],
    skeleton: _Skeleton,
    num_bytes: int,
    progress: Progress | None,
) -> ShardResult:
    images = [img for rows in groups for img in _images_in_write_order(task.columns, rows)]
    remote = [img for img in images if is_remote(img.url)]
    out = ShardFile(
        task.tmp_file, task.storage, remote, task.read_threads, task.prefetch_bytes, progress
    )
    try:
        keys = _Assembler(task.columns, skeleton, out, task.sha256_column).write(groups)
        size, digest, image_digests = out.finish()
    except BaseException:
        out.abort()
        with contextlib.suppress(FileNotFoundError):
            os.remove(task.tmp_file)
        raise
    return ShardResult(
        path=task.shard.path,
        tmp_file=task.tmp_file,
        size=size,
        sha256=digest,
        num_rows=task.shard.num_rows,
        num_row_groups=len(task.shard.row_groups),
        num_bytes=num_bytes,
        # 32 bytes per image, not a string: a shard's record keeps them until the build's end
        image_sha256=image_digests.take(keys.row_order()),
    )


def _write_skeleton(
    columns: Sequence[Column], groups: Sequence[Sequence[tuple[Any, ...]]], path: str
) -> int:
    """Write to ``path`` the shard as pyarrow writes it with empty image bytes; its Arrow size
    with the images.

    `datasets` records a split's size as the Arrow in-memory bytes; a placeholder's bytes are
    empty, so the real size is the placeholder table's plus the images'. The skeleton goes to a
    file beside the shard, not into memory (a shard of a few hundred thousand small files has
    tens of MB of small columns), and each row group's placeholder table is let go before the
    next is built.
    """
    schema = arrow_schema(columns)
    options = parquet_writer_options(columns, schema)
    images = tuple(i for i, c in enumerate(columns) if c.is_image)
    num_bytes = 0
    with pa.OSFile(path, "wb") as sink, pq.ParquetWriter(sink, schema, **options) as writer:
        for rows in groups:
            table = _placeholder_table(columns, schema, rows)
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            num_bytes += table.nbytes + sum(
                img.size for r in rows for _, img in images_in_row(r, images)
            )
            del table
        writer.add_key_value_metadata(file_key_value_metadata(options))
    pa.default_memory_pool().release_unused()  # the tables' memory, back to the system
    return num_bytes


def _skeleton_path(tmp_file: str) -> str:
    """Beside the shard's temp file, named like it (a killed run's is cleared with it)."""
    return tmp_file.removesuffix(PARTIAL) + ".skeleton" + PARTIAL


class _Skeleton:
    """pyarrow's file of a shard's small columns, read back a piece at a time (a chunk, an
    index, the footer) while the shard is assembled."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def __enter__(self) -> _Skeleton:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)

    def read(self, start: int, length: int) -> bytes:
        data = os.pread(self._fd, length, start)
        if len(data) != length:
            raise OSError(f"the shard's skeleton ended early: {len(data)} of {length} bytes")
        return data


def _placeholder_table(
    columns: Sequence[Column], schema: pa.Schema, rows: Sequence[tuple[Any, ...]]
) -> pa.Table:
    arrays = []
    for c, column in enumerate(columns):
        cells = rows.column(c) if isinstance(rows, FileRows) else [row[c] for row in rows]
        if isinstance(cells, pa.Array):
            arrays.append(cells)
        elif column.content in ("image", "file"):
            arrays.append(_placeholders(cells))
        elif column.content == "image_list":
            arrays.append(_placeholder_lists(cells))
        else:
            arrays.append(pa.array(cells, type=column.arrow_type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _placeholders(images: Sequence[FileRef | None]) -> pa.StructArray:
    """``{"bytes": b"", "path": name}`` per image, null where there is none; built column by
    column (no dict per cell) into the array ``pa.array`` makes of those dicts (a null struct's
    fields are empty, not null)."""
    paths = pa.array(["" if img is None else img.name for img in images], pa.string())
    empty = pa.repeat(pa.scalar(b"", pa.binary()), len(images))
    valid = [img is not None for img in images]
    if all(valid):
        return pa.StructArray.from_arrays([empty, paths], fields=list(NIFTI_TYPE))
    # a boolean array's values are a validity bitmap as they are: a ``mask`` (set where null)
    # would be inverted by pyarrow.compute, whose import (with numpy's) costs more than the build
    bitmap = pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(NIFTI_TYPE, len(images), [bitmap], children=[empty, paths])


def _placeholder_lists(cells: Sequence[Sequence[FileRef] | None]) -> pa.ListArray:
    """The placeholders of an ``image_list`` column: null lists stay null, empty ones empty."""
    offsets, images = [0], []
    for cell in cells:
        images += cell or ()
        offsets.append(len(images))
    nulls = [cell is None for cell in cells]
    mask = pa.array(nulls, pa.bool_()) if any(nulls) else None
    values = _placeholders(images)
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), values, type=NIFTI_LIST_TYPE, mask=mask
    )


def _images_in_write_order(
    columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]
) -> list[FileRef]:
    """A row group's images in file order: column by column, then row by row."""
    return [
        img
        for c, column in enumerate(columns)
        if column.is_image
        for row in rows
        for img in cell_images(row[c])
    ]


class _ImageKeys:
    """(row, column, position in its cell) of each image in file order (column by column within a
    row group), in three integer arrays: a shard of many small files keeps no tuple per file."""

    def __init__(self) -> None:
        self._rows, self._columns, self._positions = array("q"), array("q"), array("q")

    def add(self, row: int, column: int, position: int) -> None:
        self._rows.append(row)
        self._columns.append(column)
        self._positions.append(position)

    def row_order(self) -> list[int]:
        """Indexes into file order that list the images by row, then column, then position."""
        rows, columns, positions = self._rows, self._columns, self._positions
        if len(rows) < NUMPY_SORT_FROM and "numpy" not in sys.modules:
            return sorted(range(len(rows)), key=lambda i: (rows[i], columns[i], positions[i]))
        import numpy as np  # here: an export keeps numpy out, and never writes a shard

        return np.lexsort((positions, columns, rows)).tolist()


class _Assembler:
    """Lays out the final file: pyarrow's chunks moved, NIfTI ``bytes`` chunks replaced."""

    def __init__(
        self,
        columns: Sequence[Column],
        skeleton: _Skeleton,
        out: ShardFile,
        sha256_column: int | None = None,
    ) -> None:
        self._columns = columns
        self._sha256_column = sha256_column
        self._skeleton = skeleton
        self._out = out
        footer_length = struct.unpack("<I", skeleton.read(skeleton.size - 8, 4))[0]
        self._footer, _ = thrift.decode(
            skeleton.read(skeleton.size - 8 - footer_length, footer_length)
        )
        self._leaf_columns = _leaf_columns(self._footer, columns)
        self._column_indexes: list[list[bytes | None]] = []
        self._offset_indexes: list[list[bytes | None]] = []  # encoded at once: no Struct kept

    def write(self, groups: Sequence[Sequence[tuple[Any, ...]]]) -> _ImageKeys:
        """Write the whole file; the (row, column, position) key of each image, in file order."""
        self._out.write(MAGIC)
        keys = _ImageKeys()
        first_row = 0
        row_groups = self._footer.get(4).items
        for rows, group in zip(groups, row_groups):
            self._write_row_group(rows, group, first_row, keys)
            first_row += len(rows)
        self._write_page_indexes(row_groups)
        footer = thrift.encode(self._footer)
        self._out.write(footer + struct.pack("<I", len(footer)) + MAGIC)
        return keys

    def _write_row_group(
        self, rows: Sequence[tuple[Any, ...]], group: Struct, first_row: int, keys: _ImageKeys
    ) -> None:
        column_indexes, offset_indexes = [], []
        group.set(5, I64, self._out.position)
        for leaf, chunk in enumerate(group.get(1).items):
            column, is_bytes = self._leaf_columns[leaf]
            before = {fid: chunk.get(3).get(fid) for fid in (6, 7)}
            column_indexes.append(self._take_column_index(chunk, is_bytes))
            if is_bytes:
                index = self._write_image_chunk(chunk, rows, column, first_row, keys)
            else:
                index = self._move_chunk(chunk)
            offset_indexes.append(index)
            after = chunk.get(3)
            # the row group's uncompressed and compressed totals follow its chunks'
            for total, fid in ((2, 6), (6, 7)):
                if total in group.fields:
                    grown = after.get(fid) - before[fid]
                    group.set(total, I64, group.get(total) + grown)
        self._column_indexes.append(column_indexes)
        self._offset_indexes.append(offset_indexes)

    def _move_chunk(self, chunk: Struct) -> bytes | None:
        """Copy pyarrow's chunk as it is, shift the offsets that point into it; its offset index."""
        meta = chunk.get(3)
        start = min(meta.get(f) for f in (9, 11) if f in meta.fields)
        delta = self._out.position - start
        self._out.write(self._skeleton.read(start, meta.get(7)))
        for fid in (9, 10, 11):  # data, index and dictionary page offsets
            if fid in meta.fields:
                meta.set(fid, I64, meta.get(fid) + delta)
        if 14 in meta.fields:
            raise AssertionError("bloom filters are not written, so never moved")
        index = self._pop_offset_index(chunk)
        if index is None:
            return None
        for location in index.get(1).items:
            location.set(1, I64, location.get(1) + delta)
        return thrift.encode(index)

    def _write_image_chunk(
        self,
        chunk: Struct,
        rows: Sequence[tuple[Any, ...]],
        column: int,
        first_row: int,
        keys: _ImageKeys,
    ) -> bytes:
        """Our pages for one NIfTI ``bytes`` chunk, one per row, images copied from their files
        (their keys added to ``keys``); the chunk's offset index."""
        max_rep, max_def = LEVELS[self._columns[column].content]
        pages = ChunkPages(self._out.position)
        for r, row in enumerate(rows):
            page = row_page(row[column], max_rep, max_def, r)
            pages.add(page)
            self._out.write(page.head)
            one_file = self._sha256_column is not None and len(page.images) == 1
            expected = row[self._sha256_column] if one_file else None
            for k, img in enumerate(page.images):
                self._out.write(value_prefix(img))
                self._out.append_image(img, expected)
                keys.add(first_row + r, column, k)
        meta = pages.metadata(chunk.get(3))
        if meta.get(5) != pages.levels:  # pyarrow's placeholders and our pages must agree
            raise AssertionError(f"level count {pages.levels} differs from pyarrow's {meta.get(5)}")
        chunk.set(3, STRUCT, meta)
        chunk.drop(4, 5)  # pyarrow's offset index of the placeholders: replaced by ours
        return pages.offset_index()

    def _take_column_index(self, chunk: Struct, is_bytes: bool) -> bytes | None:
        """pyarrow's column index, copied verbatim (it holds no offsets); none for image bytes."""
        if 6 not in chunk.fields:
            return None
        start, length = chunk.get(6), chunk.get(7)
        chunk.drop(6, 7)
        return None if is_bytes else self._skeleton.read(start, length)

    def _pop_offset_index(self, chunk: Struct) -> Struct | None:
        """pyarrow's offset index of the chunk, taken off it (it is written at its new place)."""
        if 4 not in chunk.fields:
            return None
        index, _ = thrift.decode(self._skeleton.read(chunk.get(4), chunk.get(5)))
        chunk.drop(4, 5)
        return index

    def _write_page_indexes(self, row_groups: Sequence[Struct]) -> None:
        """Column indexes of every chunk, then offset indexes, as pyarrow lays them out."""
        for group, indexes in zip(row_groups, self._column_indexes):
            for chunk, data in zip(group.get(1).items, indexes):
                if data is not None:
                    chunk.set(6, I64, self._out.position).set(7, thrift.I32, len(data))
                    self._out.write(data)
        for group, indexes in zip(row_groups, self._offset_indexes):
            for chunk, index in zip(group.get(1).items, indexes):
                if index is not None:
                    chunk.set(4, I64, self._out.position).set(5, thrift.I32, len(index))
                    self._out.write(index)


def _leaf_columns(footer: Struct, columns: Sequence[Column]) -> list[tuple[int, bool]]:
    """For each Parquet leaf: the column it belongs to, and whether it is a NIfTI ``bytes`` leaf.

    Walks the footer's schema (a depth-first list where groups count their children), so column
    names containing dots cannot confuse it.
    """
    elements = footer.get(2).items
    leaves: list[tuple[int, bool]] = []
    position = 1  # after the root
    for c, column in enumerate(columns):
        position, count = _subtree(elements, position)
        # ``bytes`` is the first field of a NIfTI struct<bytes, path>
        leaves += [(c, column.is_image and k == 0) for k in range(count)]
    groups = footer.get(4).items
    if groups and len(groups[0].get(1).items) != len(leaves):
        raise AssertionError("schema leaves and column chunks disagree")
    return leaves


def _subtree(elements: Sequence[Struct], position: int) -> tuple[int, int]:
    """The position after the subtree starting at ``position``, and its number of leaves."""
    children = elements[position].get(5, 0)
    position += 1
    if not children:
        return position, 1
    leaves = 0
    for _ in range(children):
        position, count = _subtree(elements, position)
        leaves += count
    return position, leaves
