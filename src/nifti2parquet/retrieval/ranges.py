"""Reading a built dataset's shards by byte ranges, wherever they are: a local folder or the Hub.

Export and the lazy reader never need a whole shard. They need its footer, a few small columns and,
for each selected file, the one page that holds it; the offset index says where that page is. So
everything above this module talks to a :class:`ShardStore` (list the shards, read a byte range of
one), and the same code serves a local OUTPUT_DIR (``pread``) and a Hub repo (HTTP range requests,
``hub.fetch``).

:class:`RangeFile` lets pyarrow read a shard's footer and small columns through such a store: it
serves pyarrow's reads from ranges fetched ahead (coalesced, never across an image chunk) and
counts every byte it fetched, so a test can hold the export to its byte budget.
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

GAP = 4 << 10  # small ranges this close are fetched in one request (never across an image chunk)


@dataclass(frozen=True)
class StoredFile:
    """A shard as listed by its store: path relative to the dataset root, size in bytes."""

    path: str
    size: int


class ShardStore(Protocol):
    """A built dataset's files, by path relative to its root, read by byte ranges."""

    where: str  # how messages name it: a folder, or repo@revision

    def list(self, folder: str) -> list[StoredFile]:
        """The files directly under ``folder`` (e.g. ``data``), sorted by path."""
        ...

    def read(self, path: str, start: int, length: int) -> bytes:
        """Exactly ``length`` bytes of ``path`` from ``start`` (one request when remote)."""
        ...


class LocalStore:
    """A local OUTPUT_DIR: ranges read with ``os.pread`` from files opened once."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.where = self.root
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def list(self, folder: str) -> list[StoredFile]:
        path = os.path.join(self.root, folder)
        if not os.path.isdir(path):
            return []
        return [
            StoredFile(f"{folder}/{name}", os.path.getsize(os.path.join(path, name)))
            for name in sorted(os.listdir(path))
            if os.path.isfile(os.path.join(path, name))
        ]

    def read(self, path: str, start: int, length: int) -> bytes:
        fd = self._fd(path)
        data = os.pread(fd, length, start)
        while len(data) < length:  # pread may return less on some filesystems
            more = os.pread(fd, length - len(data), start + len(data))
            if not more:
                raise OSError(f"{path}: file ends before byte {start + length}")
            data += more
        return data

    def _fd(self, path: str) -> int:
        with self._lock:
            if path not in self._fds:
                self._fds[path] = os.open(os.path.join(self.root, path), os.O_RDONLY)
            return self._fds[path]

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


class Counter:
    """Bytes and requests fetched from a store (thread-safe), for the summary and the tests."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            self.requests += 1


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over one shard of a store, for pyarrow.

    Reads are served from spans fetched earlier (:meth:`prefetch`); a read outside them is
    fetched on its own. Every fetched byte is counted in ``counter``.
    """

    def __init__(self, store: ShardStore, shard: StoredFile, counter: Counter) -> None:
        super().__init__()
        self.store, self.shard, self.counter = store, shard, counter
        self._starts: list[int] = []
        self._spans: list[bytes] = []
        self._pos = 0

    # what pyarrow calls --------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.shard.size}[whence]
        self._pos = base + offset
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self.shard.size - self._pos
        n = max(0, min(n, self.shard.size - self._pos))
        data = self.pread(self._pos, n)
        self._pos += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    # ranges --------------------------------------------------------------------------------
    def pread(self, start: int, length: int) -> bytes:
        """``length`` bytes from ``start``: from a fetched span when one holds them."""
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and start + length <= self._starts[i] + len(self._spans[i]):
            offset = start - self._starts[i]
            return self._spans[i][offset : offset + length]
        data = self.fetch(start, length)
        self._keep(start, data)
        return data

    def fetch(self, start: int, length: int) -> bytes:
        """One read from the store, counted."""
        data = self.store.read(self.shard.path, start, length)
        self.counter.add(len(data))
        return data

    def prefetch(self, ranges: Sequence[tuple[int, int]], barriers: Sequence[tuple[int, int]] = ()):
        """Fetch ``ranges`` ((start, end) pairs), neighbours within GAP bytes in one request, but
        never a request that spans one of the ``barriers`` (the image chunks)."""
        for start, end in coalesce(ranges, barriers):
            self._keep(start, self.fetch(start, end - start))

    def tail(self) -> tuple[int, int]:
        """Fetch the shard's footer; (footer start, footer length).

        Two exact reads (the last 8 bytes give the footer's length, then the footer) rather than
        one guessed tail: a guess would read pages of a small shard that nobody asked for.
        """
        size = self.shard.size
        if size < 12:
            raise ValueError("not a Parquet file (too small)")
        end = self.pread(size - 8, 8)
        if end[4:] != b"PAR1":
            raise ValueError("not a Parquet file (no PAR1 at its end)")
        length = int.from_bytes(end[:4], "little")
        start = size - 8 - length
        if start < 4:
            raise ValueError("not a Parquet file (footer longer than the file)")
        self._keep(start, self.fetch(start, length) + end)
        return start, length

    def _keep(self, start: int, data: bytes) -> None:
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._spans.insert(i, data)


def coalesce(
    ranges: Sequence[tuple[int, int]], barriers: Sequence[tuple[int, int]] = (), gap: int = GAP
) -> list[tuple[int, int]]:
    """Sorted (start, end) ranges merged when at most ``gap`` apart and no barrier lies between."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged:
            last_start, last_end = merged[-1]
            blocked = any(last_end <= b_start < start for b_start, _ in barriers)
            if start - last_end <= gap and not blocked:
                merged[-1] = (last_start, max(last_end, end))
                continue
        merged.append((start, end))
    return merged
