"""Thrift's compact protocol, the encoding of every Parquet header and footer, as a generic tree.

The shard writer splices its own NIfTI pages into a file whose other columns pyarrow encoded, so
it must read pyarrow's footer, move offsets and write it back. A generic decoder keeps every field
it does not know about (statistics, size statistics, newer additions) as it was: only the fields
the writer sets change. Structs are :class:`Struct` (field id -> typed value), lists are
:class:`List`; see the Thrift compact protocol specification.
"""

from __future__ import annotations

import struct as _struct
from dataclasses import dataclass, field
from typing import Any

STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)


@dataclass
class List:
    element_type: int
    items: list[Any] = field(default_factory=list)


@dataclass
class Struct:
    """Fields by id: ``{id: (type, value)}``; booleans have type TRUE (the value says which)."""

    fields: dict[int, tuple[int, Any]] = field(default_factory=dict)

    def get(self, fid: int, default: Any = None) -> Any:
        return self.fields[fid][1] if fid in self.fields else default

    def set(self, fid: int, kind: int, value: Any) -> Struct:
        self.fields[fid] = (kind, value)
        return self

    def drop(self, *fids: int) -> Struct:
        for fid in fids:
            self.fields.pop(fid, None)
        return self

    def copy(self) -> Struct:
        """A deep copy of the tree (values are immutable scalars, lists or structs)."""
        return Struct({fid: (kind, _copy(value)) for fid, (kind, value) in self.fields.items()})


def _copy(value: Any) -> Any:
    if isinstance(value, Struct):
        return value.copy()
    if isinstance(value, List):
        return List(value.element_type, [_copy(v) for v in value.items])
    return value


def decode(data: bytes | memoryview, pos: int = 0) -> tuple[Struct, int]:
    """The struct encoded at ``data[pos:]`` and the position just after it."""
    reader = CompactReader(data if isinstance(data, bytes) else bytes(data), pos)
    result = reader.struct()
    return result, reader.pos


def encode(value: Struct) -> bytes:
    out = bytearray()
    _write_struct(out, value)
    return bytes(out)


class CompactReader:
    """Reads values at ``pos``; written for speed (footers hold thousands of structs)."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def varint(self) -> int:
        data, pos = self.data, self.pos
        b = data[pos]
        pos += 1
        result, shift = b & 0x7F, 7
        while b & 0x80:
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
        self.pos = pos
        return result

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def struct(self) -> Struct:
        fields: dict[int, tuple[int, Any]] = {}
        last = 0
        data = self.data
        while True:
            header = data[self.pos]
            self.pos += 1
            kind = header & 0x0F
            if kind == STOP:
                return Struct(fields)
            delta = header >> 4
            fid = last + delta if delta else self.zigzag()
            if kind in (TRUE, FALSE):
                fields[fid] = (TRUE, kind == TRUE)
            else:
                fields[fid] = (kind, self.value(kind))
            last = fid

    def value(self, kind: int) -> Any:
        if kind in (I32, I64, I16):
            return self.zigzag()
        if kind == BINARY:
            n = self.varint()
            self.pos += n
            return self.data[self.pos - n : self.pos]
        if kind == STRUCT:
            return self.struct()
        if kind in (LIST, SET):
            header = self.data[self.pos]
            self.pos += 1
            size = header >> 4 if header >> 4 != 15 else self.varint()
            element = header & 0x0F
            if element in (TRUE, FALSE):  # a boolean in a list is a byte: 1 is true
                start, self.pos = self.pos, self.pos + size
                return List(element, [b == TRUE for b in self.data[start : self.pos]])
            return List(element, [self.value(element) for _ in range(size)])
        if kind == BYTE:
            b = self.data[self.pos]
            self.pos += 1
            return b - 256 if b > 127 else b
        if kind == DOUBLE:
            self.pos += 8
            return _struct.unpack("<d", self.data[self.pos - 8 : self.pos])[0]
        raise ValueError(f"unsupported Thrift compact type {kind} at byte {self.pos}")


def _varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def write_zigzag(out: bytearray, n: int) -> None:
    """An integer (i16, i32 or i64) as the compact protocol writes it."""
    _varint(out, (n << 1) ^ (n >> 63))


def write_list_header(out: bytearray, size: int, element: int) -> None:
    """A list's header: its size and element type (the elements follow)."""
    if size < 15:
        out.append((size << 4) | element)
    else:
        out.append(0xF0 | element)
        _varint(out, size)


def _write_struct(out: bytearray, value: Struct) -> None:
    last = 0
    for fid in sorted(value.fields):
        kind, item = value.fields[fid]
        wire = (TRUE if item else FALSE) if kind in (TRUE, FALSE) else kind
        if 0 < fid - last <= 15:
            out.append(((fid - last) << 4) | wire)
        else:
            out.append(wire)
            write_zigzag(out, fid)
        if kind not in (TRUE, FALSE):
            _write_value(out, kind, item)
        last = fid
    out.append(STOP)


def _write_value(out: bytearray, kind: int, item: Any) -> None:
    if kind in (I16, I32, I64):
        write_zigzag(out, item)
    elif kind == BINARY:
        data = item.encode() if isinstance(item, str) else item
        _varint(out, len(data))
        out += data
    elif kind == STRUCT:
        _write_struct(out, item)
    elif kind in (LIST, SET):
        element = item.element_type
        write_list_header(out, len(item.items), element)
        for v in item.items:
            if element in (TRUE, FALSE):
                out.append(TRUE if v else FALSE)
            else:
                _write_value(out, element, v)
    elif kind == BYTE:
        out.append(item & 0xFF)
    elif kind == DOUBLE:
        out += _struct.pack("<d", item)
    else:
        raise ValueError(f"unsupported Thrift compact type {kind}")
