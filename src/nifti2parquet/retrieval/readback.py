"""Reading our shards back without reading their images: footer, small columns, one page at a time.

A shard's image (and file) bytes sit in ``bytes`` leaves of ``struct<bytes, path>`` columns, one
PLAIN value per image in the page of its row; the footer's offset index says where each page
starts and which row it begins with. :func:`open_shard` reads the footer and the small leaves a
caller asks for (the ``path`` of each image, the files index columns), and the offset index of
every ``bytes`` leaf; :func:`read_value` then reads exactly one page and returns the one value
asked for. Levels are decoded in full, so pages holding several rows (or compressed pages, which
our writer never makes) are read correctly too.
"""

from __future__ import annotations

import bisect
import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..shards import thrift
from .ranges import Counter, RangeFile, ShardStore, StoredFile

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


def open_shard(
    store: ShardStore,
    shard: StoredFile,
    counter: Counter,
    wanted: Callable[[str], bool] | None = None,
) -> ShardIndex:
    """Footer, the small leaves ``wanted(leaf_path)`` selects (None: the ``path`` beside each
    ``bytes`` leaf, i.e. every image's stored path), and every ``bytes`` leaf's pages.

    Reads: the footer (one or two requests), the wanted leaves' chunks (neighbours coalesced, never
    across an image chunk), and the offset indexes (usually one request).
    """
    source = RangeFile(store, shard, counter)
    footer_start, footer_length = source.tail()
    raw = source.pread(footer_start, footer_length)
    meta, _ = thrift.decode(raw)
    # pyarrow would read the last 64 KiB to find the footer (all of a small shard): hand it the
    # footer, parsed from a minimal file made of it, so that it reads column chunks only
    footer = pa.BufferReader(b"PAR1" + raw + len(raw).to_bytes(4, "little") + b"PAR1")
    metadata = pq.read_metadata(footer)
    leaves = [metadata.schema.column(i) for i in range(len(metadata.schema))]
    blob_ids = [i for i, leaf in enumerate(leaves) if _is_blob(leaf.path, leaves)]
    if wanted is None:
        beside = {leaves[i].path[: -len(BYTES_LEAF)] + "path" for i in blob_ids}
        wanted = beside.__contains__
    small = [i for i, leaf in enumerate(leaves) if i not in blob_ids and wanted(leaf.path)]
    groups = meta.get(4).items if meta.get(4) is not None else []
    _prefetch(source, groups, small, blob_ids)
    tables = _small_columns(source, metadata, [leaves[i].path for i in small])
    blobs = tuple(
        {leaves[i].path.split(".")[0]: _blob_leaf(source, leaves[i], group.get(1).items[i])
         for i in blob_ids}
        for group in groups
    )  # fmt: skip
    starts = tuple(sum(g.get(3) for g in groups[:k]) for k in range(len(groups)))
    return ShardIndex(shard, metadata, tables, blobs, starts)


def _prefetch(source: RangeFile, groups: list[Any], small: list[int], blob_ids: list[int]) -> None:
    """Fetch the small leaves' chunks and the ``bytes`` leaves' offset indexes, coalesced."""
    spans, barriers, index_spans = [], [], []
    for group in groups:
        chunks = group.get(1).items
        spans += [_chunk_span(chunks[i]) for i in small]
        for i in blob_ids:
            barriers.append(_chunk_span(chunks[i]))
            if chunks[i].get(4) is not None:
                index_spans.append((chunks[i].get(4), chunks[i].get(4) + chunks[i].get(5)))
    source.prefetch(spans, barriers)
    source.prefetch(index_spans)


def _small_columns(
    source: RangeFile, metadata: pq.FileMetaData, columns: list[str]
) -> tuple[pa.Table, ...]:
    """The leaves ``columns`` of every row group, read by pyarrow from the fetched spans."""
    if not columns:
        return tuple(pa.table({}) for _ in range(metadata.num_row_groups))
    parquet = pq.ParquetFile(source, metadata=metadata, pre_buffer=False)
    try:
        return tuple(
            parquet.read_row_group(g, columns=columns, use_threads=False)
            for g in range(metadata.num_row_groups)
        )
    finally:
        parquet.close()


def _blob_leaf(source: RangeFile, leaf: Any, chunk: thrift.Struct) -> BlobLeaf:
    column = leaf.path.split(".")[0]
    codec = chunk.get(3).get(4, 0)
    pages = _offset_index(source, chunk)
    return BlobLeaf(
        column, leaf.path, leaf.max_repetition_level, leaf.max_definition_level, codec, pages
    )


def _is_blob(path: str, leaves: list[Any]) -> bool:
    """A ``bytes`` leaf with a ``path`` sibling: a NIfTI (or files ``content``) struct."""
    parent, _, name = path.rpartition(".")
    if name != BYTES_LEAF or not parent:
        return False
    return any(leaf.path == f"{parent}.path" for leaf in leaves)


def _chunk_span(chunk: thrift.Struct) -> tuple[int, int]:
    meta = chunk.get(3)
    dictionary = meta.get(11)
    start = dictionary if dictionary else meta.get(9)
    return start, start + meta.get(7)


def _offset_index(source: RangeFile, chunk: thrift.Struct) -> tuple[PageSpot, ...]:
    offset, length = chunk.get(4), chunk.get(5)
    if offset is None or length is None:
        raise ValueError("a bytes column has no offset index (not written by nifti2parquet)")
    index, _ = thrift.decode(source.pread(offset, length))
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
    wanted = _value_number(page, leaf, location.row - spot.first_row, location.index)
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


def _value_number(page: bytes, leaf: BlobLeaf, row: int, index: int) -> int:
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
    levels_end = body_start + _levels_length(head, body_start, leaf) if plain else len(head) + 1
    if levels_end > len(head):
        page = head + (
            read(spot.offset + len(head), spot.size - len(head)) if spot.size > len(head) else b""
        )
        values = page_values(page, leaf)
        yield values[_value_number(page, leaf, location.row - spot.first_row, location.index)]
        return
    wanted = _value_number(head, leaf, location.row - spot.first_row, location.index)

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


def _levels_length(head: bytes, pos: int, leaf: BlobLeaf) -> int:
    """Bytes of the level blocks at the start of an uncompressed v1 page body."""
    length = 0
    for max_level in (leaf.max_rep, leaf.max_def):
        if max_level:
            if pos + length + 4 > len(head):
                return len(head)  # the caller reads the whole page
            length += 4 + struct.unpack_from("<i", head, pos + length)[0]
    return length
