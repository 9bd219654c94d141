"""Reading values back by byte ranges from any Parquet file of ``struct<bytes, path>`` columns.

Our writer makes one uncompressed page per row; the reader must also be right for files it did not
write: several rows per page, compressed pages, lists with empty and null cells. pyarrow writes
those here, and every value read by its page must equal what pyarrow reads back.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nifti2parquet.retrieval.ranges import Counter, LocalStore, coalesce
from nifti2parquet.retrieval.readback import open_shard, path_locations, read_value, stream_value

NIFTI = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def blob(i: int, size: int) -> bytes:
    return bytes((i * 7 + k) % 251 for k in range(size))


def write_file(path: Path, compression: str) -> dict[str, bytes]:
    """A file with a single and a list image column, many rows per page; returns path -> bytes."""
    values: dict[str, bytes] = {}
    singles, lists = [], []
    for row in range(40):
        name = f"r{row}.nii"
        values[name] = blob(row, 300 + row * 37)
        singles.append(None if row % 7 == 3 else {"bytes": values[name], "path": name})
        cell = [{"bytes": blob(row * 10 + k, 200 + k * 50), "path": f"r{row}-{k}.nii"}
                for k in range(row % 4)]  # fmt: skip
        for item in cell:
            values[item["path"]] = item["bytes"]
        lists.append(None if row % 9 == 5 else cell)
    for row in (3, 10, 17, 24, 31, 38):
        values.pop(f"r{row}.nii")
    for row in (5, 14, 23, 32):
        for k in range(row % 4):
            values.pop(f"r{row}-{k}.nii")
    table = pa.table(
        {
            "id": list(range(40)),
            "single": pa.array(singles, NIFTI),
            "runs": pa.array(lists, pa.list_(NIFTI)),
        }
    )
    pq.write_table(
        table,
        path,
        row_group_size=16,
        compression=compression,
        use_dictionary=False,
        data_page_size=2000,
        data_page_version="1.0",
        write_page_index=True,
    )
    return values


@pytest.mark.parametrize("compression", ["none", "snappy", "zstd"])
def test_every_value_read_by_its_page_equals_pyarrows(tmp_path: Path, compression: str) -> None:
    (tmp_path / "data").mkdir()
    expected = write_file(tmp_path / "data" / "x.parquet", compression)
    store = LocalStore(str(tmp_path))
    shard = store.list("data")[0]
    counter = Counter()
    index = open_shard(store, shard, counter)
    assert len(index.groups) == 3
    assert sum(len(leaf.pages) for g in index.blobs for leaf in g.values()) > 6  # rows share pages

    found = {}
    for path, location in path_locations(index):
        read = lambda start, n: store.read(shard.path, start, n)  # noqa: E731
        value, fetched = read_value(read, location)
        assert b"".join(stream_value(read, location, chunk=64)) == value
        assert fetched == location.leaf.page_of(location.row).size
        found[path] = value
    assert found == expected
    assert len(found) == 34 + sum(r % 4 for r in range(40) if r % 9 != 5)


def test_coalesce_merges_neighbours_but_never_across_an_image_chunk() -> None:
    ranges = [(0, 10), (12, 20), (5000, 5100), (5101, 5200)]
    assert coalesce(ranges, gap=100) == [(0, 20), (5000, 5200)]
    assert coalesce(ranges, barriers=[(20, 5000)], gap=10_000) == [(0, 20), (5000, 5200)]
    assert coalesce(ranges, barriers=[(10, 12)], gap=100) == [(0, 10), (12, 20), (5000, 5200)]
