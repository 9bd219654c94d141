"""Moving image bytes from their files into a shard, hashing everything on the way.

The shard is written through one file descriptor, in order. Local images are copied by the kernel
(``copy_file_range``, what ``cp`` uses: no trip through Python or through user-space buffers), while
a hashing thread reads the same file from the page cache and feeds two sha256s: the image's own
(the manifest's record of the input) and the shard's (its Hub LFS id), which sees every byte
written in the order it was written. The two run at once, so a build costs about the copy or the
hashing, whichever is slower, instead of their sum; and the kernel is asked to write the shard to
disk as it grows, so the disk works at the same time too. Remote images (any fsspec URL) arrive as
blocks fetched a few at a time, ahead of need, within a byte budget; each block is written and then
handed to the same hashing thread.

A local file that changes while it is copied is caught by its status (size, modification and change
times, inode) taken before the copy and after the hash: the shard never silently holds bytes that
differ from the hash recorded for them.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..common.errors import InputError, Problem, cannot_read
from ..common.storage import READ_BLOCK, Storage, is_remote, local_path
from ..common.rows import FileRef

Progress = Callable[[int], None]
COPY_STEP = 64 << 20  # bytes per copy call: progress stays smooth on large images
OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)  # the shard's fault
NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF)
MAX_IMAGES_AHEAD = 4  # images the copy may run ahead of the hashing thread


class ShardFile:
    """A shard being written: bytes and images appended in order, hashed as they go."""

    def __init__(
        self,
        path: str,
        storage: Storage,
        remote_images: Sequence[FileRef],
        read_threads: int,
        read_ahead: int,
        progress: Progress | None = None,
    ) -> None:
        self.position = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._pending = bytearray()
        self._progress = progress
        self._hasher = _Hasher()
        self._remote = _RemoteBlocks(storage, remote_images, read_threads, read_ahead)
        self._kernel_copy = True
        self._buffer: bytearray | None = None  # for copies the kernel cannot do

    def write(self, data: bytes) -> None:
        """Append small pieces (headers, levels, pyarrow's chunks); they are written in batches."""
        self._pending += data
        self.position += len(data)

    def append_image(self, image: FileRef) -> None:
        """Append the image's bytes exactly as they are in its file."""
        self._flush()
        self._hasher.check()
        if is_remote(image.url):
            self._append_remote(image)
        else:
            self._append_local(image)
        self.position += image.size

    def finish(self) -> tuple[int, str, list[str]]:
        """Flush to disk; (size, shard sha256, image sha256s in the order they were appended)."""
        self._flush()
        os.fsync(self._fd)
        size = os.fstat(self._fd).st_size
        os.close(self._fd)
        self._fd = -1
        self._remote.close()
        digest, images = self._hasher.finish()
        if size != self.position:
            raise AssertionError(f"shard is {size} bytes, {self.position} were written")
        return size, digest, images

    def abort(self) -> None:
        self._remote.close()
        self._hasher.abort()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._write_all(memoryview(data))
            self._hasher.put(("data", data))
            self._pending.clear()

    def _write_all(self, data: memoryview) -> None:
        while data:
            data = data[os.write(self._fd, data) :]

    def _append_local(self, image: FileRef) -> None:
        try:
            source = os.open(local_path(image.url), os.O_RDONLY)
        except OSError as exc:
            raise _unreadable(image, exc) from None
        try:
            status = _fingerprint(os.fstat(source))
            if status[0] != image.size:
                raise _changed(image)
            self._hasher.put(("file", image, status))
            self._copy(source, image)
        finally:
            os.close(source)

    def _copy(self, source: int, image: FileRef) -> None:
        done = 0
        while done < image.size:
            try:
                n = self._copy_step(source, done, min(COPY_STEP, image.size - done))
            except OSError as exc:
                if exc.errno in OUTPUT_ERRNOS:
                    raise
                raise _unreadable(image, exc) from None
            if n == 0:
                raise _changed(image)
            self._start_writeback(self.position + done, n)
            done += n
            if self._progress:
                self._progress(n)

    def _start_writeback(self, offset: int, length: int) -> None:
        """Have the kernel start writing these bytes to disk now, without waiting for them.

        Left alone, the shard's pages would sit dirty in memory until the final ``fsync``, which
        would then wait for the whole shard; written back as they come, the disk works while the
        hashing thread does, and the final ``fsync`` finds little left to do. (Dirty pages are
        never dropped: ``DONTNEED`` starts their writeback and frees only clean ones.)
        """
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)

    def _copy_step(self, source: int, offset: int, count: int) -> int:
        if self._kernel_copy:
            try:
                return os.copy_file_range(source, self._fd, count, offset)
            except OSError as exc:
                if exc.errno not in NO_KERNEL_COPY:
                    raise
                self._kernel_copy = False  # e.g. another filesystem on an older kernel
        if self._buffer is None:
            self._buffer = bytearray(READ_BLOCK)
        view = memoryview(self._buffer)[: min(count, READ_BLOCK)]
        n = os.preadv(source, [view], offset)
        self._write_all(view[:n])
        return n

    def _append_remote(self, image: FileRef) -> None:
        self._hasher.put(("start", image, None))
        done = 0
        for block in self._remote.blocks(image):
            self._write_all(memoryview(block))
            self._start_writeback(self.position + done, len(block))
            done += len(block)
            self._hasher.put(("block", block))
            if self._progress:
                self._progress(len(block))
        self._hasher.put(("end", image, None))


def _fingerprint(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _unreadable(image: FileRef, exc: BaseException) -> InputError:
    reason = cannot_read(exc) if isinstance(exc, OSError) else f"cannot read: {exc}"
    problem = Problem(image.display, reason)
    return InputError(f"reading {image.display} failed", [problem])


def _changed(image: FileRef) -> InputError:
    problem = Problem(image.display, f"changed while building: expected {image.size} bytes")
    return InputError(f"{image.display} changed during the build; run the build again", [problem])


class _Hasher:
    """The hashing thread: the shard's sha256 over everything, each image's over its bytes.

    An image's bytes feed both hashes; the image's is updated on a helper thread while this one
    updates the shard's, so the two hashes of a block take the time of one where cores allow.
    """

    def __init__(self) -> None:
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="n2p-hash2")
        self._items: queue.Queue = queue.Queue()
        self._room = threading.Semaphore(MAX_IMAGES_AHEAD)
        self._shard = hashlib.sha256()
        self._images: list[str] = []
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="n2p-hash", daemon=True)
        self._thread.start()

    def put(self, item: tuple) -> None:
        if item[0] in ("file", "start"):
            self._room.acquire()
        self._items.put(item)

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def finish(self) -> tuple[str, list[str]]:
        self._items.put(("done",))
        self._thread.join()
        self._helper.shutdown()
        self.check()
        return self._shard.hexdigest(), self._images

    def abort(self) -> None:
        self._stop = True
        self._items.put(("done",))
        self._room.release()  # a producer waiting for room must not wait forever
        self._thread.join()
        self._helper.shutdown()

    def _run(self) -> None:
        buffer = bytearray(READ_BLOCK)
        image_sha = hashlib.sha256()
        while True:
            item = self._items.get()
            kind = item[0]
            if kind == "done":
                return
            if self._stop or self._error is not None:
                if kind in ("file", "end"):
                    self._room.release()
                continue
            try:
                if kind == "data":
                    self._shard.update(item[1])
                elif kind == "file":
                    self._images.append(self._hash_file(item[1], item[2], buffer))
                elif kind == "start":
                    image_sha = hashlib.sha256()
                elif kind == "block":
                    self._both(image_sha, item[1])
                elif kind == "end":
                    self._images.append(image_sha.hexdigest())
            except BaseException as exc:
                self._error = exc
            finally:
                if kind in ("file", "end"):
                    self._room.release()

    def _both(self, image_sha: Any, data: bytes | memoryview) -> None:
        """Feed ``data`` to the image's hash (on the helper thread) and to the shard's (here)."""
        done = self._helper.submit(image_sha.update, data)
        self._shard.update(data)
        done.result()

    def _hash_file(self, image: FileRef, status: tuple, buffer: bytearray) -> str:
        view, digest, total = memoryview(buffer), hashlib.sha256(), 0
        try:
            with open(local_path(image.url), "rb", buffering=0) as f:
                while n := f.readinto(buffer):
                    self._both(digest, view[:n])
                    total += n
                after = _fingerprint(os.fstat(f.fileno()))
        except OSError as exc:
            raise _unreadable(image, exc) from None
        if total != image.size or after != status:
            raise _changed(image)
        return digest.hexdigest()


class _RemoteBlocks:
    """Blocks of remote images, fetched in the order they will be written, ahead of need.

    Up to ``threads`` range requests run at once while the fetched but unwritten bytes stay within
    ``budget`` (one block is always allowed): object-store latency overlaps, memory stays bounded.
    The last block of each image asks for one byte more than expected, so a file that grew since it
    was listed is noticed, like one that shrank.
    """

    def __init__(
        self, storage: Storage, images: Sequence[FileRef], threads: int, budget: int
    ) -> None:
        self._storage = storage
        self._jobs = collections.deque(
            (img, start, min(img.size, start + READ_BLOCK) + (start + READ_BLOCK >= img.size))
            for img in images
            for start in range(0, img.size, READ_BLOCK)
        )
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-fetch")
        self._in_flight: collections.deque[tuple[FileRef, int, Future]] = collections.deque()
        self._budget = max(READ_BLOCK, budget)
        self._flying = 0

    def blocks(self, image: FileRef) -> Iterator[bytes]:
        received = 0
        while received < image.size:
            self._fill()
            expected, start, future = self._in_flight.popleft()
            assert expected == image, "remote blocks are written in the order they were planned"
            try:
                block = future.result()
            except (OSError, ValueError) as exc:
                raise _unreadable(image, exc) from None
            finally:
                self._flying -= READ_BLOCK
            received += len(block)
            if received > image.size:
                raise _changed(image)
            if start + len(block) < min(image.size, start + READ_BLOCK):
                raise _changed(image)
            yield block

    def close(self) -> None:
        self._jobs.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _fill(self) -> None:
        while self._jobs and (not self._in_flight or self._flying + READ_BLOCK <= self._budget):
            image, start, end = self._jobs.popleft()
            future = self._pool.submit(self._fetch, image.url, start, end)
            self._in_flight.append((image, start, future))
            self._flying += READ_BLOCK

    def _fetch(self, url: str, start: int, end: int) -> bytes:
        fs, path = self._storage.filesystem(url)
        return fs.cat_file(path, start=start, end=end)
