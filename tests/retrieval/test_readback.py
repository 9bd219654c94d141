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

from nifti2parquet.retrieval.chunkscan import scan_footer
from nifti2parquet.retrieval.ranges import (
    LocalStore,
    RangeFile,
    RequestCounter,
    TailGuess,
    coalesce,
)
from nifti2parquet.retrieval.readback import (
    open_shard,
    path_locations,
    read_columns,
    read_footer,
    read_value,
    stream_value,
)
from nifti2parquet.shards import thrift

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
    counter = RequestCounter()
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


def test_coalesce_joins_the_smallest_gaps_within_its_budget() -> None:
    ranges = [(0, 10), (12, 20), (5000, 5100), (5101, 5200), (5200, 5300)]
    assert coalesce(ranges) == [(0, 10), (12, 20), (5000, 5100), (5101, 5300)]  # touching
    assert coalesce(ranges, max_gap=100, budget=100) == [(0, 20), (5000, 5300)]
    assert coalesce(ranges, max_gap=10_000, budget=2) == [(0, 10), (12, 20), (5000, 5300)]
    assert coalesce(ranges, max_gap=1, budget=10_000) == [(0, 10), (12, 20), (5000, 5300)]
    assert coalesce(ranges, max_gap=10_000, budget=10_000) == [(0, 5300)]


class CountingStore(LocalStore):
    """A local folder read as if remote: every read is a request, logged."""

    remote = True

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.requests: list[tuple[int, int]] = []

    def read(self, path: str, start: int, length: int) -> bytes:
        self.requests.append((start, length))
        return super().read(path, start, length)


def raw_footer(path: Path) -> bytes:
    data = path.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    return data[-8 - length : -8]


def test_the_footer_scan_agrees_with_the_full_decoder(tmp_path: Path) -> None:
    files = []
    for compression in ("none", "zstd"):
        write_file(tmp_path / f"{compression}.parquet", compression)
        files.append(tmp_path / f"{compression}.parquet")
    table = pa.table({"name": ["a", "b", "a"] * 50, "n": list(range(150))})
    table = table.replace_schema_metadata({"huggingface": '{"info": 1}'})
    pq.write_table(table, tmp_path / "dict.parquet", row_group_size=40, write_page_index=True)
    files.append(tmp_path / "dict.parquet")
    checked = 0
    for path in files:
        raw = raw_footer(path)
        decoded = thrift.decode(raw)[0].get(4).items
        scanned = scan_footer(raw)
        assert [g.num_rows for g in scanned] == [g.get(3) for g in decoded]
        for group, scan in zip(decoded, scanned):
            for chunk, found in zip(group.get(1).items, scan.chunks, strict=True):
                meta = chunk.get(3)
                start = meta.get(11) or meta.get(9)
                expected = (meta.get(4, 0), start, meta.get(7), chunk.get(4), chunk.get(5))
                assert (found.codec, found.start, found.size, found.index_offset,
                        found.index_length) == expected  # fmt: skip
                checked += 1
    assert checked == 3 * 5 * 2 + 4 * 2  # 3 row groups of 5 leaves, twice; 4 of 2


def test_a_shard_end_is_one_request_once_a_footer_size_is_known(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_file(tmp_path / "data" / "a.parquet", "none")
    (tmp_path / "data" / "b.parquet").write_bytes((tmp_path / "data" / "a.parquet").read_bytes())
    store = CountingStore(str(tmp_path))
    first, second = store.list("data")
    guess = TailGuess(initial=64)  # far too short for the footer
    footer = read_footer(store, first, RequestCounter(), guess)
    assert len(store.requests) == 2  # the end, the rest of the footer
    assert len(footer.blobs) == 3 and len(store.requests) == 3  # the offset indexes, if asked
    store.requests.clear()
    footer = read_footer(store, second, RequestCounter(), guess)
    assert len(store.requests) == 1 and store.requests[0][1] == guess.size < second.size
    assert len(footer.blobs) == 3 and all(len(g) == 2 for g in footer.blobs)
    assert len(store.requests) == 1  # the indexes came with the footer

    store.requests.clear()
    small = TailGuess(initial=second.size * 2)  # more than the shard: all of it, once
    footer = read_footer(store, second, RequestCounter(), small)
    assert store.requests == [(0, second.size)]
    read_columns(footer, lambda leaf: True)
    assert len(store.requests) == 1  # its columns were in that read


def test_a_range_file_keeps_what_it_fetched_merged(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.bin").write_bytes(bytes(range(256)) * 40)
    store = CountingStore(str(tmp_path))
    source = RangeFile(store, store.list("data")[0], RequestCounter())
    source.fetch_span((100, 200))
    source.fetch_span((300, 400))
    assert source.missing([(50, 450)]) == [(50, 100), (200, 300), (400, 450)]
    source.fetch_span((200, 300))  # joins its neighbours
    assert source.held(100, 300) == (bytes(range(256)) * 2)[100:400]
    assert source.missing([(150, 350), (390, 420)]) == [(400, 420)]
    source.prefetch([(0, 10), (395, 420), (5000, 5010)], max_gap=20, budget=20)
    assert store.requests[3:] == [(0, 10), (400, 20), (5000, 10)]  # only what was missing
    source.prefetch([(10, 20), (30, 40), (90, 100)], max_gap=20, budget=20)
    assert store.requests[6:] == [(10, 30), (90, 10)]  # one gap of 10 fits the budget
    assert source.held_bytes == 40 + 330 + 10  # 0-40, 90-420, 5000-5010
