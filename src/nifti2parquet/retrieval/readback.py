"""Reading our shards back without reading their images: footer, small columns, one page at a time.

A shard's image (and file) bytes sit in ``bytes`` leaves of ``struct<bytes, path>`` columns, one
PLAIN value per image in the page of its row; the footer's offset index says where each page
starts and which row it begins with. :func:`read_footer` reads the footer and the offset index of
every ``bytes`` leaf (from a remote store, usually in one request: they end the file);
:func:`read_columns` then reads the small leaves a caller asks for (the ``path`` of each image,
the files index columns), in the row groups it asks for; :func:`open_shard` does both.
:func:`read_value` and :func:`stream_value` read exactly one value's page; ``pagereads`` reads
many pages at once. Levels are decoded in full, so pages holding several rows (or compressed
pages, which our writer never makes) are read correctly too.
"""

from __future__ import annotations

import bisect
import functools
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..shards import thrift
from .chunkscan import ChunkScan, scan_footer
from .ranges import RangeFile, RequestCounter, ShardStore, StoredFile, TailGuess

BYTES_LEAF = "bytes"
CODECS = {1: "snappy", 2: "gzip", 4: "brotli", 5: "lz4", 6: "zstd", 7: "lz4_raw"}


@dataclass(frozen=True)
class PageSpot:
    """One page of a ``bytes`` leaf: where it is in the file and the first row it holds."""

    offset: int
    size: int
    first_row: int


@dataclass(frozen=True)
class BlobLeaf:
    """A ``bytes`` leaf in one row group: its levels, codec and pages (from the offset index)."""

    column: str  # the top-level column (``t1w``, ``content``)
    leaf: str  # its path in the schema (``t1w.list.element.bytes``)
    max_rep: int
    max_def: int
    codec: int
    pages: tuple[PageSpot, ...]

    def page_of(self, row: int) -> PageSpot:
        """The page holding ``row`` (of the row group): the last one starting at or before it."""
        return self.pages[max(0, bisect.bisect_right(self._first_rows, row) - 1)]

    @functools.cached_property
    def _first_rows(self) -> list[int]:
        return [page.first_row for page in self.pages]


@dataclass(frozen=True)
class Location:
    """Where one stored value is: shard, row group, leaf, row in the group, position in a list."""

    shard: str
    row_group: int
    leaf: BlobLeaf
    row: int
    index: int  # 0 for a single image; the position in a List(Nifti()) cell


@dataclass(frozen=True)
class ShardIndex:
    """What is read of a shard without its images."""

    shard: StoredFile
    metadata: pq.FileMetaData
    groups: tuple[pa.Table, ...]  # the small columns asked for, per row group
    blobs: tuple[dict[str, BlobLeaf], ...]  # per row group: top-level column -> its bytes leaf
    row_starts: tuple[int, ...]  # first row of each row group within the shard


@dataclass(frozen=True)
class ShardFooter:
    """A shard's footer, parsed by pyarrow; the pages of its ``bytes`` leaves when asked for."""

    source: RangeFile  # the shard, with the spans fetched so far
    raw: bytes = field(repr=False)  # the footer as stored
    metadata: pq.FileMetaData
    leaves: tuple[Any, ...]  # the schema's leaves (pyarrow ColumnSchema)
    blob_ids: tuple[int, ...]  # the leaves that are ``bytes`` of a struct<bytes, path>
    row_starts: tuple[int, ...]  # first row of each row group within the shard

    @property
    def shard(self) -> StoredFile:
        return self.source.shard

    @property
    def groups(self) -> int:
        return self.metadata.num_row_groups

    def path_leaves(self) -> list[int]:
        """The ``path`` leaf beside each ``bytes`` leaf: every image's stored path."""
        beside = {self.leaves[i].path[: -len(BYTES_LEAF)] + "path" for i in self.blob_ids}
        return [i for i, leaf in enumerate(self.leaves) if leaf.path in beside]

    def span(self, group: int, leaf: int) -> tuple[int, int]:
        """Where the chunk of ``leaf`` in row group ``group`` is."""
        chunk = self.metadata.row_group(group).column(leaf)
        start = chunk.dictionary_page_offset or chunk.data_page_offset
        return start, start + chunk.total_compressed_size

    @functools.cached_property
    def blobs(self) -> tuple[dict[str, BlobLeaf], ...]:
        """Per row group, top-level column -> its ``bytes`` leaf with its pages. The offset
        indexes (where pyarrow's metadata says nothing) are found by scanning the footer, and
        read from the bytes fetched with it when they are there (one request when not)."""
        chunks = [group.chunks for group in scan_footer(self.raw)]
        source, leaves = self.source, self.leaves
        source.prefetch(
            [c[i].index_span for c in chunks for i in self.blob_ids], INDEX_GAP, INDEX_GAP
        )
        return tuple(
            {
                leaves[i].path.split(".")[0]: _blob_leaf(source, leaves[i], c[i])
                for i in self.blob_ids
            }
            for c in chunks
        )


INDEX_GAP = 128 << 10  # small column chunks this close are read in one request (128 KiB in all)


def read_footer(
    store: ShardStore, shard: StoredFile, counter: RequestCounter, guess: TailGuess | None = None
) -> ShardFooter:
    """The footer, parsed (not yet the pages of its ``bytes`` leaves: ``ShardFooter.blobs``).

    With a ``guess`` (remote stores), one request for the shard's end usually holds the footer
    and the page indexes before it (a second one when the footer is longer than guessed);
    without, the exact ranges are read (footer length, then footer).
    """
    source = RangeFile(store, shard, counter)
    footer_start, footer_length = source.tail(guess)
    raw = source.pread(footer_start, footer_length)
    # pyarrow would read the last 64 KiB to find the footer (all of a small shard): hand it the
    # footer, parsed from a minimal file made of it, so that it reads column chunks only
    footer = pa.BufferReader(b"PAR1" + raw + len(raw).to_bytes(4, "little") + b"PAR1")
    metadata = pq.read_metadata(footer)
    leaves = tuple(metadata.schema.column(i) for i in range(len(metadata.schema)))
    blob_ids = tuple(i for i, leaf in enumerate(leaves) if _is_blob(leaf.path, leaves))
    rows = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    starts = tuple(sum(rows[:k]) for k in range(len(rows)))
    result = ShardFooter(source, raw, metadata, leaves, blob_ids, starts)
    if guess is not None:  # the page indexes and the footer follow the last column chunk
        ends = [result.span(g, i)[1] for g in range(len(rows)) for i in range(len(leaves))]
        guess.learn(shard.size - max(ends, default=footer_start))
    return result


def read_columns(
    footer: ShardFooter,
    wanted: Callable[[str], bool] | None = None,
    chunk_wanted: Callable[[int, int], bool] | None = None,
) -> ShardIndex:
    """The small leaves ``wanted(leaf_path)`` selects (None: the ``path`` beside each ``bytes``
    leaf, i.e. every image's stored path), in the row groups ``chunk_wanted(group, leaf)``
    allows (None: all). Their chunks are read with as few requests as the gaps between them
    allow (``INDEX_GAP``; none for chunks fetched before, see :func:`column_requests`); a row
    group with no chunk wanted gets an empty table."""
    per_group = _chosen(footer, wanted, chunk_wanted)
    spans = [footer.span(g, i) for g, ids in enumerate(per_group) for i in ids]
    footer.source.prefetch(spans, INDEX_GAP, INDEX_GAP)
    names = [[footer.leaves[i].path for i in ids] for ids in per_group]
    tables = _small_columns(footer.source, footer.metadata, names)
    return ShardIndex(footer.shard, footer.metadata, tables, footer.blobs, footer.row_starts)


def column_requests(
    footer: ShardFooter,
    wanted: Callable[[str], bool] | None = None,
    chunk_wanted: Callable[[int, int], bool] | None = None,
) -> list[tuple[int, int]]:
    """The requests :func:`read_columns` would make, to be made at once with those of other
    shards (``footer.source.fetch_span``): then it makes none."""
    per_group = _chosen(footer, wanted, chunk_wanted)
    spans = [footer.span(g, i) for g, ids in enumerate(per_group) for i in ids]
    return footer.source.plan(spans, INDEX_GAP, INDEX_GAP)


def _chosen(
    footer: ShardFooter,
    wanted: Callable[[str], bool] | None,
    chunk_wanted: Callable[[int, int], bool] | None,
) -> list[list[int]]:
    """Per row group, the small leaves to read."""
    if wanted is None:
        small = footer.path_leaves()
    else:
        blobs = set(footer.blob_ids)
        small = [i for i, leaf in enumerate(footer.leaves) if i not in blobs and wanted(leaf.path)]
    return [
        [i for i in small if chunk_wanted is None or chunk_wanted(g, i)]
        for g in range(footer.groups)
    ]


def open_shard(
    store: ShardStore,
    shard: StoredFile,
    counter: RequestCounter,
    wanted: Callable[[str], bool] | None = None,
) -> ShardIndex:
    """Footer, the small leaves ``wanted(leaf_path)`` selects (None: the ``path`` beside each
    ``bytes`` leaf, i.e. every image's stored path), and every ``bytes`` leaf's pages."""
    guess = TailGuess() if store.remote else None
    return read_columns(read_footer(store, shard, counter, guess), wanted)


def _small_columns(
    source: RangeFile, metadata: pq.FileMetaData, columns: list[list[str]]
) -> tuple[pa.Table, ...]:
    """The leaves ``columns[g]`` of each row group g, read by pyarrow from the fetched spans."""
    if not any(columns):
        return tuple(pa.table({}) for _ in columns)
    parquet = pq.ParquetFile(source, metadata=metadata, pre_buffer=False)
    try:
        return tuple(
            parquet.read_row_group(g, columns=names, use_threads=False) if names else pa.table({})
            for g, names in enumerate(columns)
        )
    finally:
        parquet.close()


def _blob_leaf(source: RangeFile, leaf: Any, chunk: ChunkScan) -> BlobLeaf:
    column = leaf.path.split(".")[0]
    pages = _offset_index(source, chunk)
    return BlobLeaf(
        column, leaf.path, leaf.max_repetition_level, leaf.max_definition_level, chunk.codec, pages
    )


def _is_blob(path: str, leaves: Sequence[Any]) -> bool:
    """A ``bytes`` leaf with a ``path`` sibling: a NIfTI (or files ``content``) struct."""
    parent, _, name = path.rpartition(".")
    if name != BYTES_LEAF or not parent:
        return False
    return any(leaf.path == f"{parent}.path" for leaf in leaves)


def _offset_index(source: RangeFile, chunk: ChunkScan) -> tuple[PageSpot, ...]:
    start, end = chunk.index_span
    index, _ = thrift.decode(source.pread(start, end - start))
    return tuple(PageSpot(loc.get(1), loc.get(2), loc.get(3)) for loc in index.get(1).items)


# locating values ------------------------------------------------------------------------------
def path_locations(index: ShardIndex) -> Iterator[tuple[str, Location]]:
    """(stored ``path``, location) of every present value of every ``bytes`` leaf whose ``path``
    leaf was read."""
    for g, table in enumerate(index.groups):
        for column, leaf in index.blobs[g].items():
            if column not in table.column_names:
                continue
            for row, cell in enumerate(table.column(column).to_pylist()):
                for position, item in enumerate(cell if isinstance(cell, list) else [cell]):
                    if item is not None and item.get("path") is not None:
                        spot = Location(index.shard.path, g, leaf, row, position)
                        yield item["path"], spot


def read_value(read: Callable[[int, int], bytes], location: Location) -> tuple[bytes, int]:
    """The value at ``location`` and the bytes fetched: exactly its page, one request.

    ``read(start, length)`` reads the shard.
    """
    leaf = location.leaf
    spot = leaf.page_of(location.row)
    page = read(spot.offset, spot.size)
    values = page_values(page, leaf)
    wanted = value_number(page, leaf, location.row - spot.first_row, location.index)
    return values[wanted], len(page)


def page_values(page: bytes, leaf: BlobLeaf) -> list[bytes]:
    """Every PLAIN ``binary`` value of a data page (v1), in order."""
    body, _ = _page_body(page, leaf)
    pos = _skip_levels(body, leaf)
    values = []
    while pos < len(body):
        (n,) = struct.unpack_from("<i", body, pos)
        values.append(body[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return values


def _page_body(page: bytes, leaf: BlobLeaf) -> tuple[bytes, int]:
    header, pos = thrift.decode(page)
    if header.get(1) != 0:
        raise ValueError(f"{leaf.leaf}: not a data page (v1)")
    body = page[pos : pos + header.get(3)]
    if leaf.codec:
        codec = pa.Codec(CODECS[leaf.codec])
        body = codec.decompress(body, decompressed_size=header.get(2)).to_pybytes()
    data_page = header.get(5)
    if data_page.get(2) != 0:
        raise ValueError(f"{leaf.leaf}: values are not PLAIN-encoded")
    return body, data_page.get(1)


def _levels(body: bytes, pos: int, max_level: int, count: int) -> tuple[list[int], int]:
    if max_level == 0:
        return [], pos
    (length,) = struct.unpack_from("<i", body, pos)
    return rle_decode(
        body[pos + 4 : pos + 4 + length], max_level.bit_length(), count
    ), pos + 4 + length


def _skip_levels(body: bytes, leaf: BlobLeaf) -> int:
    pos = 0
    for max_level in (leaf.max_rep, leaf.max_def):
        if max_level:
            (length,) = struct.unpack_from("<i", body, pos)
            pos += 4 + length
    return pos


def value_number(page: bytes, leaf: BlobLeaf, row: int, index: int) -> int:
    """Which value of the page is the ``index``-th of the page's ``row``-th row."""
    if row == 0 and leaf.max_rep == 0:
        return 0
    body, count = _page_body(page, leaf)
    reps, pos = _levels(body, 0, leaf.max_rep, count)
    defs, _ = _levels(body, pos, leaf.max_def, count)
    current, values_before = -1, 0
    for i, d in enumerate(defs):
        if not reps or reps[i] == 0:
            current += 1
        if current == row:
            return values_before + index
        if d == leaf.max_def:
            values_before += 1
    raise ValueError(f"{leaf.leaf}: row {row} is not in its page")


def rle_decode(data: bytes, bit_width: int, count: int) -> list[int]:
    """Parquet's RLE / bit-packed hybrid encoding, ``count`` values."""
    out: list[int] = []
    pos, width = 0, (bit_width + 7) // 8
    while len(out) < count and pos < len(data):
        header, shift = 0, 0
        while True:
            b = data[pos]
            pos += 1
            header |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if header & 1:  # bit-packed: groups of 8 values
            groups = header >> 1
            bits = int.from_bytes(data[pos : pos + groups * bit_width], "little")
            pos += groups * bit_width
            mask = (1 << bit_width) - 1
            out += [(bits >> (k * bit_width)) & mask for k in range(groups * 8)]
        else:
            value = int.from_bytes(data[pos : pos + width], "little")
            pos += width
            out += [value] * (header >> 1)
    return out[:count]


# streaming one value ----------------------------------------------------------------------------
HEAD = 64 << 10  # first read of a page: its header, levels and the start of its value
CHUNK = 16 << 20  # the rest of a large value, this many bytes per request


def stream_value(
    read: Callable[[int, int], bytes], location: Location, chunk: int = CHUNK
) -> Iterator[bytes]:
    """The value at ``location`` in pieces, reading no byte outside its page, each byte once.

    A large image is never whole in memory: the page's first ``HEAD`` bytes give its header and
    levels, the value's own length prefixes say where it starts, and the rest of it is read in
    ``chunk``-sized requests. A page that is compressed, or whose levels do not fit in its head,
    is read whole (our writer makes neither).
    """
    leaf = location.leaf
    spot = leaf.page_of(location.row)
    head = read(spot.offset, min(spot.size, HEAD))
    header, body_start = thrift.decode(head)
    plain = not leaf.codec and header.get(1) == 0
    levels_end = body_start + levels_length(head, body_start, leaf) if plain else len(head) + 1
    if levels_end > len(head):
        page = head + (
            read(spot.offset + len(head), spot.size - len(head)) if spot.size > len(head) else b""
        )
        values = page_values(page, leaf)
        yield values[value_number(page, leaf, location.row - spot.first_row, location.index)]
        return
    wanted = value_number(head, leaf, location.row - spot.first_row, location.index)

    def at(pos: int, n: int) -> bytes:  # page bytes [pos, pos+n), from the head when there
        if pos + n <= len(head):
            return head[pos : pos + n]
        return read(spot.offset + pos, n)

    pos = levels_end
    for _ in range(wanted):
        pos += 4 + struct.unpack("<i", at(pos, 4))[0]
    (size,) = struct.unpack("<i", at(pos, 4))
    start, end = pos + 4, pos + 4 + size
    if start < len(head):
        yield head[start : min(end, len(head))]
        start = min(end, len(head))
    while start < end:
        n = min(chunk, end - start)
        yield read(spot.offset + start, n)
        start += n


def levels_length(head: bytes, pos: int, leaf: BlobLeaf) -> int:
    """Bytes of the level blocks at the start of an uncompressed v1 page body."""
    length = 0
    for max_level in (leaf.max_rep, leaf.max_def):
        if max_level:
            if pos + length + 4 > len(head):
                return len(head)  # the caller reads the whole page
            length += 4 + struct.unpack_from("<i", head, pos + length)[0]
    return length
