"""Reading a built shard once for everything ``verify`` needs from its bytes.

Each shard is read once, front to back (:mod:`.shard_pass`): every block goes through the shard's
sha256 and, where it holds an image, through that image's tap, which keeps its first and last
bytes (all the NIfTI check reads) and, when asked, hashes it. Memory stays near one block whatever
the image sizes; the stored paths come from the small ``path`` leaves, read before the pass.

Every byte is hashed once. When the shard's sha256 is the one the build recorded, its bytes are the
ones the build wrote, so each image is the one whose sha256 the build recorded: hashing every image
again would prove nothing more. Only a shard whose sha256 differs is read again with every image
hashed, to name the images that changed; with no sha256 recorded, the one pass hashes both.
``deep`` decodes each image as ``datasets`` would, which needs it whole: one image at a time in
the whole process. Shards are read several at once (hashlib releases the GIL).

A row group whose image pages are not framed as our writer frames them (a shard rewritten by
another tool, or damaged) is read the general way, with pyarrow, in batches of about
``BATCH_BYTES`` (one row at least): its problems are then pyarrow's, in pyarrow's words.

The result is plain data (a :class:`ShardDigest` with one :class:`CellDigest` per image, no bytes);
comparing it with the build's records is the caller's job.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ..common.nifti import NIFTI2_WARNING, check_image, deep_check
from ..common.nifti.checks import ImageCheck
from ..shards.output import OutputFolder
from .page_stream import Leaf, Value
from .shard_pass import RangeReader, ValueFile, blob_leaves, read_once

READ_BUFFER = 8 << 20  # pyarrow streams column chunks through a buffer this size
BATCH_BYTES = 32 << 20  # image bytes decoded at once by pyarrow (a larger single row: that row)
ONE_IMAGE = threading.Lock()  # held while an image is whole in memory (``deep``): one at a time

Progress = Callable[[int], None]

# numpy and pyarrow.compute load with the first cell read: the footer checks every build runs
# need neither (see common.startup.pyarrow_without_numpy)
if TYPE_CHECKING:
    import numpy as np


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
    """Read ``shards`` ((path, {image column: kind}, expected sha256 or None) triples),
    ``threads`` shards at a time.

    Results come in the order given. At most ``threads`` shards are in flight, so memory stays
    bounded whatever the number of shards. With no expected sha256, every image is hashed.
    """
    threads = max(1, threads)
    locked = _locked(progress)
    with ThreadPoolExecutor(threads, thread_name_prefix="n2p-verify") as pool:
        pending: deque[Future[ShardDigest]] = deque()
        for path, kinds, expected in shards:
            if len(pending) >= threads:
                yield pending.popleft().result()
            pending.append(pool.submit(_digest, output, path, kinds, expected, deep, locked))
        while pending:
            yield pending.popleft().result()


def _digest(
    output: OutputFolder,
    path: str,
    kinds: Mapping[str, str],
    expected: str | None,
    deep: bool,
    progress: Progress | None,
) -> ShardDigest:
    """One shard: read once; read again, hashing every image, only when its sha256 differs."""
    scan = _scan(output, path, kinds, deep, expected is None, progress)
    if expected is None or not scan.sha256 or scan.sha256 == expected:
        return replace(scan, intact=bool(scan.sha256) and scan.sha256 == expected)
    again = _scan(output, path, kinds, deep, hash_cells=True)  # find what changed
    return replace(again, size=scan.size, sha256=scan.sha256) if again.sha256 else scan


def _locked(progress: Progress | None) -> Progress | None:
    if progress is None:
        return None
    lock = threading.Lock()

    def update(n: int) -> None:
        with lock:
            progress(n)

    return update


def _scan(
    output: OutputFolder,
    path: str,
    kinds: Mapping[str, str],
    deep: bool,
    hash_cells: bool,
    progress: Progress | None = None,
) -> ShardDigest:
    """The shard's size, sha256, footer, schema and every image cell's digest, in one read; an
    unreadable file or row group gives its error."""
    with contextlib.ExitStack() as stack:
        try:
            reader = stack.enter_context(RangeReader(output, path))
        except OSError as exc:  # vanished or unreadable since it was listed
            return ShardDigest(path, 0, "", None, None, (), f"cannot read ({_one_line(exc)})")
        try:
            parquet: pq.ParquetFile | Exception = _open_parquet(output, path, stack)
        except (pa.ArrowException, OSError) as exc:
            parquet = exc
        if isinstance(parquet, pq.ParquetFile):
            shard = _ShardCells(parquet, kinds, deep, reader)
            leaves, on_value = shard.leaves(), shard.found
        else:
            leaves, on_value = [], None
        try:
            done = read_once(output, path, leaves, hash_cells, on_value, progress)
        except OSError as exc:
            return ShardDigest(path, 0, "", None, None, (), f"cannot read ({_one_line(exc)})")
        if not isinstance(parquet, pq.ParquetFile):
            error = f"not a readable Parquet file ({_one_line(parquet)})"
            return ShardDigest(path, done.size, done.sha256, None, None, (), error)
        digest = shard.digest(path, hash_cells, done.walked)
        return replace(digest, size=done.size, sha256=done.sha256)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def _open_parquet(output: OutputFolder, path: str, stack: contextlib.ExitStack) -> pq.ParquetFile:
    source = stack.enter_context(output.open_read(path)) if output.remote else None
    parquet = pq.ParquetFile(source or output.full(path), buffer_size=READ_BUFFER, pre_buffer=False)
    stack.callback(parquet.close)
    return parquet


class _ShardCells:
    """The image cells of one shard as its pass finds them, checked as they come; the row groups
    the pass could not walk are read with pyarrow afterwards."""

    def __init__(
        self, parquet: pq.ParquetFile, kinds: Mapping[str, str], deep: bool, reader: RangeReader
    ) -> None:
        self.parquet, self.kinds, self.deep, self.reader = parquet, kinds, deep, reader
        self.metadata, self.schema = parquet.metadata, parquet.schema_arrow
        self.columns = [name for name in kinds if name in self.schema.names]
        groups = self.metadata.num_row_groups
        rows = [self.metadata.row_group(g).num_rows for g in range(groups)]
        self.first_rows = [0, *itertools.accumulate(rows)][:groups]
        schema = self.metadata.schema
        leaves = [schema.column(i).path for i in range(len(schema))]
        wanted = [p for p in leaves if p.split(".")[0] in self.columns and p.endswith(".path")]
        self.paths = {g: _stored_paths(parquet, g, wanted, self.columns) for g in range(groups)}
        self.cells: dict[int, list[CellDigest]] = {g: [] for g in range(groups)}
        self.misplaced: set[int] = set()  # row groups whose values disagree with their paths

    def leaves(self) -> list[Leaf]:
        walkable = {g for g, paths in self.paths.items() if paths is not None}
        return [leaf for leaf in blob_leaves(self.metadata, self.columns) if leaf.group in walkable]

    def found(self, value: Value) -> None:
        """One image the pass found: paired with its stored path (by row and position), then
        checked while its head is at hand."""
        paths = self.paths[value.group]
        queue = paths.get(value.column) if paths is not None else None
        if not queue or queue[0][:2] != (value.row, value.index):
            self.misplaced.add(value.group)
            return
        _, _, stored = queue.popleft()
        row = self.first_rows[value.group] + value.row
        self.cells[value.group].append(self._check(value, row, stored))

    def _check(self, value: Value, row: int, stored: str | None) -> CellDigest:
        if value.size is None:
            return _no_bytes(row, value.column, value.index, stored)
        size = value.size
        found = check_image(stored or "image", lambda: ValueFile(value, self.reader), size)
        return _summary(
            row,
            value.column,
            value.index,
            size,
            value.sha256,
            found,
            self.deep,
            lambda: self.reader.read(value.start, size),
            stored,
        )

    def digest(self, path: str, hash_cells: bool, walked: Callable[[int], bool]) -> ShardDigest:
        """Every cell, row group by row group; a row group the pass could not walk is read with
        pyarrow, and the first one that cannot be read ends the digest with its error."""
        digests: list[CellDigest] = []
        rows = 0
        order = {name: i for i, name in enumerate(self.kinds)}
        for g in range(self.metadata.num_row_groups):
            paths = self.paths[g]
            if (
                paths is not None
                and walked(g)
                and g not in self.misplaced
                and not any(paths.values())
            ):
                cells = sorted(self.cells[g], key=lambda c: (order[c.column], c.row, _position(c)))
                digests += cells
                rows += self.metadata.row_group(g).num_rows
                continue
            found, rows, error = _read_row_group(
                self.parquet, g, self.kinds, self.columns, self.deep, hash_cells, rows
            )
            digests += found
            if error is not None:
                return ShardDigest(
                    path, 0, "", self.metadata, self.schema, tuple(digests), error, rows
                )
        return ShardDigest(path, 0, "", self.metadata, self.schema, tuple(digests), None, rows)


def _position(cell: CellDigest) -> int:
    return -1 if cell.index is None else cell.index


def _stored_paths(
    parquet: pq.ParquetFile, group: int, wanted: list[str], columns: Sequence[str]
) -> dict[str, deque[tuple[int, int | None, str | None]]] | None:
    """Per image column, (row in the group, position in a list, stored path) of every present
    struct, read from the small ``path`` leaves (``wanted``); None when they cannot be read."""
    try:
        table = parquet.read_row_group(group, columns=wanted, use_threads=False)
    except (pa.ArrowException, OSError):
        return None
    found: dict[str, deque] = {}
    for name in columns:
        if name not in table.column_names:
            return None
        cells = table.column(name).to_pylist()
        entries: deque = deque()
        for row, cell in enumerate(cells):
            if isinstance(cell, list):
                entries += (
                    (row, i, item["path"]) for i, item in enumerate(cell) if item is not None
                )
            elif isinstance(cell, dict):
                entries.append((row, None, cell.get("path")))
        found[name] = entries
    return found


def _read_row_group(
    parquet: pq.ParquetFile,
    group: int,
    kinds: Mapping[str, str],
    columns: Sequence[str],
    deep: bool,
    hash_cells: bool,
    rows: int,
) -> tuple[list[CellDigest], int, str | None]:
    """One row group with pyarrow, in batches of about BATCH_BYTES (one row at least): its cells,
    the rows read so far in the shard, and its error if it cannot be read."""
    digests: list[CellDigest] = []
    size = _batch_rows(parquet.metadata.row_group(group))
    batches = parquet.iter_batches(size, row_groups=[group], columns=columns, use_threads=False)
    try:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            cells = image_cells(table, kinds, rows)
            digests += (digest_cell(c, deep, hash_cells) for c in cells)
            rows += table.num_rows
            del table, batch
    except (pa.ArrowException, OSError) as exc:
        return digests, rows, f"row group {group} cannot be read ({_one_line(exc)})"
    return digests, rows, None


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
    import numpy as np

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
    import numpy as np
    import pyarrow.compute as pc

    values = chunk.flatten()
    # int64, no nulls: read as numpy from its buffer, whatever pyarrow's own numpy support
    indices = pc.list_parent_indices(chunk)
    start = indices.offset
    parents = np.frombuffer(indices.buffers()[1], dtype=np.int64)[start : start + len(indices)]
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
    import numpy as np

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
        return _no_bytes(cell.row, cell.column, cell.index, cell.path)
    data = cell.data
    sha256 = hashlib.sha256(data).hexdigest() if hash_bytes else None
    found = check_image(cell.path or "image", lambda: pa.BufferReader(data), len(data))
    return _summary(
        cell.row,
        cell.column,
        cell.index,
        len(data),
        sha256,
        found,
        deep,
        lambda: bytes(data),
        cell.path,
    )


def _no_bytes(row: int, column: str, index: int | None, path: str | None) -> CellDigest:
    message = (
        f"no bytes, only the path {path!r}: datasets would look for that file and fail "
        "(the 'uploaded paths, not images' failure)"
    )
    return CellDigest(row, column, index, 0, None, (message,))


def _summary(
    row: int,
    column: str,
    index: int | None,
    size: int,
    sha256: str | None,
    cheap: ImageCheck,
    deep: bool,
    whole: Callable[[], bytes],
    path: str | None,
) -> CellDigest:
    """A cell's digest from its cheap check; with ``deep`` (and no error so far), decoded as
    ``datasets`` would, ``whole()`` giving its bytes: one image at a time in the process."""
    found = cheap.problems
    decoded = deep and not any(p.severity == "error" for p in found)
    if decoded:
        with ONE_IMAGE:
            found = deep_check(path or "image", whole()).problems
    errors = tuple(p.message for p in found if p.severity == "error")
    notes = tuple(p.message for p in found if p.message == NIFTI2_WARNING)
    return CellDigest(row, column, index, size, sha256, errors, notes, decoded)
