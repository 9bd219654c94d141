"""One sequential read of a shard: its sha256, and every stored value found on the way.

The shard is read once, front to back, in blocks of ``BLOCK`` bytes. Each block goes through the
shard's sha256 and, where it holds part of a ``bytes`` leaf, to that column chunk's
:class:`~.page_stream.ChunkWalker`, which hands each value's bytes to its own tap (its first and
last bytes, its sha256 when asked). Memory stays near one block whatever the image sizes, and
no byte is read twice: the values are found, checked and hashed in the same pass that hashes the
shard. The footer says where each chunk is (:func:`blob_leaves`).

Whatever needs a value's bytes again (the NIfTI check beyond the head it kept, a decode) reads
them by range (:class:`RangeReader`), through a :class:`ValueFile` that serves what was kept.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..shards.output import OutputFolder
from .page_stream import ChunkWalker, Leaf, Value

BLOCK = 8 << 20  # bytes per read: large and sequential, and all the memory a pass holds
BYTES_LEAF = "bytes"

Progress = Callable[[int], None]


def blob_leaves(metadata: pq.FileMetaData, columns: Iterable[str]) -> list[Leaf]:
    """The ``bytes`` leaf of each of ``columns`` (``struct<bytes, path>`` or a list of them), in
    every row group, as the footer places it; in file order."""
    schema = metadata.schema
    paths = {schema.column(i).path: i for i in range(len(schema))}
    wanted = set(columns)
    ids = [
        i
        for path, i in paths.items()
        if path.split(".")[0] in wanted
        and path.endswith("." + BYTES_LEAF)
        and path[: -len(BYTES_LEAF)] + "path" in paths
    ]
    leaves = []
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for i in ids:
            chunk, column = group.column(i), schema.column(i)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
                start = min(start, chunk.dictionary_page_offset)
            leaves.append(
                Leaf(
                    group=g,
                    column=column.path.split(".")[0],
                    max_rep=column.max_repetition_level,
                    max_def=column.max_definition_level,
                    start=start,
                    size=chunk.total_compressed_size,
                    rows=group.num_rows,
                    levels=chunk.num_values,
                    compressed=chunk.compression != "UNCOMPRESSED",
                )
            )
    return sorted(leaves, key=lambda leaf: leaf.start)


@dataclass(frozen=True)
class Pass:
    """What one read of a shard found: its size and sha256, and how each chunk walk ended."""

    size: int
    sha256: str
    walkers: tuple[ChunkWalker, ...]

    def walked(self, group: int) -> bool:
        """Every chunk of row group ``group`` was walked to its end and agrees with the footer."""
        return group not in self._unfinished

    @functools.cached_property
    def _unfinished(self) -> set[int]:
        return {w.leaf.group for w in self.walkers if not w.done}


def read_once(
    output: OutputFolder,
    path: str,
    leaves: Sequence[Leaf],
    hash_values: bool,
    on_value: Callable[[Value], None] | None = None,
    progress: Progress | None = None,
) -> Pass:
    """Read ``path`` front to back once: its sha256, and each value of ``leaves`` to
    ``on_value`` (hashed when ``hash_values``) as soon as its bytes have passed."""
    walkers = [ChunkWalker(leaf, hash_values, on_value) for leaf in leaves]
    digest = hashlib.sha256()
    position, next_walker = 0, 0
    active: list[ChunkWalker] = []
    block = memoryview(bytearray(BLOCK))
    with output.open_read(path) as f:
        while n := _read_into(f, block):
            view = block[:n]
            digest.update(view)
            end = position + n
            while next_walker < len(walkers) and walkers[next_walker].leaf.start < end:
                active.append(walkers[next_walker])
                next_walker += 1
            for walker in active:
                leaf = walker.leaf
                if leaf.end > position and leaf.start < end and walker.failed is None:
                    walker.feed(
                        view[max(leaf.start, position) - position : min(leaf.end, end) - position]
                    )
            active = [w for w in active if w.leaf.end > end]
            position = end
            if progress:
                progress(n)
    for walker in walkers:
        walker.finish()
    return Pass(position, digest.hexdigest(), tuple(walkers))


def hashed_values(
    output: OutputFolder, path: str, column: str, progress: Progress | None = None
) -> tuple[Pass, dict[int, Value] | None]:
    """One read of a shard whose ``column`` holds one value per row (the ``files`` config's
    ``content``): its size and sha256, and each value hashed, by row of the shard; None for the
    values when the footer or the pages cannot be walked (read them the general way)."""
    try:
        with output.open_read(path) as f:
            metadata = pq.ParquetFile(f).metadata
    except (pa.ArrowException, OSError):
        return read_once(output, path, [], False, None, progress), None
    starts = [0]
    for g in range(metadata.num_row_groups):
        starts.append(starts[-1] + metadata.row_group(g).num_rows)
    values: dict[int, Value] = {}

    def keep(value: Value) -> None:
        values[starts[value.group] + value.row] = value

    done = read_once(output, path, blob_leaves(metadata, [column]), True, keep, progress)
    walked = all(done.walked(g) for g in range(metadata.num_row_groups))
    return done, values if walked else None


def _read_into(f: io.RawIOBase, block: memoryview) -> int:
    if hasattr(f, "readinto"):
        return f.readinto(block) or 0
    data = f.read(len(block))
    block[: len(data)] = data
    return len(data)


# reading a value again -------------------------------------------------------------------------
class RangeReader:
    """Byte ranges of one file of the output: ``pread`` on a local file, a locked seek and read
    on a remote one (opened at the first read: most shards never need one)."""

    def __init__(self, output: OutputFolder, path: str) -> None:
        self._output, self._path = output, path
        self._fd: int | None = None
        self._file: Any = None
        self._lock = threading.Lock()
        if not output.remote:
            self._fd = os.open(output.full(path), os.O_RDONLY)

    def read(self, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (fewer only at the end of the file)."""
        if self._fd is None:
            with self._lock:
                if self._file is None:
                    self._file = self._output.open_read(self._path)
                self._file.seek(start)
                return self._file.read(length)
        parts, got = [], 0
        while got < length:
            part = os.pread(self._fd, length - got, start + got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ValueFile(io.RawIOBase):
    """One stored value as a read-only file: its head and tail from what the pass kept, any other
    byte read from the shard. The NIfTI check reads the head and the last 8 bytes: no I/O."""

    def __init__(self, value: Value, reader: RangeReader) -> None:
        super().__init__()
        assert value.size is not None
        self._value, self._reader, self._pos = value, reader, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        size = self._value.size or 0
        self._pos = max(0, {0: 0, 1: self._pos, 2: size}[whence] + offset)
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int | None = -1) -> bytes:
        size = self._value.size or 0
        if n is None or n < 0:
            n = size - self._pos
        return self._read(n)

    def _read(self, n: int) -> bytes:
        value, pos = self._value, self._pos
        size = value.size or 0
        n = max(0, min(n, size - pos))
        if n == 0:
            return b""
        head, tail = value.head, value.tail
        if pos < len(head):
            data = head[pos : pos + n]
        elif pos >= size - len(tail):
            data = tail[pos - (size - len(tail)) :][:n]
        else:
            data = self._reader.read(value.start + pos, min(n, size - len(tail) - pos))
        self._pos += len(data)
        return data
