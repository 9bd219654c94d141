"""The shard's bytes in large aligned blocks, each hashed twice and written to disk, three at once.

Every byte of a shard is put once into one of a few page-aligned blocks of memory (images straight
from their files by ``preadv``, the small pieces copied). A full block then goes, at the same time,
to three threads: one feeds the shard's sha256 (its Hub LFS id), one feeds the sha256 of each image
whose bytes it holds (the manifest's record of the input), and one writes it to the shard with
``O_DIRECT``: the disk reads the block by DMA, so the bytes are never copied into the page cache
and nothing is left for a final ``fsync`` but the file's size. While those run, the next block is
being filled. So each image byte is copied once in memory (the read) and hashed twice from the
same memory, and the disk, the two hashes and the reads all work at once: a build costs about the
slowest of them, not their sum.

Memory is the blocks, at most ``BLOCKS x BLOCK`` (32 MiB), whatever the size of the images; a
block is filled again as soon as its threads are done with it, so only as many are touched as
the threads need to keep up. Where the
filesystem refuses ``O_DIRECT`` (tmpfs, some network filesystems), blocks are written through the
page cache instead and their writeback is started at once.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import mmap
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

BLOCK = 8 << 20  # a multiple of every device's logical block size
BLOCKS = 4  # one being filled, up to three in the threads' hands
ALIGN = 4096  # O_DIRECT: offsets, lengths and addresses aligned to this
NO_DIRECT = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


class ImageDigest:
    """The sha256 of one image's bytes, fed block by block on the image hashing thread.

    ``hexdigest`` is set (and the hash object let go) once its last block is hashed, so it is
    ready when :meth:`Blocks.finish` returns. Slotted, without a Future: a shard of many small
    files holds one per file until then.
    """

    __slots__ = ("hexdigest", "sha")

    def __init__(self) -> None:
        self.sha: Any = hashlib.sha256()
        self.hexdigest = ""


class Blocks:
    """A file written in order through aligned blocks; its sha256 and its images' on the way."""

    def __init__(self, path: str, direct: bool = True) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._direct = _open_direct(path) if direct else -1
        self._shard = hashlib.sha256()
        self._shard_thread = ThreadPoolExecutor(1, thread_name_prefix="n2p-hash")
        self._image_thread = ThreadPoolExecutor(1, thread_name_prefix="n2p-hash2")
        self._disk_thread = ThreadPoolExecutor(1, thread_name_prefix="n2p-disk")
        self._spare: list[mmap.mmap] = []
        self._in_flight: collections.deque[tuple[mmap.mmap, list[Future]]] = collections.deque()
        self._block = mmap.mmap(-1, BLOCK)
        self._view = memoryview(self._block)
        self._fill = 0  # bytes of the current block filled
        self._offset = 0  # the current block's place in the file
        self._segments: list[tuple[Any, ...]] = []  # image ranges and ends in the current block

    @property
    def position(self) -> int:
        return self._offset + self._fill

    def room(self) -> memoryview:
        """The free part of the current block (never empty): fill it, then :meth:`advance`."""
        if self._fill == BLOCK:
            self._ship(BLOCK)
        return self._view[self._fill :]

    def advance(self, count: int, image: ImageDigest | None = None) -> None:
        """``count`` more bytes of the room are filled; they belong to ``image`` when given."""
        if image is not None:
            self._segments.append((image, self._fill, self._fill + count))
        self._fill += count

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            room = self.room()
            n = min(len(room), len(view))
            room[:n] = view[:n]
            self.advance(n)
            view = view[n:]

    def end_image(self, image: ImageDigest) -> None:
        """The image's bytes are all in; its digest is ready once its last block is hashed."""
        self._segments.append((image,))

    def check(self) -> None:
        """Raise the first error of a finished block (a full disk, say) without waiting."""
        for _, futures in self._in_flight:
            for future in futures:
                if future.done() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]

    def finish(self) -> tuple[int, str]:
        """Write the rest, wait for every thread, flush to disk: (size, sha256)."""
        size = self.position
        self._ship(self._fill)
        while self._in_flight:
            self._wait_oldest()
        if size % ALIGN and self._direct >= 0:
            os.ftruncate(self._fd, size)  # the last block was padded to the alignment
        os.fsync(self._fd)
        self._close()
        return size, self._shard.hexdigest()

    def abort(self) -> None:
        for _, futures in self._in_flight:
            for future in futures:
                future.cancel()
        self._in_flight.clear()
        self._close()

    def _close(self) -> None:
        for pool in (self._shard_thread, self._image_thread, self._disk_thread):
            pool.shutdown(wait=True)
        for fd in (self._fd, self._direct):
            if fd >= 0:
                os.close(fd)
        self._fd = self._direct = -1

    def _ship(self, length: int) -> None:
        """Hand the current block to the three threads and take a spare one to fill."""
        view, segments, offset = self._view[:length], self._segments, self._offset
        padded = -(-length // ALIGN) * ALIGN if self._direct >= 0 else length
        if padded > length:
            self._view[length:padded] = bytes(padded - length)
        futures = [
            self._shard_thread.submit(self._shard.update, view),
            self._image_thread.submit(_hash_images, self._view, segments),
            self._disk_thread.submit(self._write_block, self._view[:padded], offset, length),
        ]
        self._in_flight.append((self._block, futures))
        while len(self._in_flight) >= BLOCKS or self._oldest_done():
            self._wait_oldest()
        self._block = self._spare.pop() if self._spare else mmap.mmap(-1, BLOCK)
        self._view = memoryview(self._block)
        self._offset += length
        self._fill = 0
        self._segments = []

    def _oldest_done(self) -> bool:
        """The oldest block in the threads' hands is hashed and written: it can be filled
        again. Taking it back at once (not only when every block is out) touches no more
        blocks than the threads need: a shard of small files, whose blocks fill more slowly
        than they are hashed, uses two of them, not all four."""
        if not self._in_flight:
            return False
        futures = self._in_flight[0][1]  # one that failed is left for check() or finish()
        return all(f.done() and f.exception() is None for f in futures)

    def _wait_oldest(self) -> None:
        block, futures = self._in_flight.popleft()
        for future in futures:
            future.result()
        self._spare.append(block)

    def _write_block(self, data: memoryview, offset: int, length: int) -> None:
        if self._direct >= 0:
            try:
                _pwrite_all(self._direct, data, offset)
                return
            except OSError as exc:
                if exc.errno not in NO_DIRECT:
                    raise
                os.close(self._direct)  # refused at the first write: the page cache instead
                self._direct = -1
        _pwrite_all(self._fd, data[:length], offset)
        with contextlib.suppress(OSError, AttributeError):  # start its writeback now
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)


def _hash_images(view: memoryview, segments: list[tuple[Any, ...]]) -> None:
    for segment in segments:
        image = segment[0]
        if len(segment) == 1:
            image.hexdigest, image.sha = image.sha.hexdigest(), None
        else:
            image.sha.update(view[segment[1] : segment[2]])


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def _open_direct(path: str) -> int:
    """A second descriptor of the file for ``O_DIRECT`` writes, or -1 where there is none."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return -1
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:
        return -1
