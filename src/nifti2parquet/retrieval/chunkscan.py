"""The few numbers a reader needs from a Parquet footer, found without decoding the rest of it.

Reading a shard back needs, for each column chunk, where its bytes are, its codec, and where its
offset index is (which pyarrow's metadata does not expose). The generic decoder (``thrift``)
builds a tree of every field; a footer of a wide image shard holds thousands of them (statistics,
encodings, paths), and decoding them costs more than fetching the footer. This scanner walks the
same Thrift compact encoding, keeps the handful of fields below and skips everything else.

FileMetaData 4: row groups. RowGroup 1: column chunks, 3: num_rows. ColumnChunk 3: its
ColumnMetaData, 4/5: offset index offset/length. ColumnMetaData 4: codec, 7: total compressed
size, 9: data page offset, 11: dictionary page offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..shards.thrift import (
    BINARY,
    BYTE,
    DOUBLE,
    FALSE,
    I16,
    I32,
    I64,
    LIST,
    MAP,
    SET,
    STOP,
    STRUCT,
    TRUE,
    CompactReader,
)


@dataclass(frozen=True)
class ChunkScan:
    """One column chunk: its codec, byte span, and offset index (None when it has none)."""

    codec: int
    start: int  # the dictionary page, else the first data page
    size: int  # total compressed size
    index_offset: int | None
    index_length: int | None

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.start + self.size

    @property
    def index_span(self) -> tuple[int, int]:
        if self.index_offset is None or self.index_length is None:
            raise ValueError("a bytes column has no offset index (not written by nifti2parquet)")
        return self.index_offset, self.index_offset + self.index_length


@dataclass(frozen=True)
class GroupScan:
    num_rows: int
    chunks: tuple[ChunkScan, ...]


def scan_footer(data: bytes) -> tuple[GroupScan, ...]:
    """The row groups of the FileMetaData encoded in ``data``."""
    scanner = _Scanner(data)
    groups: tuple[GroupScan, ...] = ()
    for fid, kind in scanner.fields():
        if fid == 4 and kind == LIST:
            groups = tuple(scanner.items(scanner.row_group))
        else:
            scanner.skip(kind)
    return groups


class _Scanner(CompactReader):
    """The compact decoder's varints, with a walk that skips what it does not keep."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data, 0)

    def fields(self):  # type: ignore[no-untyped-def]
        """(field id, type) of each field of the struct at ``pos``; the caller reads or skips
        each value before asking for the next."""
        last = 0
        while True:
            header = self.data[self.pos]
            self.pos += 1
            kind = header & 0x0F
            if kind == STOP:
                return
            delta = header >> 4
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def items(self, read):  # type: ignore[no-untyped-def]
        header = self.data[self.pos]
        self.pos += 1
        size = header >> 4 if header >> 4 != 15 else self.varint()
        return [read() for _ in range(size)]

    def skip(self, kind: int) -> None:
        """Move past a value of type ``kind`` without building it."""
        if kind in (TRUE, FALSE):
            return
        if kind in (I16, I32, I64):
            self.varint()
        elif kind == BINARY:
            n = self.varint()
            self.pos += n
        elif kind == STRUCT:
            for _, inner in self.fields():
                self.skip(inner)
        elif kind in (LIST, SET):
            header = self.data[self.pos]
            self.pos += 1
            size = header >> 4 if header >> 4 != 15 else self.varint()
            element = header & 0x0F
            if element in (TRUE, FALSE, BYTE):
                self.pos += size
            elif element == DOUBLE:
                self.pos += 8 * size
            elif element in (I16, I32, I64):
                for _ in range(size):
                    self.varint()
            elif element == BINARY:
                for _ in range(size):
                    n = self.varint()
                    self.pos += n
            else:
                for _ in range(size):
                    self.skip(element)
        elif kind == MAP:
            size = self.varint()
            if size:
                types = self.data[self.pos]
                self.pos += 1
                for _ in range(size):
                    self.skip(types >> 4)
                    self.skip(types & 0x0F)
        elif kind == BYTE:
            self.pos += 1
        elif kind == DOUBLE:
            self.pos += 8
        else:
            raise ValueError(f"unsupported Thrift compact type {kind} at byte {self.pos}")

    def row_group(self) -> GroupScan:
        chunks: list[ChunkScan] = []
        rows = 0
        for fid, kind in self.fields():
            if fid == 1 and kind == LIST:
                chunks = self.items(self.column_chunk)
            elif fid == 3 and kind == I64:
                rows = self.zigzag()
            else:
                self.skip(kind)
        return GroupScan(rows, tuple(chunks))

    def column_chunk(self) -> ChunkScan:
        codec = size = data_page = 0
        dictionary = index_offset = index_length = None
        for fid, kind in self.fields():
            if fid == 3 and kind == STRUCT:
                for mid, mkind in self.fields():
                    if mid in (4, 7, 9, 11) and mkind in (I32, I64):
                        value = self.zigzag()
                        if mid == 4:
                            codec = value
                        elif mid == 7:
                            size = value
                        elif mid == 9:
                            data_page = value
                        else:
                            dictionary = value
                    else:
                        self.skip(mkind)
            elif fid == 4 and kind == I64:
                index_offset = self.zigzag()
            elif fid == 5 and kind == I32:
                index_length = self.zigzag()
            else:
                self.skip(kind)
        start = dictionary if dictionary else data_page
        return ChunkScan(codec, start, size, index_offset, index_length)
