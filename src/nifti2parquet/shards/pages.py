"""Parquet pages of the NIfTI ``bytes`` leaves, framed by us so the image bytes never enter memory.

A NIfTI ``bytes`` leaf is uncompressed and PLAIN-encoded, so its data page is nothing but a small
header, the row's repetition and definition levels, and each image as a 4-byte length followed by
the file's bytes exactly as on disk. Writing that framing ourselves lets the writer read every
image from its file straight into the shard's write blocks instead of pushing it through Arrow
buffers and pyarrow's encoder, which held two more copies of each page in memory.

Every row gets its own page: a page's bytes depend on its row alone (so a rebuilt shard
deduplicates on the Hub's Xet storage, as content-defined chunking intends), pages start on row
boundaries (as the page index requires of repeated columns), and a page never exceeds Parquet's
2 GiB page limit because the plan refuses rows that large.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..common.rows import FileRef, cell_images
from . import thrift
from .thrift import I32, I64, LIST, STRUCT, Struct

DATA_PAGE = 0
PLAIN = 0
RLE = 3


@dataclass(frozen=True)
class Page:
    """One row's page: ``head`` (header, levels), then each image preceded by its 4-byte length."""

    head: bytes
    images: tuple[FileRef, ...]
    first_row: int  # within the row group
    levels: int  # definition levels in the page (values and nulls)

    @property
    def size(self) -> int:
        """The whole page on disk, header included."""
        return len(self.head) + sum(4 + img.size for img in self.images)

    @property
    def value_bytes(self) -> int:
        return sum(img.size for img in self.images)


def row_levels(cell: Any, max_rep: int, max_def: int) -> tuple[list[int], list[int]]:
    """Repetition and definition levels of one cell of a ``Nifti`` or ``List(Nifti())`` column.

    A ``Nifti`` cell (``struct<bytes, path>``, both nullable) has def 2 with bytes and 0 when the
    image is missing. A list (``list<element: struct<bytes, path>>``) is 0 when missing, 1 when
    empty, and 4 for each image, the first with repetition 0 and the rest 1.
    """
    if max_rep == 0:
        return [], [max_def if cell is not None else 0]
    if cell is None:
        return [0], [0]
    if not cell:
        return [0], [1]
    return [0] + [1] * (len(cell) - 1), [max_def] * len(cell)


def row_page(cell: Any, max_rep: int, max_def: int, first_row: int) -> Page:
    """The page of one cell: its header and levels; the images follow it on disk."""
    reps, defs = row_levels(cell, max_rep, max_def)
    images = cell_images(cell)
    levels = b""
    if max_rep:
        levels += _level_block(reps, max_rep)
    if max_def:
        levels += _level_block(defs, max_def)
    body = len(levels) + sum(4 + img.size for img in images)
    return Page(page_header(body, len(defs)) + levels, images, first_row, len(defs))


def page_header(body: int, values: int) -> bytes:
    """The ``PageHeader`` of a v1 data page of ``body`` bytes and ``values`` levels, PLAIN values
    and RLE levels, encoded as ``thrift.encode`` encodes that struct (written directly: a shard
    of many small files has one page per file)."""
    out = bytearray(b"\x15\x00\x15")  # field 1, i32: the page type (DATA_PAGE = 0); field 2
    thrift.write_zigzag(out, body)  # uncompressed size
    out.append(0x15)  # field 3, i32: compressed size
    thrift.write_zigzag(out, body)
    out += b"\x2c\x15"  # field 5, struct DataPageHeader; its field 1, i32: the number of values
    thrift.write_zigzag(out, values)
    # its fields 2, 3, 4 (i32): PLAIN values, RLE definition and repetition levels; two stops
    out += bytes([0x15, PLAIN << 1, 0x15, RLE << 1, 0x15, RLE << 1, 0, 0])
    return bytes(out)


def value_prefix(image: FileRef) -> bytes:
    """PLAIN encoding of a byte array: its length, little-endian, then the bytes."""
    return struct.pack("<i", image.size)


def _level_block(levels: Sequence[int], max_level: int) -> bytes:
    """Levels in the RLE/bit-packed hybrid, as runs, preceded by their 4-byte length (page v1)."""
    width = (max_level.bit_length() + 7) // 8
    runs = bytearray()
    start = 0
    for i in range(1, len(levels) + 1):
        if i == len(levels) or levels[i] != levels[start]:
            _uvarint(runs, (i - start) << 1)
            runs += levels[start].to_bytes(width, "little")
            start = i
    return struct.pack("<i", len(runs)) + bytes(runs)


def _uvarint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class ChunkPages:
    """The pages of one NIfTI ``bytes`` chunk, counted as they are written.

    Their totals and their ``OffsetIndex`` (already encoded, a few bytes per page) are built as
    each page is added, so a chunk of many small files keeps no object per page.
    """

    def __init__(self, start: int) -> None:
        self.start = start
        self.position = start  # where the next page goes
        self.count = 0
        self.levels = 0
        self.value_bytes = 0
        self._locations = bytearray()  # PageLocation structs, encoded
        self._value_sizes = bytearray()  # each page's unencoded byte array bytes, encoded

    def add(self, page: Page) -> None:
        value_bytes = page.value_bytes
        location = self._locations
        location.append(0x16)  # field 1, i64: the page's offset
        thrift.write_zigzag(location, self.position)
        location.append(0x15)  # field 2, i32: its size
        thrift.write_zigzag(location, page.size)
        location.append(0x16)  # field 3, i64: its first row
        thrift.write_zigzag(location, page.first_row)
        location.append(thrift.STOP)
        thrift.write_zigzag(self._value_sizes, value_bytes)
        self.position += page.size
        self.count += 1
        self.levels += page.levels
        self.value_bytes += value_bytes

    def offset_index(self) -> bytes:
        """The chunk's ``OffsetIndex``: where each page is and which row it starts, then each
        page's value bytes; as ``thrift.encode`` writes the same struct."""
        out = bytearray([0x10 | LIST])  # field 1: the page locations
        thrift.write_list_header(out, self.count, STRUCT)
        out += self._locations
        out.append(0x10 | LIST)  # field 2: the unencoded byte array data bytes
        thrift.write_list_header(out, self.count, I64)
        out += self._value_sizes
        out.append(thrift.STOP)
        return bytes(out)

    def metadata(self, base: Struct) -> Struct:
        """The column chunk's ``ColumnMetaData``, from pyarrow's for the same leaf and levels.

        pyarrow wrote the chunk with empty placeholders for the images, so everything that
        depends on the levels alone (value count, level histograms, path, types) is already right;
        the sizes, the offset and the byte counts are ours.
        """
        meta = base.copy()
        total = self.position - self.start
        meta.set(6, I64, total).set(7, I64, total).set(9, I64, self.start)
        meta.drop(10, 11, 14, 15)  # no index page, dictionary or bloom filter
        stats = meta.get(12)
        if stats is not None and any(f in stats.fields for f in (1, 2, 5, 6)):
            meta.drop(12)  # min/max of placeholders would be wrong (they are off for these leaves)
        meta.set(2, LIST, thrift.List(I32, [RLE, PLAIN]))
        encoding_stats = Struct().set(1, I32, DATA_PAGE).set(2, I32, PLAIN).set(3, I32, self.count)
        meta.set(13, LIST, thrift.List(STRUCT, [encoding_stats]))
        sizes = meta.get(16)
        if sizes is not None:
            sizes.set(1, I64, self.value_bytes)
        return meta
