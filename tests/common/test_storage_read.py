"""``Storage.read``: a file's first bytes, or all of them, as the crawl and the privacy scan read
their small files (a local file by system calls alone, a remote one through fsspec)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nifti2parquet.common.storage import Storage, read_up_to

SIZES = [0, 1, 700, (64 << 10) - 1, 64 << 10, (64 << 10) + 1, 3 << 20]


@pytest.mark.parametrize("size", SIZES)
def test_a_local_file_is_read_whole_whatever_its_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert Storage().read(str(path)) == data
    assert Storage().read(path.as_uri()) == data  # a file:// URL is the same file


@pytest.mark.parametrize("limit", [0, 1, 5000, (64 << 10) + 3, 2 << 20])
def test_a_limit_stops_the_read_at_that_many_bytes(tmp_path: Path, limit: int) -> None:
    data = os.urandom(3 << 20)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert Storage().read(str(path), limit) == data[:limit]


def test_a_missing_file_raises_what_open_would(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Storage().read(str(tmp_path / "absent.json"))
    with pytest.raises(IsADirectoryError):
        Storage().read(str(tmp_path))


def test_no_read_asks_for_more_than_4_mib_at_once() -> None:
    """A 16 MiB limit must not allocate 16 MiB for a small file: the chunks grow from 64 KiB."""
    asked: list[int] = []
    source = memoryview(os.urandom(20 << 20))

    def read(size: int) -> bytes:
        asked.append(size)
        start = sum(asked) - size
        return bytes(source[start : start + size])

    assert read_up_to(read, 16 << 20) == bytes(source[: 16 << 20])
    assert asked[0] == 64 << 10
    assert max(asked) == 4 << 20
    assert sum(asked) == 16 << 20


def test_no_descriptor_is_left_open(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"{}")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        Storage().read(str(path))
    with pytest.raises(FileNotFoundError):
        Storage().read(str(tmp_path / "gone"))
    assert len(os.listdir("/proc/self/fd")) == before
