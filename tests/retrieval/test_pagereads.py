"""Reading many values with few requests: the plan, and the pages split as their bytes arrive.

A remote store answers each request in pieces of any size (a network does); the values read must
equal what pyarrow reads, whatever the pieces, the compression, or how many rows share a page, and
the requests must be fewer than the values, never wider than the budget of bytes nobody asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_readback import NIFTI, write_file

from nifti2parquet.retrieval.catalog import DatasetFile
from nifti2parquet.retrieval.pagereads import (
    MAX_FILES,
    PAGE_GAP,
    SLACK,
    PageFetch,
    PageRead,
    fetches,
    plan_reads,
)
from nifti2parquet.retrieval.ranges import LocalStore, RequestCounter
from nifti2parquet.retrieval.readback import (
    HEAD,
    BlobLeaf,
    Location,
    PageSpot,
    open_shard,
    path_locations,
)


class PiecesStore(LocalStore):
    """A local folder read as a remote store would be: each range in pieces of ``piece`` bytes,
    every request logged."""

    remote = True

    def __init__(self, root: str, piece: int) -> None:
        super().__init__(root)
        self.piece = piece
        self.requests: list[tuple[str, int, int]] = []

    def read(self, path: str, start: int, length: int) -> bytes:
        self.requests.append((path, start, length))
        return super().read(path, start, length)

    def stream(self, path: str, start: int, length: int) -> Iterator[bytes]:
        self.requests.append((path, start, length))
        data = super().read(path, start, length)
        for k in range(0, len(data), self.piece):
            yield data[k : k + self.piece]


def dataset_files(store: LocalStore, values: dict[str, bytes]) -> list[DatasetFile]:
    shard = store.list("data")[0]
    index = open_shard(store, shard, RequestCounter())
    return [
        DatasetFile(path, len(values[path]), hashlib.sha256(values[path]).hexdigest(), location)
        for path, location in path_locations(index)
    ]


def run_all(fetch_list: list[PageFetch]) -> dict[str, bytes]:
    got: dict[str, bytes] = {}

    def write(file: DatasetFile, pieces: object) -> None:
        got[file.path] = b"".join(pieces)  # type: ignore[arg-type]

    for fetch in fetch_list:
        fetch.run(write)
    return got


@pytest.mark.parametrize("piece", [1, 7, 4096])
@pytest.mark.parametrize("compression", ["none", "snappy", "zstd"])
def test_values_read_in_few_requests_equal_pyarrows(
    tmp_path: Path, compression: str, piece: int
) -> None:
    (tmp_path / "data").mkdir()
    expected = write_file(tmp_path / "data" / "x.parquet", compression)
    store = PiecesStore(str(tmp_path), piece)
    files = dataset_files(store, expected)
    store.requests.clear()

    reads = plan_reads(files, remote=True)
    got = run_all(fetches(reads, store, RequestCounter(), {}))
    assert got == expected
    assert len(store.requests) == len(reads) < len(got) / 10


def test_some_values_of_shared_pages(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    expected = write_file(tmp_path / "data" / "x.parquet", "none")
    store = PiecesStore(str(tmp_path), 13)
    every = dataset_files(store, expected)
    chosen = [f for k, f in enumerate(every) if k % 3 == 1]  # some of each page's values
    counter = RequestCounter()
    got = run_all(fetches(plan_reads(chosen, remote=True), store, counter, {}))
    assert got == {f.path: expected[f.path] for f in chosen}
    assert counter.bytes < (tmp_path / "data" / "x.parquet").stat().st_size


def test_a_page_mostly_of_other_values_is_not_read_whole(tmp_path: Path) -> None:
    """One value of a page holding large others: its exact range, not the page."""
    (tmp_path / "data").mkdir()
    big = [bytes([k]) * 100_000 for k in range(6)]
    table = pa.table(
        {"img": pa.array([{"bytes": b, "path": f"{k}.nii"} for k, b in enumerate(big)], NIFTI)}
    )
    pq.write_table(table, tmp_path / "data" / "x.parquet", compression="none",
                   use_dictionary=False, data_page_size=1 << 20, data_page_version="1.0",
                   write_page_index=True)  # fmt: skip
    store = PiecesStore(str(tmp_path), 4096)
    values = {f"{k}.nii": b for k, b in enumerate(big)}
    wanted = [f for f in dataset_files(store, values) if f.path == "3.nii"]
    (read,) = plan_reads(wanted, remote=True)
    assert read.exact and read.end - read.start > len(big[3]) + SLACK  # the page is larger
    counter = RequestCounter()
    assert run_all(fetches([read], store, counter, {})) == {"3.nii": big[3]}
    # the page's head, the 4-byte length of each value before it, then the value
    assert counter.bytes == HEAD + 3 * 4 + len(big[3])


def page_file(k: int, offset: int, size: int, shard: str = "data/s.parquet") -> DatasetFile:
    """A file alone in a page at ``offset`` of ``size`` bytes (value: size - 4 - 20 bytes)."""
    leaf = BlobLeaf("img", "img.bytes", 0, 1, 0, (PageSpot(offset, size, 0),))
    return DatasetFile(f"f{k}", size - 24, "0" * 64, Location(shard, 0, leaf, 0, 0))


def test_the_smallest_gaps_are_joined_within_the_budget() -> None:
    # pages of 10 KB; gaps of 100 KB, 300 KB, 200 KB, 2 MB
    offsets = [0, 110_000, 420_000, 630_000, 2_640_000]
    files = [page_file(k, offset, 10_000) for k, offset in enumerate(offsets)]
    runs = [(r.start, r.end, [f.path for f in r.files]) for r in plan_reads(files, remote=True)]
    assert PAGE_GAP < 100_000 + 300_000 + 200_000  # the three can't all be joined
    assert runs == [
        (0, 120_000, ["f0", "f1"]),  # 100 KB joined first, then 200 KB: 300 KB in all
        (420_000, 640_000, ["f2", "f3"]),
        (2_640_000, 2_650_000, ["f4"]),  # 2 MB apart: never
    ]
    assert [(r.start, r.end) for r in plan_reads(files, remote=False)] == [
        (o, o + 10_000) for o in offsets
    ]  # a local folder: each page read on its own


def test_large_pages_and_many_files_keep_reads_of_their_own() -> None:
    touching = [page_file(k, k * 6_000_000, 6_000_000) for k in range(3)]  # 6 MB each
    assert len(plan_reads(touching, remote=True)) == 2  # 16 MB at most per read
    small = [page_file(k, k * 100, 100) for k in range(MAX_FILES + 10)]
    assert [len(r.files) for r in plan_reads(small, remote=True)] == [MAX_FILES, 10]


def test_pages_held_in_memory_are_not_fetched(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    expected = write_file(tmp_path / "data" / "x.parquet", "none")
    store = PiecesStore(str(tmp_path), 100)
    files = dataset_files(store, expected)
    from nifti2parquet.retrieval.ranges import RangeFile

    shard = store.list("data")[0]
    whole = RangeFile(store, shard, RequestCounter())
    whole.fetch_span((0, shard.size))
    store.requests.clear()
    held = {shard.path: whole}
    reads = plan_reads(files, remote=True, held=lambda s, start, n: s in held)
    assert run_all(fetches(reads, store, RequestCounter(), held)) == expected
    assert store.requests == []
    assert all(not r.exact for r in reads) and isinstance(reads[0], PageRead)


def test_reads_that_make_a_request_start_before_those_held_in_memory(tmp_path: Path) -> None:
    """Files already in memory are written while the requests travel, not before they are sent:
    the reads that ask the store come first, the largest first."""
    from nifti2parquet.retrieval.ranges import RangeFile

    (tmp_path / "data").mkdir()
    write_file(tmp_path / "data" / "x.parquet", "none")
    store = PiecesStore(str(tmp_path), 100)
    shard = store.list("data")[0]
    start = RangeFile(store, shard, RequestCounter())
    start.fetch_span((0, 2000))  # what the index read of the shard, say
    pages = {"held-small": (10, 200), "held-large": (500, 300), "asked-small": (3000, 400)}
    pages["asked-large"] = (5000, 900)
    reads = [PageRead(shard.path, offset, offset + size, (page_file(0, offset, size),))
             for offset, size in pages.values()]  # fmt: skip
    named = dict(zip(((r.start, r.end) for r in reads), pages))
    ordered = fetches(reads, store, RequestCounter(), {shard.path: start})
    assert [named[(f.read.start, f.read.end)] for f in ordered] == [
        "asked-large",
        "asked-small",
        "held-large",
        "held-small",
    ]
    assert [f.requests for f in ordered] == [True, True, False, False]
