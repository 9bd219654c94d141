"""The shard writer: one planned shard from its rows to a complete Parquet file.

Memory stays near one row group. For each planned row group the writer allocates one Arrow buffer
per image column, reads every file's bytes straight into its slice of that buffer (``readinto``, no
intermediate copies), hashes them in the same pass, builds the arrays on top of those buffers and
hands the row group to the Parquet writer, then lets it all go before the next. Files of a row group
are read by a few threads at once: hashing and object-store latency both overlap.

The shard's own sha256 is computed as the file grows, from the page cache, so no second read of
the disk is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError, Problem, os_reason
from .fsio import Storage
from .plan import ShardPlan
from .rows import Column, ImageRef, images_in_row
from .schema import (
    NIFTI_TYPE,
    arrow_schema,
    file_key_value_metadata,
    parquet_writer_options,
)

Progress = Callable[[int], None]
_HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class ShardTask:
    """Everything a (possibly separate) process needs to write one shard."""

    shard: ShardPlan
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]  # the shard's rows only, in order
    tmp_file: str  # a local path to write to; the caller moves it into place
    storage: Storage
    read_threads: int = 4
    prefetch_bytes: int = 0  # image bytes that may be read ahead while a row group is encoded


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
    image_sha256: tuple[str, ...]  # the shard's images, in row then column then list order


def write_shard(task: ShardTask, progress: Progress | None = None) -> ShardResult:
    """Write ``task.shard`` to ``task.tmp_file``; raise InputError if an input changed or broke.

    Three things overlap: a loader thread reads (and hashes) the next row group's files while this
    thread encodes the current one, and a follower thread hashes the shard file as it grows.
    """
    schema = arrow_schema(task.columns)
    options = parquet_writer_options(task.columns, schema)
    reader = _ImageReader(task.storage, task.read_threads, progress)
    loader = _RowGroupLoader(task, schema, reader)
    follower = _FileFollower(task.tmp_file)
    image_hashes: list[str] = []
    num_bytes = 0
    try:
        writer = pq.ParquetWriter(task.tmp_file, schema, **options)
        follower.start()
        for table, hashes in loader:
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            num_bytes += table.nbytes
            image_hashes += hashes
            loader.done_with(table)
            del table
        writer.add_key_value_metadata(file_key_value_metadata(options))
        writer.close()
        size = fsync_path(task.tmp_file)
        digest = follower.finish(size)
    except BaseException:
        _discard(task.tmp_file, follower)
        raise
    finally:
        loader.close()
        reader.close()
    return ShardResult(
        path=task.shard.path,
        tmp_file=task.tmp_file,
        size=size,
        sha256=digest,
        num_rows=task.shard.num_rows,
        num_row_groups=len(task.shard.row_groups),
        num_bytes=num_bytes,
        image_sha256=tuple(image_hashes),
    )


def _discard(path: str, follower: _FileFollower) -> None:
    follower.abort()
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def fsync_path(path: str) -> int:
    """Flush a written file to disk (any descriptor of a file syncs its data); its size."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


class _RowGroupLoader:
    """Builds the shard's row groups in order on a background thread, one or more ahead.

    Read-ahead is bounded: a row group is started only while the image bytes of the row groups in
    memory stay within ``task.prefetch_bytes`` (one row group is always allowed), so peak memory is
    the budget plus one page being encoded, however large the dataset.
    """

    def __init__(self, task: ShardTask, schema: pa.Schema, reader: _ImageReader) -> None:
        self._task, self._schema, self._reader = task, schema, reader
        self._ready: queue.Queue = queue.Queue()
        self._room = threading.Condition()
        self._in_memory = 0
        self._arena = _Arena(keep=2 if task.prefetch_bytes > 0 else 1)
        self._handed_out: dict[int, tuple[int, pa.Buffer]] = {}  # table id -> image bytes, buffer
        self._images = tuple(i for i, c in enumerate(task.columns) if c.is_image)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="n2p-load", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[tuple[pa.Table, list[str]]]:
        for _ in self._task.shard.row_groups:
            item = self._ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def done_with(self, table: pa.Table) -> None:
        """The table is written: its buffer may be refilled with a later row group."""
        with self._room:
            size, buffer = self._handed_out.pop(id(table))
            self._in_memory -= size
            self._arena.give(buffer)
            self._room.notify_all()

    def close(self) -> None:
        with self._room:
            self._stop = True
            self._room.notify_all()
        self._thread.join()

    def _run(self) -> None:
        task = self._task
        try:
            for group in task.shard.row_groups:
                rows = task.rows[group.start - task.shard.start : group.stop - task.shard.start]
                size = sum(img.size for row in rows for _, img in images_in_row(row, self._images))
                if not self._wait_for_room(size):
                    return
                buffer = self._arena.take(size)
                space = _Space(buffer)
                table, hashes = _row_group_table(
                    task.columns, self._schema, rows, self._reader, space
                )
                with self._room:
                    self._handed_out[id(table)] = (size, buffer)
                self._ready.put((table, hashes))
        except BaseException as exc:  # handed to the writing thread, which raises it
            self._ready.put(exc)

    def _wait_for_room(self, size: int) -> bool:
        with self._room:
            while (
                not self._stop
                and self._in_memory
                and self._in_memory + size > self._task.prefetch_bytes
            ):
                self._room.wait()
            self._in_memory += size
            return not self._stop


class _FileFollower:
    """Hashes a file while another writer is still appending to it (reads hit the page cache)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._sha = hashlib.sha256()
        self._final: int | None = None
        self._aborted = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="n2p-hash", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def finish(self, size: int) -> str:
        self._final = size
        self._wake.set()
        self._thread.join()
        if self._error:
            raise self._error
        return self._sha.hexdigest()

    def abort(self) -> None:
        self._aborted = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        buffer = bytearray(_HASH_CHUNK)  # one buffer for the whole file: no allocator churn
        view = memoryview(buffer)
        try:
            with open(self._path, "rb", buffering=0) as f:
                offset = 0
                while not self._aborted:
                    final = self._final
                    n = f.readinto(buffer)
                    if n:
                        self._sha.update(view[:n])
                        offset += n
                    elif final is not None and offset >= final:
                        return
                    else:
                        self._wake.wait(0.01)
        except BaseException as exc:
            self._error = exc


def _row_group_table(
    columns: Sequence[Column],
    schema: pa.Schema,
    rows: Sequence[tuple[Any, ...]],
    reader: _ImageReader,
    space: _Space,
) -> tuple[pa.Table, list[str]]:
    """One row group as an Arrow table, and the sha256 of its images in row-major order."""
    arrays: list[pa.Array] = []
    hashes: dict[tuple[int, int, int], str] = {}
    for c, column in enumerate(columns):
        cells = [row[c] for row in rows]
        if column.kind == "image":
            arrays.append(_image_array(cells, reader, space, c, hashes))
        elif column.kind == "image_list":
            arrays.append(_image_list_array(cells, reader, space, c, hashes))
        else:
            arrays.append(pa.array(cells, type=column.arrow_type))
    ordered = [hashes[key] for key in sorted(hashes)]
    return pa.Table.from_arrays(arrays, schema=schema), ordered


def _image_array(
    cells: list[ImageRef | None], reader: _ImageReader, space: _Space, column: int, hashes: dict
) -> pa.StructArray:
    """``struct<bytes, path>`` for one image per row; a missing image is a null struct."""
    present = [(r, img) for r, img in enumerate(cells) if img is not None]
    images, positions = [img for _, img in present], [r for r, _ in present]
    data, digests = _read_values(images, reader, space, len(cells), positions)
    hashes.update({(r, column, 0): h for (r, _), h in zip(present, digests)})
    names = pa.array([img.name if img is not None else None for img in cells], pa.string())
    mask = pa.array([img is None for img in cells], pa.bool_())
    return pa.StructArray.from_arrays([data, names], fields=list(NIFTI_TYPE), mask=mask)


def _image_list_array(
    cells: list[tuple[ImageRef, ...] | None],
    reader: _ImageReader,
    space: _Space,
    column: int,
    hashes: dict,
) -> pa.ListArray:
    """``list<struct<bytes, path>>``: ``[]`` stays empty, a missing list is null."""
    flat = [img for cell in cells if cell for img in cell]
    data, digests = _read_values(flat, reader, space, len(flat), list(range(len(flat))))
    keys = [(r, column, k) for r, cell in enumerate(cells) if cell for k in range(len(cell))]
    hashes.update(dict(zip(keys, digests)))
    names = pa.array([img.name for img in flat], pa.string())
    values = pa.StructArray.from_arrays([data, names], fields=list(NIFTI_TYPE))
    lengths = [len(cell) if cell else 0 for cell in cells]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32))
    mask = pa.array([cell is None for cell in cells], pa.bool_())
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def _read_values(
    images: Sequence[ImageRef],
    reader: _ImageReader,
    space: _Space,
    length: int,
    positions: Sequence[int],
) -> tuple[pa.Array, list[str]]:
    """A ``binary`` array of ``length`` slots whose ``positions`` hold the images' bytes.

    The bytes land in one region of the row group's buffer; each file is read into its slice.
    """
    sizes = np.zeros(length, dtype=np.int64)
    sizes[list(positions)] = [img.size for img in images]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])
    if total >= 2**31 - 1:
        raise AssertionError("the plan let a column chunk reach 2 GiB")  # checked before planning
    buffer, view = space.take(total)
    slices = [view[offsets[p] : offsets[p] + img.size] for p, img in zip(positions, images)]
    digests = reader.read_all(images, slices)
    validity = np.zeros(length, dtype=bool)
    validity[list(positions)] = True
    valid_buf = pa.array(validity).buffers()[1]
    null_count = length - len(images)
    offsets_buf = pa.py_buffer(offsets.astype(np.int32))
    array = pa.Array.from_buffers(pa.binary(), length, [valid_buf, offsets_buf, buffer], null_count)
    return array, digests


class _Arena:
    """Buffers for row groups' image bytes, allocated once and refilled.

    Fresh memory costs a page fault per 4 KiB when it is first written, and faults are slow
    (several microseconds each in virtual machines): allocating every row group anew spent more
    time in the kernel than writing the shard. Free buffers are kept and reused, largest first.
    """

    def __init__(self, keep: int) -> None:
        self._keep = keep  # buffers that can be in use at once: written, and read ahead
        self._free: list[pa.Buffer] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> pa.Buffer:
        with self._lock:
            fitting = [b for b in self._free if b.size >= size]
            if fitting:
                buffer = min(fitting, key=lambda b: b.size)
                self._free.remove(buffer)
                return buffer
            if len(self._free) >= self._keep:
                self._free.remove(min(self._free, key=lambda b: b.size))
        return pa.allocate_buffer(max(size, 1), resizable=False)

    def give(self, buffer: pa.Buffer) -> None:
        with self._lock:
            self._free.append(buffer)
            self._free.sort(key=lambda b: b.size, reverse=True)
            del self._free[self._keep :]


class _Space:
    """Consecutive regions of one row group's buffer, one per image column."""

    def __init__(self, buffer: pa.Buffer) -> None:
        self._buffer = buffer
        self._view = memoryview(buffer).cast("B")
        self._used = 0

    def take(self, size: int) -> tuple[pa.Buffer, memoryview]:
        start, self._used = self._used, self._used + size
        return self._buffer.slice(start, size), self._view[start : start + size]


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
            problem = Problem(image.display, f"cannot read: {os_reason(exc)}")
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
