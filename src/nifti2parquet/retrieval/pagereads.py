"""Reading the pages of many files with few requests: planned per shard, streamed, split on the fly.

Each selected file is one value in a page whose place the offset index gives. From a remote store
every request is a round trip, so the pages of one shard that lie close together are read with
one request (:func:`plan_reads`: the smallest gaps first, at most ``PAGE_GAP`` unwanted bytes
per shard in all, a read at most ``MAX_READ`` bytes and ``MAX_FILES`` files, so large files
keep a request, and a thread, of their own). A read is streamed: :class:`PageWalker` parses each
page's header and levels as the bytes arrive and hands each wanted value to its writer piece by
piece, so memory stays small whatever the file sizes. A file's writer is called before the
read's request is sent (its temp file exists while the request waits).

A page holding other large values besides the wanted ones (some runs of a ``List(Nifti())``
cell) is not read whole: each wanted value is then read on its own, exactly
(:func:`~nifti2parquet.retrieval.readback.stream_value`). From a local folder every page is its own
read: nothing is saved by merging ``pread`` calls, and files are written several at once.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..shards import thrift
from .catalog import DatasetFile
from .ranges import RangeFile, RequestCounter, ShardStore
from .readback import (
    HEAD,
    BlobLeaf,
    PageSpot,
    levels_length,
    page_values,
    stream_value,
    value_number,
)

PAGE_GAP = 512 << 10  # unwanted bytes read between pages, per shard, in all (and per gap)
MAX_READ = 16 << 20  # pages merged into one read up to this many bytes...
MAX_FILES = 256  # ...and this many files
SLACK = 64 << 10  # a page is read whole when it holds at most this much besides wanted values

Write = Callable[[DatasetFile, Iterable[bytes]], None]
Held = Callable[[str, int, int], bool]  # (shard, start, length): those bytes are in memory


@dataclass(frozen=True)
class PageRead:
    """The pages of one shard read with one request (or from the shard's bytes already held),
    and the files they hold, in the order their values come. ``exact``: one file, read on its
    own by its value's exact range."""

    shard: str
    start: int
    end: int
    files: tuple[DatasetFile, ...]
    exact: bool = False


def plan_reads(
    files: Sequence[DatasetFile], remote: bool, held: Held | None = None
) -> list[PageRead]:
    """The reads that fetch ``files``' pages: coalesced per shard when ``remote``, except the
    pages ``held(shard, start, length)`` says are already in memory (each its own read)."""
    in_memory = held
    by_page: dict[tuple[str, int], list[DatasetFile]] = defaultdict(list)
    for file in files:
        spot = _spot(file)
        by_page[(file.location.shard, spot.offset)].append(file)
    reads: list[PageRead] = []
    pages: dict[str, list[tuple[int, int, list[DatasetFile]]]] = defaultdict(list)
    for (shard, offset), held in sorted(by_page.items()):
        held.sort(key=lambda f: (f.location.row, f.location.index))
        size = _spot(held[0]).size
        if size - sum(4 + f.size for f in held) > SLACK:
            reads += [PageRead(shard, offset, offset + size, (f,), exact=True) for f in held]
        elif in_memory is not None and in_memory(shard, offset, size):
            reads.append(PageRead(shard, offset, offset + size, tuple(held)))
        else:
            pages[shard].append((offset, offset + size, held))
    for shard, spans in sorted(pages.items()):
        if not remote:
            reads += [PageRead(shard, start, end, tuple(held)) for start, end, held in spans]
            continue
        for first, last in _groups(spans):
            held = [f for _, _, group in spans[first : last + 1] for f in group]
            reads.append(PageRead(shard, spans[first][0], spans[last][1], tuple(held)))
    return reads


def _spot(file: DatasetFile) -> PageSpot:
    return file.location.leaf.page_of(file.location.row)


def _groups(spans: list[tuple[int, int, list[DatasetFile]]]) -> list[tuple[int, int]]:
    """Runs of ``spans`` (sorted pages) read together: the smallest gaps joined first, while the
    gaps read stay within ``PAGE_GAP`` and a read within ``MAX_READ`` bytes and ``MAX_FILES``."""
    n = len(spans)
    first, last = list(range(n)), list(range(n))  # each run's bounds, kept at its two ends
    files = [len(held) for _, _, held in spans]
    gaps = sorted((spans[k + 1][0] - spans[k][1], k) for k in range(n - 1))
    spent = 0
    for gap, k in gaps:
        if spent + max(0, gap) > PAGE_GAP:
            break
        a, b = first[k], last[k + 1]
        count = files[a] + files[k + 1]
        if spans[b][1] - spans[a][0] > MAX_READ or count > MAX_FILES:
            continue
        spent += max(0, gap)
        first[b], last[a], files[a] = a, b, count
    runs, k = [], 0
    while k < n:
        runs.append((k, last[k]))
        k = last[k] + 1
    return runs


class PageFetch:
    """One :class:`PageRead` against a store: its request, its pages parsed, its files written."""

    def __init__(
        self,
        read: PageRead,
        store: ShardStore,
        counter: RequestCounter,
        held: RangeFile | None = None,
    ) -> None:
        self.read, self.store, self.counter, self.held = read, store, counter, held

    @property
    def files(self) -> tuple[DatasetFile, ...]:
        return self.read.files

    @property
    def requests(self) -> bool:
        """Whether this read asks the store (its bytes are not all held in memory)."""
        read = self.read
        return self.held is None or self.held.held(read.start, read.end - read.start) is None

    def run(self, write: Write) -> None:
        """Hand each file's pieces to ``write(file, pieces)``, in order."""
        if self.read.exact:
            file = self.read.files[0]
            write(file, stream_value(self._exact, file.location))
            return
        walker = PageWalker(self._pieces(), self.read.start)
        for file in self.read.files:
            write(file, walker.value(file.location.leaf, _spot(file), file))

    def pieces(self) -> Iterator[bytes]:
        """The one file of this read, piece by piece."""
        file = self.read.files[0]
        if self.read.exact:
            return stream_value(self._exact, file.location)
        return PageWalker(self._pieces(), self.read.start).value(
            file.location.leaf, _spot(file), file
        )

    def _pieces(self) -> Iterator[bytes]:
        start, end = self.read.start, self.read.end
        data = self.held.held(start, end - start) if self.held is not None else None
        if data is not None:
            yield data
            return
        counter = self.counter
        counter.add(0)  # one request
        for piece in self.store.stream(self.read.shard, start, end - start):
            counter.add(len(piece), requests=0)
            yield piece

    def _exact(self, start: int, length: int) -> bytes:
        held = self.held.held(start, length) if self.held is not None else None
        if held is not None:
            return held
        data = self.store.read(self.read.shard, start, length)
        self.counter.add(len(data))
        return data


class ByteReader:
    """A stream of pieces read in order: take small parts, skip, or pass large parts through
    (a whole piece is passed on as it came, without a copy)."""

    def __init__(self, pieces: Iterator[bytes], position: int) -> None:
        self._pieces = pieces
        self._piece = b""
        self._offset = 0  # bytes of the current piece already consumed
        self.position = position

    def _part(self, n: int) -> bytes:
        """Up to ``n`` bytes of the current piece (the next one if it is consumed)."""
        while self._offset == len(self._piece):
            piece = next(self._pieces, None)
            if piece is None:
                raise OSError("the read ended before the page did")
            self._piece, self._offset = piece, 0
        piece, start = self._piece, self._offset
        end = min(len(piece), start + n)
        self._offset = end
        self.position += end - start
        return piece if start == 0 and end == len(piece) else piece[start:end]

    def take(self, n: int) -> bytes:
        parts = []
        while n > 0:
            parts.append(self._part(n))
            n -= len(parts[-1])
        return b"".join(parts)

    def skip(self, n: int) -> None:
        while n > 0:
            n -= len(self._part(n))

    def pass_through(self, n: int) -> Iterator[bytes]:
        while n > 0:
            part = self._part(n)
            n -= len(part)
            yield part

    def unread(self, data: bytes) -> None:
        """Put back ``data``, the bytes just taken."""
        rest = self._piece[self._offset :]
        self._piece, self._offset = data + rest, 0
        self.position -= len(data)


class PageWalker:
    """The values of the pages of one read, in the order they come."""

    def __init__(self, pieces: Iterator[bytes], start: int) -> None:
        self.reader = ByteReader(pieces, start)
        self._page: PageSpot | None = None
        self._values: list[bytes] | None = None  # a page that had to be read whole
        self._head = b""
        self._next = 0  # the number of the page's next value

    def value(self, leaf: BlobLeaf, spot: PageSpot, file: DatasetFile) -> Iterator[bytes]:
        """The pieces of ``file``'s value (its page at ``spot``); values are asked for in order."""
        if self._page != spot:
            self._open(leaf, spot)
        wanted = value_number(
            self._head, leaf, file.location.row - spot.first_row, file.location.index
        )
        if self._values is not None:
            yield self._values[wanted]
            return
        if wanted < self._next:
            raise ValueError(f"{leaf.leaf}: values of a page asked for out of order")
        reader = self.reader
        while self._next < wanted:
            reader.skip(struct.unpack("<i", reader.take(4))[0])
            self._next += 1
        size = struct.unpack("<i", reader.take(4))[0]
        self._next += 1
        yield from reader.pass_through(size)

    def _open(self, leaf: BlobLeaf, spot: PageSpot) -> None:
        """Move to the page at ``spot`` and read its header and levels."""
        reader = self.reader
        if spot.offset < reader.position:
            raise ValueError(f"{leaf.leaf}: pages of a read asked for out of order")
        reader.skip(spot.offset - reader.position)
        head = reader.take(min(spot.size, HEAD))
        header, body = thrift.decode(head)
        plain = not leaf.codec and header.get(1) == 0
        end = body + levels_length(head, body, leaf) if plain else len(head) + 1
        self._page, self._next = spot, 0
        if end > len(head):  # compressed, or levels longer than the head: the page whole
            page = head + reader.take(spot.size - len(head))
            self._head, self._values = page, page_values(page, leaf)
            return
        self._head, self._values = head, None
        reader.unread(head[end:])


def fetches(
    reads: Sequence[PageRead],
    store: ShardStore,
    counter: RequestCounter,
    held: Mapping[str, RangeFile],
) -> list[PageFetch]:
    """A :class:`PageFetch` per read; the bytes of a shard ``held`` in memory (what the catalog
    read of it) are not fetched again. Reads that make a request come first, the largest
    first: they start while the files already in memory are written."""
    out = [PageFetch(read, store, counter, held.get(read.shard)) for read in reads]
    return sorted(out, key=lambda f: (not f.requests, -(f.read.end - f.read.start)))


def held_by(held: Mapping[str, RangeFile]) -> Held:
    """Whether bytes of a shard are in ``held``'s spans."""

    def check(shard: str, start: int, length: int) -> bool:
        source = held.get(shard)
        return source is not None and source.held(start, length) is not None

    return check
