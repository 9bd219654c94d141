"""Reading a built dataset's shards by byte ranges, wherever they are: a local folder or the Hub.

Export and the lazy reader never need a whole shard. They need its footer, a few small columns and,
for each selected file, the one page that holds it; the offset index says where that page is. So
everything above this module talks to a :class:`ShardStore` (list the shards, read or stream a
byte range of one), and the same code serves a local OUTPUT_DIR (``pread``) and a Hub repo (HTTP
range requests, ``hub_store``).

From the Hub every request is a round trip, so reads are planned to need few of them: the end of a
shard is read in one request sized to hold its footer and page indexes (:class:`TailGuess` learns
that size from the shards already read), and ranges close together are read as one
(:func:`coalesce`, within a budget of bytes nobody asked for). :class:`RangeFile` lets pyarrow
read a shard's small columns from the spans fetched that way, and counts every byte fetched, so a
test can hold the export to its byte and request budget.
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

TAIL = 256 << 10  # the first guess of the bytes at a shard's end holding its footer and indexes
MAX_TAIL = 1 << 20
STREAM_PIECE = 1 << 20  # a streamed range arrives in pieces of about this size


@dataclass(frozen=True)
class StoredFile:
    """A shard as listed by its store: path relative to the dataset root, size in bytes."""

    path: str
    size: int


class ShardStore(Protocol):
    """A built dataset's files, by path relative to its root, read by byte ranges."""

    where: str  # how messages name it: a folder, or repo@revision
    remote: bool  # every read is a round trip (plan reads to need few of them)

    def list(self, folder: str) -> list[StoredFile]:
        """The files directly under ``folder`` (e.g. ``data``), sorted by path."""
        ...

    def read(self, path: str, start: int, length: int) -> bytes:
        """Exactly ``length`` bytes of ``path`` from ``start`` (one request when remote)."""
        ...

    def stream(self, path: str, start: int, length: int) -> Iterator[bytes]:
        """The same bytes in pieces, as they arrive (one request when remote): nothing is held
        whole in memory. The request is made at the first ``next()``."""
        ...


class LocalStore:
    """A local OUTPUT_DIR: ranges read with ``os.pread`` from files opened once."""

    remote = False

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

    def stream(self, path: str, start: int, length: int) -> Iterator[bytes]:
        end = start + length
        while start < end:
            piece = self.read(path, start, min(STREAM_PIECE, end - start))
            start += len(piece)
            yield piece

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


class RequestCounter:
    """Bytes and requests fetched from a store (thread-safe), for the summary and the tests."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0
        self._lock = threading.Lock()

    def add(self, n: int, requests: int = 1) -> None:
        with self._lock:
            self.bytes += n
            self.requests += requests


class TailGuess:
    """How many bytes to read, in one request, from the end of a shard: enough for its footer and
    page indexes. Shards of one split share their schema, so the largest end seen so far (plus a
    margin) is the guess for the next; the first guesses are ``TAIL`` (thread-safe)."""

    def __init__(self, initial: int = TAIL, ceiling: int = MAX_TAIL) -> None:
        self.size = initial
        self.ceiling = ceiling
        self._lock = threading.Lock()

    def learn(self, needed: int) -> None:
        """A shard's footer and indexes took its last ``needed`` bytes."""
        with self._lock:
            self.size = min(self.ceiling, max(self.size, needed + needed // 8 + (4 << 10)))


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over one shard of a store, for pyarrow.

    Reads are served from spans fetched earlier (:meth:`tail`, :meth:`prefetch`); a read outside
    them is fetched on its own. Every fetched byte is counted in ``counter``.
    """

    def __init__(self, store: ShardStore, shard: StoredFile, counter: RequestCounter) -> None:
        super().__init__()
        self.store, self.shard, self.counter = store, shard, counter
        self._starts: list[int] = []
        self._spans: list[bytes] = []
        self._pos = 0
        self._lock = threading.Lock()  # spans may be fetched by several threads at once

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
        found = self.held(start, length)
        if found is not None:
            return found
        data = self.fetch(start, length)
        self._keep(start, data)
        return data

    def held(self, start: int, length: int) -> bytes | None:
        """The bytes [start, start + length) if a fetched span holds them all, else None."""
        with self._lock:
            i = bisect.bisect_right(self._starts, start) - 1
            if i >= 0 and start + length <= self._starts[i] + len(self._spans[i]):
                offset = start - self._starts[i]
                return self._spans[i][offset : offset + length]
        return None

    @property
    def held_bytes(self) -> int:
        """The bytes of the spans fetched so far."""
        with self._lock:
            return sum(len(span) for span in self._spans)

    def fetch(self, start: int, length: int) -> bytes:
        """One read from the store, counted."""
        data = self.store.read(self.shard.path, start, length)
        self.counter.add(len(data))
        return data

    def prefetch(self, ranges: Sequence[tuple[int, int]], max_gap: int, budget: int) -> None:
        """Fetch the parts of ``ranges`` ((start, end) pairs) not held yet, neighbours merged
        into one request when the bytes between them (at most ``max_gap`` each, ``budget`` in
        all) are worth less than a round trip."""
        for span in self.plan(ranges, max_gap, budget):
            self.fetch_span(span)

    def plan(
        self, ranges: Sequence[tuple[int, int]], max_gap: int, budget: int
    ) -> list[tuple[int, int]]:
        """The requests :meth:`prefetch` would make (to make them elsewhere, at once)."""
        return coalesce(self.missing(ranges), max_gap, budget)

    def fetch_span(self, span: tuple[int, int]) -> None:
        """Fetch and hold the bytes [start, end) (thread-safe)."""
        start, end = span
        self._keep(start, self.fetch(start, end - start))

    def missing(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """The parts of ``ranges`` that no fetched span holds."""
        with self._lock:
            return self._missing(ranges)

    def _missing(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        out = []
        for start, end in ranges:
            i = max(0, bisect.bisect_right(self._starts, start) - 1)
            position = start
            while i < len(self._starts) and self._starts[i] < end:
                held_start, held_end = self._starts[i], self._starts[i] + len(self._spans[i])
                if held_end > position:
                    if held_start > position:
                        out.append((position, held_start))
                    position = held_end
                i += 1
            if position < end:
                out.append((position, end))
        return out

    def tail(self, guess: TailGuess | None = None) -> tuple[int, int]:
        """Fetch the shard's end, footer included; (footer start, footer length).

        One request of ``guess.size`` bytes (the whole shard if it is smaller) usually holds the
        footer and the page indexes before it; a longer footer takes a second request.
        """
        size = self.shard.size
        if size < 12:
            raise ValueError("not a Parquet file (too small)")
        n = min(size, guess.size if guess else 8)
        end = self.pread(size - n, n)[-8:]
        if end[4:] != b"PAR1":
            raise ValueError("not a Parquet file (no PAR1 at its end)")
        length = int.from_bytes(end[:4], "little")
        start = size - 8 - length
        if start < 4:
            raise ValueError("not a Parquet file (footer longer than the file)")
        self.prefetch([(start, size - 8)], 0, 0)
        return start, length

    def _keep(self, start: int, data: bytes) -> None:
        with self._lock:
            self._merge(start, data)

    def _merge(self, start: int, data: bytes) -> None:
        """Hold ``data`` fetched at ``start``, merged with the spans it touches."""
        end = start + len(data)
        i = bisect.bisect_left(self._starts, start)
        if i > 0 and self._starts[i - 1] + len(self._spans[i - 1]) >= start:
            i -= 1
        j = i
        while j < len(self._starts) and self._starts[j] <= end:
            j += 1
        if i == j:
            self._starts.insert(i, start)
            self._spans.insert(i, data)
            return
        first = min(start, self._starts[i])
        last = max(end, self._starts[j - 1] + len(self._spans[j - 1]))
        merged = bytearray(last - first)
        for s, span in zip(self._starts[i:j], self._spans[i:j]):
            merged[s - first : s - first + len(span)] = span
        merged[start - first : end - first] = data
        self._starts[i:j] = [first]
        self._spans[i:j] = [bytes(merged)]


def coalesce(
    ranges: Sequence[tuple[int, int]], max_gap: int = 0, budget: int = 0
) -> list[tuple[int, int]]:
    """Sorted (start, end) ranges, overlapping or touching ones merged, and neighbours merged when
    the gap between them is at most ``max_gap``, the smallest gaps first, until the gaps read in
    all would exceed ``budget``: the fewest requests for at most ``budget`` unwanted bytes."""
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    gaps = sorted((merged[k + 1][0] - merged[k][1], k) for k in range(len(merged) - 1))
    join, spent = set(), 0
    for gap, k in gaps:
        if gap > max_gap or spent + gap > budget:
            break
        join.add(k)
        spent += gap
    out: list[tuple[int, int]] = []
    for k, (start, end) in enumerate(merged):
        if k - 1 in join:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out
