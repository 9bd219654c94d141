"""Reading a built shard once for everything ``verify`` needs from its bytes.

For each shard two tasks run side by side: one streams the whole file through sha256 in fixed-size
blocks, the other reads the image columns row group by row group with pyarrow (in batches of about
32 MB within a row group) and checks that every image cell looks like NIfTI (with ``deep``, decodes
it as ``datasets`` would). Both read the same file at the same time, so the disk is read once and
the second reader is served from the page cache.

Every byte is hashed once. When the shard's sha256 is the one the build recorded, its bytes are the
ones the build wrote, so each image is the one whose sha256 the build recorded: hashing every image
again would prove nothing more. Only a shard whose sha256 differs is read again with every image
hashed, to name the images that changed. hashlib releases the GIL, so shards are hashed on several
cores at once; memory stays near one batch (or one row, when a row alone is larger) per shard.

The result is plain data (a :class:`ShardDigest` with one :class:`CellDigest` per image, no bytes);
comparing it with the build's records is the caller's job.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..shards.output import OutputFolder
from ..common.nifti import NIFTI2_WARNING, check_image, deep_check

HASH_BLOCK = 8 << 20  # bytes per read when hashing a shard: large, sequential, bounded
READ_BUFFER = 8 << 20  # pyarrow streams column chunks through a buffer this size
BATCH_BYTES = 32 << 20  # image bytes decoded at once per shard (a larger single row: that row)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Cell:
    """One stored image, as found in a row group (its bytes are a view into Arrow's buffer)."""

    row: int  # row within the shard
    column: str
    index: int | None  # position in a list column, else None
    path: str | None  # the stored ``path`` field
    data: memoryview | None  # the stored ``bytes``; None when the struct has a path only


@dataclass(frozen=True)
class CellDigest:
    """What ``verify`` keeps of one image: where it is, its sha256, and what is wrong with it."""

    row: int  # row within the shard
    column: str
    index: int | None
    size: int
    sha256: str | None  # None when the cell holds no bytes, or was not hashed (shard intact)
    problems: tuple[str, ...]  # errors: not NIfTI, does not decode, no bytes
    notes: tuple[str, ...] = ()  # warnings (e.g. NIfTI-2, which datasets cannot decode)
    decoded: bool = False  # the deep check ran (the cheap one passed)


@dataclass(frozen=True)
class ShardDigest:
    """One shard as read from disk: size, sha256, footer, and every image cell."""

    path: str
    size: int
    sha256: str
    metadata: pq.FileMetaData | None  # None when the file is not readable Parquet
    schema: pa.Schema | None
    cells: tuple[CellDigest, ...]
    error: str | None = None  # why the file (or one of its row groups) could not be read
    rows_read: int = 0  # rows of the row groups read (all of them unless ``error``)
    intact: bool = False  # sha256 is the expected one: every cell is as the build recorded it


def digest_shards(
    output: OutputFolder,
    shards: Sequence[tuple[str, Mapping[str, str], str | None]],
    deep: bool = False,
    threads: int = 4,
    progress: Progress | None = None,
) -> Iterator[ShardDigest]:
    """Scan ``shards`` ((path, {image column: kind}, expected sha256 or None) triples),
    ``threads`` shards at a time.

    Results come in the order given. At most ``threads`` shards are in flight, so memory stays
    bounded whatever the number of shards. With no expected sha256, every image is hashed.
    """
    threads = max(1, threads)
    locked = _locked(progress)
    with ThreadPoolExecutor(2 * threads, thread_name_prefix="n2p-verify") as pool:
        pending: list[tuple] = []
        for path, kinds, expected in shards:
            if len(pending) >= threads:
                yield _result(output, *pending.pop(0))
            digest = pool.submit(file_sha256, output, path, locked)
            cells = pool.submit(_read_cells, output, path, kinds, deep, expected is None)
            pending.append((path, kinds, expected, deep, digest, cells))
        while pending:
            yield _result(output, *pending.pop(0))


def _result(
    output: OutputFolder,
    path: str,
    kinds: Mapping[str, str],
    expected: str | None,
    deep: bool,
    digest: Future[tuple[int, str]],
    cells: Future[ShardDigest],
) -> ShardDigest:
    scan = cells.result()
    try:
        size, sha256 = digest.result()
    except OSError as exc:  # vanished or unreadable since it was listed
        return ShardDigest(path, 0, "", None, None, (), f"cannot read ({_one_line(exc)})")
    if expected is not None and sha256 != expected:
        scan = _read_cells(output, path, kinds, deep, hash_cells=True)  # find what changed
    return replace(scan, size=size, sha256=sha256, intact=sha256 == expected)


def _locked(progress: Progress | None) -> Progress | None:
    if progress is None:
        return None
    lock = threading.Lock()

    def update(n: int) -> None:
        with lock:
            progress(n)

    return update


def file_sha256(
    output: OutputFolder, path: str, progress: Progress | None = None
) -> tuple[int, str]:
    """(size, sha256) of a file, streamed through one reusable block: memory stays constant."""
    digest = hashlib.sha256()
    block = bytearray(HASH_BLOCK)
    view = memoryview(block)
    size = 0
    with output.open_read(path) as f:
        while n := f.readinto(view):
            digest.update(view[:n])
            size += n
            if progress:
                progress(n)
    return size, digest.hexdigest()


def _read_cells(
    output: OutputFolder, path: str, kinds: Mapping[str, str], deep: bool, hash_cells: bool = True
) -> ShardDigest:
    """Footer, schema and every image cell's digest (size and sha256 are the hasher's job); an
    unreadable file or row group gives its error."""
    with contextlib.ExitStack() as stack:
        try:
            source = stack.enter_context(output.open_read(path)) if output.remote else None
            parquet = pq.ParquetFile(
                source or output.full(path), buffer_size=READ_BUFFER, pre_buffer=False
            )
            stack.callback(parquet.close)
        except (pa.ArrowException, OSError) as exc:
            error = f"not a readable Parquet file ({_one_line(exc)})"
            return ShardDigest(path, 0, "", None, None, (), error)
        return _read_row_groups(parquet, path, kinds, deep, hash_cells)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def _read_row_groups(
    parquet: pq.ParquetFile, path: str, kinds: Mapping[str, str], deep: bool, hash_cells: bool
) -> ShardDigest:
    """The image columns, row group by row group, each in batches of about BATCH_BYTES (one row
    at least): memory stays near one batch, not one row group, and each batch is freed before
    the next is read."""
    metadata, schema = parquet.metadata, parquet.schema_arrow
    columns = [name for name in kinds if name in schema.names]
    digests: list[CellDigest] = []
    rows = 0
    for i in range(metadata.num_row_groups):
        size = _batch_rows(metadata.row_group(i))
        batches = parquet.iter_batches(size, row_groups=[i], columns=columns, use_threads=False)
        try:
            for batch in batches:
                table = pa.Table.from_batches([batch])
                cells = image_cells(table, kinds, rows)
                digests += (digest_cell(c, deep, hash_cells) for c in cells)
                rows += table.num_rows
                del table, batch
        except (pa.ArrowException, OSError) as exc:
            error = f"row group {i} cannot be read ({_one_line(exc)})"
            return ShardDigest(path, 0, "", metadata, schema, tuple(digests), error, rows)
    return ShardDigest(path, 0, "", metadata, schema, tuple(digests), None, rows)


def _batch_rows(group: pq.RowGroupMetaData) -> int:
    """Rows per batch so that a batch holds about BATCH_BYTES (by the row group's average)."""
    if group.num_rows == 0:
        return 1
    average = max(1, group.total_byte_size // group.num_rows)
    return max(1, min(group.num_rows, BATCH_BYTES // average))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# cells -------------------------------------------------------------------------------------------
def image_cells(table: pa.Table, kinds: Mapping[str, str], first_row: int = 0) -> Iterator[Cell]:
    """Every present image of a table of ``Nifti`` / ``List(Nifti())`` columns, row-major per
    column. A null image (or null list element) is absent; a struct with null bytes is a Cell
    whose ``data`` is None."""
    for name, kind in kinds.items():
        if name not in table.column_names:
            continue
        row0 = first_row
        for chunk in table.column(name).chunks:
            if kind == "image_list":
                yield from _list_cells(chunk, name, row0)
            else:
                rows = np.arange(row0, row0 + len(chunk))
                yield from _struct_cells(chunk, name, rows, None)
            row0 += len(chunk)


def _list_cells(chunk: pa.ListArray, name: str, row0: int) -> Iterator[Cell]:
    values = chunk.flatten()
    parents = pc.list_parent_indices(chunk).to_numpy(zero_copy_only=False)
    positions = np.arange(len(parents)) - np.searchsorted(parents, parents, side="left")
    yield from _struct_cells(values, name, parents + row0, positions)


def _struct_cells(
    structs: pa.StructArray, name: str, rows: np.ndarray, positions: np.ndarray | None
) -> Iterator[Cell]:
    if len(structs) == 0:
        return
    present = structs.is_valid().to_pylist()  # (boolean to_numpy would import pandas)
    data = structs.field("bytes")
    paths = structs.field("path").to_pylist()
    has_bytes = data.is_valid().to_pylist()
    offsets, buffer = _binary_parts(data)
    for i in (i for i, valid in enumerate(present) if valid):
        index = None if positions is None else int(positions[i])
        view = buffer[offsets[i] : offsets[i + 1]] if has_bytes[i] else None
        yield Cell(int(rows[i]), name, index, paths[i], view)


def _binary_parts(array: pa.BinaryArray) -> tuple[np.ndarray, memoryview]:
    """Value offsets and the data buffer of a ``binary`` array, without copying the bytes."""
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    return offsets, data.cast("B")


def digest_cell(cell: Cell, deep: bool = False, hash_bytes: bool = True) -> CellDigest:
    """sha256 of the stored bytes (unless not asked), and whether they look like (``deep``:
    decode as) NIfTI."""
    if cell.data is None:
        message = (
            f"no bytes, only the path {cell.path!r}: datasets would look for that file and fail "
            "(the 'uploaded paths, not images' failure)"
        )
        return CellDigest(cell.row, cell.column, cell.index, 0, None, (message,))
    sha256 = hashlib.sha256(cell.data).hexdigest() if hash_bytes else None
    name = cell.path or "image"
    found = check_image(name, lambda: pa.BufferReader(cell.data), len(cell.data)).problems
    decoded = deep and not any(p.severity == "error" for p in found)
    if decoded:
        found = deep_check(name, bytes(cell.data)).problems
    errors = tuple(p.message for p in found if p.severity == "error")
    notes = tuple(p.message for p in found if p.message == NIFTI2_WARNING)
    size = len(cell.data)
    return CellDigest(cell.row, cell.column, cell.index, size, sha256, errors, notes, decoded)
