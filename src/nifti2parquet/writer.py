"""The shard writer: one planned shard from its rows to a complete Parquet file.

Memory stays near one row group. For each planned row group the writer allocates one Arrow buffer
per image column, reads every file's bytes straight into its slice of that buffer (``readinto``, no
intermediate copies), hashes them in the same pass, builds the arrays on top of those buffers and
hands the row group to the Parquet writer, then lets it all go before the next. Files of a row group
are read by a few threads at once: hashing and object-store latency both overlap.

The shard's own sha256 is computed as the bytes go out, so no second read is needed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError, OutputError, Problem
from .fsio import Storage
from .output import OutputFolder, sync_file
from .plan import ShardPlan
from .rows import Column, ImageRef
from .schema import (
    NIFTI_TYPE,
    arrow_schema,
    file_key_value_metadata,
    parquet_writer_options,
)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ShardTask:
    """Everything a (possibly separate) process needs to write one shard."""

    shard: ShardPlan
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]  # the shard's rows only, in order
    output: str  # the output folder's URL
    tmp: str  # where to write, relative to the output folder
    storage: Storage
    read_threads: int = 4


@dataclass(frozen=True)
class ShardResult:
    """What was written: enough to check the file later without reading it again."""

    path: str
    tmp: str
    size: int
    sha256: str
    num_rows: int
    num_row_groups: int
    num_bytes: int  # Arrow in-memory bytes, the `datasets` notion of a split's size
    image_sha256: tuple[str, ...]  # the shard's images, in row then column then list order


def write_shard(task: ShardTask, progress: Progress | None = None) -> ShardResult:
    """Write ``task.shard`` to ``task.tmp``; raise InputError if an input changed or broke."""
    output = OutputFolder(task.output, task.storage)
    schema = arrow_schema(task.columns)
    options = parquet_writer_options(task.columns, schema)
    reader = _ImageReader(task.storage, task.read_threads, progress)
    image_hashes: list[str] = []
    num_bytes = 0
    try:
        with output.open_write(task.tmp) as raw:
            sink = _HashingSink(raw)
            writer = pq.ParquetWriter(sink, schema, **options)
            for group in task.shard.row_groups:
                rows = task.rows[group.start - task.shard.start : group.stop - task.shard.start]
                table, hashes = _row_group_table(task.columns, schema, rows, reader)
                writer.write_table(table, row_group_size=max(1, table.num_rows))
                num_bytes += table.nbytes
                image_hashes += hashes
                del table
            writer.add_key_value_metadata(file_key_value_metadata(options))
            writer.close()
            sync_file(raw)
    except OSError as exc:
        output.remove(task.tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(
                f"{output.display(task.shard.path)}: disk full while writing; free space and run "
                f"the same command again to resume"
            ) from None
        raise
    except BaseException:
        output.remove(task.tmp)
        raise
    finally:
        reader.close()
    return ShardResult(
        path=task.shard.path,
        tmp=task.tmp,
        size=sink.size,
        sha256=sink.sha256.hexdigest(),
        num_rows=task.shard.num_rows,
        num_row_groups=len(task.shard.row_groups),
        num_bytes=num_bytes,
        image_sha256=tuple(image_hashes),
    )


def _row_group_table(
    columns: Sequence[Column],
    schema: pa.Schema,
    rows: Sequence[tuple[Any, ...]],
    reader: _ImageReader,
) -> tuple[pa.Table, list[str]]:
    """One row group as an Arrow table, and the sha256 of its images in row-major order."""
    arrays: list[pa.Array] = []
    hashes: dict[tuple[int, int, int], str] = {}
    for c, column in enumerate(columns):
        cells = [row[c] for row in rows]
        if column.kind == "image":
            arrays.append(_image_array(cells, reader, c, hashes))
        elif column.kind == "image_list":
            arrays.append(_image_list_array(cells, reader, c, hashes))
        else:
            arrays.append(pa.array(cells, type=column.arrow_type))
    ordered = [hashes[key] for key in sorted(hashes)]
    return pa.Table.from_arrays(arrays, schema=schema), ordered


def _image_array(
    cells: list[ImageRef | None], reader: _ImageReader, column: int, hashes: dict
) -> pa.StructArray:
    """``struct<bytes, path>`` for one image per row; a missing image is a null struct."""
    present = [(r, img) for r, img in enumerate(cells) if img is not None]
    values = _read_values([img for _, img in present], reader, len(cells), [r for r, _ in present])
    data, digests = values
    hashes.update({(r, column, 0): h for (r, _), h in zip(present, digests)})
    names = pa.array([img.name if img is not None else None for img in cells], pa.string())
    mask = pa.array([img is None for img in cells], pa.bool_())
    return pa.StructArray.from_arrays([data, names], fields=list(NIFTI_TYPE), mask=mask)


def _image_list_array(
    cells: list[tuple[ImageRef, ...] | None], reader: _ImageReader, column: int, hashes: dict
) -> pa.ListArray:
    """``list<struct<bytes, path>>``: ``[]`` stays empty, a missing list is null."""
    flat = [img for cell in cells if cell for img in cell]
    data, digests = _read_values(flat, reader, len(flat), list(range(len(flat))))
    keys = [(r, column, k) for r, cell in enumerate(cells) if cell for k in range(len(cell))]
    hashes.update(dict(zip(keys, digests)))
    names = pa.array([img.name for img in flat], pa.string())
    values = pa.StructArray.from_arrays([data, names], fields=list(NIFTI_TYPE))
    lengths = [len(cell) if cell else 0 for cell in cells]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32))
    mask = pa.array([cell is None for cell in cells], pa.bool_())
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def _read_values(
    images: Sequence[ImageRef], reader: _ImageReader, length: int, positions: Sequence[int]
) -> tuple[pa.Array, list[str]]:
    """A ``binary`` array of ``length`` slots whose ``positions`` hold the images' bytes.

    All bytes land in one buffer allocated up front; each file is read into its own slice.
    """
    sizes = np.zeros(length, dtype=np.int64)
    sizes[list(positions)] = [img.size for img in images]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])
    if total >= 2**31 - 1:
        raise AssertionError("the plan let a column chunk reach 2 GiB")  # checked before planning
    buffer = pa.allocate_buffer(total, resizable=False)
    view = memoryview(buffer).cast("B")
    slices = [view[offsets[p] : offsets[p] + img.size] for p, img in zip(positions, images)]
    digests = reader.read_all(images, slices)
    validity = np.zeros(length, dtype=bool)
    validity[list(positions)] = True
    valid_buf = pa.array(validity).buffers()[1]
    null_count = length - len(images)
    offsets_buf = pa.py_buffer(offsets.astype(np.int32))
    array = pa.Array.from_buffers(pa.binary(), length, [valid_buf, offsets_buf, buffer], null_count)
    return array, digests


class _ImageReader:
    """Reads images into preallocated slices with a few threads, hashing as it goes."""

    def __init__(self, storage: Storage, threads: int, progress: Progress | None) -> None:
        self._storage = storage
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-read")
        self._progress = progress
        self._lock = threading.Lock()

    def read_all(self, images: Sequence[ImageRef], slices: Sequence[memoryview]) -> list[str]:
        return list(self._pool.map(self._read_one, images, slices))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _read_one(self, image: ImageRef, target: memoryview) -> str:
        try:
            with self._storage.open(image.url) as f:
                _read_exactly(f, target, image)
        except OSError as exc:
            problem = Problem(image.display, f"cannot read: {exc.strerror or exc}")
            raise InputError(f"reading {image.display} failed", [problem]) from None
        digest = hashlib.sha256(target).hexdigest()
        if self._progress:
            with self._lock:
                self._progress(image.size)
        return digest


def _read_exactly(f: BinaryIO, target: memoryview, image: ImageRef) -> None:
    """Fill ``target`` from ``f`` and make sure the file has not grown or shrunk since planning."""
    filled = 0
    while filled < len(target):
        n = f.readinto(target[filled:])
        if not n:
            break
        filled += n
    if filled != len(target) or f.read(1):
        problem = Problem(image.display, f"changed while building: expected {image.size} bytes")
        raise InputError(
            f"{image.display} changed during the build; run the build again", [problem]
        )


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes everything written through it (pyarrow writes into it)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self._raw.write(data)
        n = len(data)
        self.size += n
        return n

    def tell(self) -> int:
        return self.size
