"""The Thrift compact codec reads and writes real Parquet footers, page headers and indexes."""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.parquet as pq

from nifti2parquet.shards import thrift
from nifti2parquet.shards.thrift import I32, I64, LIST, STRUCT, TRUE, List, Struct


def _pyarrow_file(tmp_path) -> bytes:
    table = pa.table(
        {
            "name": ["a", "b", None] * 20,
            "score": [1.5, None, -2.25] * 20,
            "tags": [["x", "y"], [], None] * 20,
            "flag": [True, False, None] * 20,
        }
    )
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, row_group_size=25, write_page_index=True)
    return path.read_bytes()


def _footer(data: bytes) -> tuple[int, int]:
    length = struct.unpack("<I", data[-8:-4])[0]
    return len(data) - 8 - length, length


def test_pyarrow_footer_round_trips_byte_for_byte(tmp_path):
    data = _pyarrow_file(tmp_path)
    start, length = _footer(data)
    footer, end = thrift.decode(data, start)
    assert end == start + length
    assert thrift.encode(footer) == data[start : start + length]
    assert footer.get(3) == 60  # num_rows
    assert len(footer.get(4).items) == 3  # row groups of 25, 25, 10 rows


def test_page_indexes_round_trip_including_boolean_lists(tmp_path):
    data = _pyarrow_file(tmp_path)
    footer, _ = thrift.decode(data, _footer(data)[0])
    checked = 0
    for group in footer.get(4).items:
        for chunk in group.get(1).items:
            for offset_field, length_field in ((4, 5), (6, 7)):
                if offset_field in chunk.fields:
                    start, length = chunk.get(offset_field), chunk.get(length_field)
                    index, end = thrift.decode(data, start)
                    assert end == start + length
                    assert thrift.encode(index) == data[start:end]
                    checked += 1
    assert checked == 3 * 4 * 2  # an offset and a column index for each of 4 leaves in 3 groups


def test_values_survive_encoding():
    tree = Struct()
    tree.set(1, I32, -7).set(2, I64, 2**40).set(3, TRUE, False).set(20, thrift.BINARY, b"\x00\xff")
    tree.set(4, LIST, List(I64, list(range(-20, 20))))
    tree.set(5, LIST, List(TRUE, [True, False, True]))
    tree.set(300, STRUCT, Struct().set(1, thrift.DOUBLE, 0.5).set(2, thrift.BYTE, -3))
    decoded, end = thrift.decode(thrift.encode(tree))
    assert decoded == tree
    assert end == len(thrift.encode(tree))
