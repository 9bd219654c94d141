"""The values of a ``bytes`` leaf, found in a shard's bytes as they stream past.

Our writer frames each image (or stored file) as one PLAIN value in an uncompressed data page
(v1) of its own row: a small Thrift header, the row's repetition and definition levels, then each
value as a 4-byte length and the bytes exactly as on disk (see :mod:`..shards.pages`). So the
values of a column chunk can be found by reading the chunk once, in order, without ever holding a
value: a :class:`ChunkWalker` is fed the chunk's bytes as the shard is read sequentially, parses
each page's header and levels (a few bytes), and passes each value's bytes, piece by piece, to a
:class:`ValueTap` that keeps only its first and last bytes and, when asked, its sha256.

Anything else (a compressed or dictionary-encoded page, a v2 page, levels that disagree with the
footer, a chunk that ends inside a page) stops the walker with a reason; the caller then reads that
row group the general way, with pyarrow. Pages are checked strictly, so a walker that finishes
found exactly the values, rows and levels the footer promises.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass

from ..retrieval.readback import rle_decode
from ..shards import thrift

DATA_PAGE = 0
PLAIN = 0
RLE = 3
HEADER_GUESS = 256  # bytes peeked to decode a page header; doubled while too short
MAX_HEADER = 64 << 10  # a longer page header is not one our writer makes
HEAD = 80 << 10  # first bytes of each value kept: what the NIfTI check reads (64 KiB at most)
TAIL = 8  # last bytes of each value kept: a gzip trailer


class Unwalkable(Exception):
    """The chunk is not framed as our writer frames it (or is damaged): read it another way."""


@dataclass(frozen=True)
class Leaf:
    """A ``bytes`` leaf as the footer describes it in one row group."""

    group: int
    column: str  # the top-level column (``t1w``, ``content``)
    max_rep: int
    max_def: int
    start: int  # the chunk's first byte in the shard
    size: int  # its bytes on disk
    rows: int  # rows of the row group
    levels: int  # level entries of the chunk (the footer's ``num_values``)
    compressed: bool

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Value:
    """One present struct of a ``bytes`` leaf: its bytes' place, size, first and last bytes."""

    group: int
    column: str
    row: int  # row within the row group
    index: int | None  # position in a list cell, else None
    start: int  # offset of its first byte in the shard (-1: no bytes)
    size: int | None  # None when the struct holds a path and no bytes
    head: bytes = b""  # its first HEAD bytes
    tail: bytes = b""  # its last TAIL bytes
    sha256: str | None = None  # when the walker was asked to hash values


class ValueTap:
    """Receives one value's bytes in pieces: keeps its head and tail, hashes it when asked."""

    def __init__(self, hash_value: bool) -> None:
        self.head = bytearray()
        self.tail = b""
        self.digest = hashlib.sha256() if hash_value else None

    def __call__(self, piece: memoryview) -> None:
        if len(self.head) < HEAD:
            self.head += piece[: HEAD - len(self.head)]
        if len(piece) >= TAIL:
            self.tail = bytes(piece[-TAIL:])
        else:
            self.tail = (self.tail + bytes(piece))[-TAIL:]
        if self.digest is not None:
            self.digest.update(piece)


# the driver: bytes pushed in, the page parser pulls what it needs ------------------------------
_PEEK, _TAKE, _STREAM = range(3)
_Request = tuple[int, int, "Callable[[memoryview], None] | None"]
_Parser = Generator[_Request, "bytes | None", None]


class ChunkWalker:
    """Walks one column chunk of a ``bytes`` leaf as its bytes are fed in file order.

    ``on_value`` is called with each present struct, in order, as soon as its bytes have passed.
    ``failed`` says why the walk stopped early (the rest of the chunk is then ignored).
    """

    def __init__(
        self, leaf: Leaf, hash_values: bool, on_value: Callable[[Value], None] | None = None
    ) -> None:
        self.leaf = leaf
        self.hash_values = hash_values
        self.on_value = on_value
        self.failed: str | None = None
        self.taken = 0  # chunk bytes the parser consumed
        self._left = leaf.size  # chunk bytes not fed yet
        self._buffer = bytearray()  # bytes fed, not yet taken by the parser
        self._parser: _Parser = _pages(self)
        self._request: _Request | None = None
        if leaf.compressed:
            self._fail("compressed pages")
        elif leaf.max_rep > 1:
            self._fail("nested lists")
        else:
            self._send(None)

    @property
    def done(self) -> bool:
        """Every page was read and checked against the footer."""
        return self.failed is None and self._request is None

    def feed(self, view: memoryview) -> None:
        """The next bytes of the chunk (a view into the caller's buffer: not kept)."""
        self._left -= len(view)
        pos = 0
        while self._request is not None:
            op, n, sink = self._request
            if op == _STREAM:
                pos = self._stream(view, pos, n, sink)
                if self._request is not None and self._request[0] == _STREAM:
                    return  # more of this value in the next pieces
                continue
            if op == _PEEK:
                n = min(n, len(self._buffer) + len(view) - pos + self._left)
            short = n - len(self._buffer)
            if short > 0:
                taken = view[pos : pos + short]
                self._buffer += taken
                pos += len(taken)
                if len(self._buffer) < n:
                    return  # wait for the next piece
            data = bytes(self._buffer[:n])
            if op == _TAKE:
                del self._buffer[:n]
                self.taken += n
            self._send(data)

    def finish(self) -> None:
        """The whole chunk was fed (or the file ended): a page left unread is a failure."""
        if self._request is not None:
            self._fail("the chunk ends inside a page")

    def _stream(self, view: memoryview, pos: int, n: int, sink) -> int:
        if self._buffer:  # a few bytes peeked past a header: copied, so the buffer can shrink
            k = min(n, len(self._buffer))
            sink(memoryview(bytes(self._buffer[:k])))
            del self._buffer[:k]
            n -= k
            self.taken += k
        k = min(n, len(view) - pos)
        if k:
            sink(view[pos : pos + k])
            self.taken += k
        pos, n = pos + k, n - k
        if n:
            self._request = (_STREAM, n, sink)
        else:
            self._send(None)
        return pos

    def _send(self, data: bytes | None) -> None:
        try:
            self._request = self._parser.send(data)
        except StopIteration:
            self._request = None
        except Unwalkable as exc:
            self._fail(str(exc))
        except (IndexError, ValueError, KeyError, TypeError, struct.error, RecursionError) as exc:
            self._fail(f"unreadable page ({type(exc).__name__})")

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
        self._request = None
        self._buffer = bytearray()


# the page parser ----------------------------------------------------------------------------------
def _pages(walker: ChunkWalker) -> _Parser:
    """Every page of the chunk: header, levels, values; then the totals against the footer."""
    leaf = walker.leaf
    rows, levels = 0, 0
    while walker.taken < leaf.size:
        header = yield from _page_header()
        body, count = _check_header(header)
        if body > leaf.size - walker.taken or count > leaf.levels - levels:
            raise Unwalkable("a page overruns its chunk")
        reps, defs, left = None, None, body
        if leaf.max_rep:
            reps, left = yield from _level_block(leaf.max_rep, count, left)
            if count and reps[0] != 0:
                raise Unwalkable("a page starts inside a row")
        if leaf.max_def:
            defs, left = yield from _level_block(leaf.max_def, count, left)
        rows, left = yield from _page_values(walker, rows, reps, defs, count, left)
        if left != 0:
            raise Unwalkable("a page's values do not fill its body")
        levels += count
    if rows != leaf.rows or levels != leaf.levels:
        expected = f"the footer says {leaf.rows:,} and {leaf.levels:,}"
        raise Unwalkable(f"{rows:,} rows and {levels:,} levels, {expected}")


def _page_header() -> Generator[_Request, bytes | None, thrift.Struct]:
    guess = HEADER_GUESS
    while True:
        head = yield (_PEEK, guess, None)
        assert head is not None
        try:
            header, size = thrift.decode(head)
        except (IndexError, struct.error):
            if len(head) < guess:
                raise Unwalkable("a page header is cut short") from None
            if guess >= MAX_HEADER:
                raise Unwalkable("a page header too long") from None
            guess = min(MAX_HEADER, guess * 4)
            continue
        yield (_TAKE, size, None)
        return header


def _check_header(header: thrift.Struct) -> tuple[int, int]:
    """(body bytes, level entries) of a data page v1 of PLAIN values, uncompressed; else refuse."""
    if header.get(1) != DATA_PAGE:
        raise Unwalkable(f"page type {header.get(1)}, not a v1 data page")
    body = header.get(3)
    if not isinstance(body, int) or body != header.get(2) or body < 0:
        raise Unwalkable("a compressed page")
    data_page = header.get(5)
    if not isinstance(data_page, thrift.Struct) or data_page.get(2) != PLAIN:
        raise Unwalkable("values not PLAIN-encoded")
    if data_page.get(3) != RLE or data_page.get(4) != RLE:
        raise Unwalkable("levels not RLE-encoded")
    count = data_page.get(1)
    if not isinstance(count, int) or count < 0:
        raise Unwalkable("no value count")
    return body, count


def _level_block(
    max_level: int, count: int, left: int
) -> Generator[_Request, bytes | None, tuple[list[int], int]]:
    """A block of levels (its 4-byte length, then the RLE / bit-packed runs), decoded; and the
    page body bytes left after it."""
    length = yield (_TAKE, 4, None)
    assert length is not None
    (n,) = struct.unpack("<i", length)
    if n < 0 or 4 + n > left or n > 16 + 6 * count:  # 6 bytes a level: more than any encoding
        raise Unwalkable("a level block of impossible length")
    data = yield (_TAKE, n, None)
    assert data is not None
    levels = rle_decode(data, max_level.bit_length(), count)
    if len(levels) != count or any(v > max_level for v in levels):
        raise Unwalkable("levels disagree with the page's value count")
    return levels, left - 4 - n


def _page_values(
    walker: ChunkWalker,
    rows: int,
    reps: list[int] | None,
    defs: list[int] | None,
    count: int,
    left: int,
) -> Generator[_Request, bytes | None, tuple[int, int]]:
    """Each entry of the page's levels, in order: present structs to ``on_value``, each value's
    bytes through a tap. Returns the rows seen so far in the chunk and the body bytes left."""
    leaf = walker.leaf
    row, index = rows - 1, -1
    for i in range(count):
        level = defs[i] if defs is not None else leaf.max_def
        if reps is None or reps[i] == 0:
            row, index = row + 1, -1
        if leaf.max_rep and level >= leaf.max_def - 2:
            index += 1  # an element of the list (null or not)
        if level < leaf.max_def - 1:
            continue  # no struct here: a null image, a null or empty list, a null element
        position = index if leaf.max_rep else None
        if level == leaf.max_def - 1:  # a struct with a path and no bytes
            _emit(walker, Value(leaf.group, leaf.column, row, position, -1, None))
            continue
        prefix = yield (_TAKE, 4, None)
        assert prefix is not None
        (size,) = struct.unpack("<i", prefix)
        left -= 4 + size
        if size < 0 or left < 0:
            raise Unwalkable("a value overruns its page")
        start = leaf.start + walker.taken
        tap = ValueTap(walker.hash_values)
        if size:
            yield (_STREAM, size, tap)
        sha256 = tap.digest.hexdigest() if tap.digest is not None else None
        head = bytes(tap.head)
        _emit(
            walker,
            Value(leaf.group, leaf.column, row, position, start, size, head, tap.tail, sha256),
        )
    return row + 1, left


def _emit(walker: ChunkWalker, value: Value) -> None:
    if walker.on_value is not None:
        walker.on_value(value)
