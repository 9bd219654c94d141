"""The shard's write blocks: every byte lands in order, with the shard's and each image's sha256,
whether the disk takes the blocks directly (``O_DIRECT``) or through the page cache."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from nifti2parquet.shards.blocks import ALIGN, BLOCK, BLOCKS, Blocks, ImageDigest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fill(blocks: Blocks, data: bytes, image: ImageDigest) -> None:
    """As the transfer does: read into the room the blocks offer, a piece at a time."""
    view = memoryview(data)
    while view:
        room = blocks.room()
        n = min(len(room), len(view), 3 << 20)  # reads that straddle block boundaries
        room[:n] = view[:n]
        blocks.advance(n, image)
        view = view[n:]
    blocks.end_image(image)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
@pytest.mark.parametrize("tail", [0, 1, ALIGN - 1, ALIGN + 17])
def test_bytes_and_hashes_across_blocks(tmp_path: Path, direct: bool, tail: int) -> None:
    """More blocks than the ring holds, images across block boundaries, any final length."""
    images = [os.urandom(BLOCK + 1234), os.urandom(5), os.urandom(2 * BLOCK - 7)]
    small = [b"PAR1", b"\x00" * 9, b"x" * (BLOCKS * 1000), os.urandom(tail)]
    path = tmp_path / "shard"
    blocks = Blocks(str(path), direct=direct)
    digests = []
    for piece, image in zip(small, [*images, None]):
        blocks.write(piece)
        if image is not None:
            digests.append(ImageDigest())
            _fill(blocks, image, digests[-1])
    size, digest = blocks.finish()

    expected = b"".join(p for pair in zip(small, [*images, b""]) for p in pair)
    assert path.read_bytes() == expected
    assert (size, digest) == (len(expected), _sha(expected))
    assert [d.hexdigest for d in digests] == [_sha(i) for i in images]


def test_an_empty_file(tmp_path: Path) -> None:
    blocks = Blocks(str(tmp_path / "empty"))
    assert blocks.finish() == (0, _sha(b""))
    assert (tmp_path / "empty").read_bytes() == b""


def test_a_write_error_reaches_the_writer(tmp_path: Path) -> None:
    """The disk thread's error (here: the file descriptor is gone) is raised, not swallowed."""
    blocks = Blocks(str(tmp_path / "shard"), direct=False)
    os.close(blocks._fd)
    blocks._fd = os.open(os.devnull, os.O_RDONLY)  # writes now fail with EBADF
    blocks.write(os.urandom(BLOCK + 1))
    with pytest.raises(OSError):
        blocks.finish()
    blocks.abort()


def test_a_slowly_filled_file_touches_two_blocks(tmp_path: Path) -> None:
    """Small files fill a block more slowly than the threads hash and write it: each block is
    filled again once they are done with it, so two blocks (16 MiB) serve a whole shard, not
    all four."""
    path = tmp_path / "shard"
    blocks = Blocks(str(path))
    used, data = set(), os.urandom(BLOCK)
    for _ in range(3 * BLOCKS):
        room = blocks.room()  # ships the block filled before, takes one to fill
        used.add(id(room.obj))
        room[:] = data
        blocks.advance(BLOCK)
        deadline = time.monotonic() + 60
        while any(not f.done() for _, fs in blocks._in_flight for f in fs):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    size, digest = blocks.finish()
    assert size == 3 * BLOCKS * BLOCK and digest == _sha(path.read_bytes())
    assert len(used) == 2
