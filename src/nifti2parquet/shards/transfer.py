"""Moving image bytes from their files into a shard, hashing everything on the way.

The shard is assembled in order in large aligned blocks (:mod:`.blocks`). A local image is read
with ``preadv`` straight into the block being filled, the only copy its bytes make in memory; a
full block is then hashed for the shard and for the images it holds, and written to disk, on three
threads while the next block fills. Remote images (any fsspec URL) arrive as blocks fetched a few
at a time, ahead of need, within a byte budget, and are copied into the shard's blocks the same
way.

A local file that changes while it is read is caught by its status (size, modification and change
times, inode) taken before the first read and after the last: the bytes hashed are the bytes
written, and they are never silently other than the file's.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ..common.errors import InputError, Problem, cannot_read
from ..common.hashing import Sha256s
from ..common.rows import FileRef
from ..common.storage import READ_BLOCK, Storage, is_remote, local_path
from .blocks import Blocks, ImageDigest

Progress = Callable[[int], None]
PROGRESS_STEP = 64 << 20  # bytes between progress reports: smooth on large images, few messages
# An image up to this size read whole in one go is hashed at once, on this thread: for small files
# that costs less than handing each one to the image hashing thread, which kept them all alive
# until their block was hashed (a block holds many thousands of small files).
SMALL_IMAGE = 64 << 10
CHANGED_SINCE_HASHED = "its bytes changed since they were hashed"
_NO_DIGEST_YET = bytes(32)


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
        self._out = Blocks(path)
        self._remote = _RemoteBlocks(storage, remote_images, read_threads, read_ahead)
        self._progress = progress
        # per image, 32 bytes: its sha256, read whole and hashed at once (a string per small
        # file of a large shard adds up), or room for the digest its blocks feed, set at the end
        self._digests = bytearray()
        self._block_fed: list[tuple[int, ImageDigest]] = []
        # block-fed digests whose sha256 was recorded before the copy: checked once they are ready
        self._expected: list[tuple[ImageDigest, str, FileRef]] = []

    @property
    def position(self) -> int:
        return self._out.position

    def write(self, data: bytes) -> None:
        """Append small pieces (headers, levels, pyarrow's chunks)."""
        self._out.write(data)

    def append_image(self, image: FileRef, expected: str | None = None) -> None:
        """Append the image's bytes exactly as they are in its file.

        ``expected``: its sha256 as already recorded (the files config hashes its files before
        it copies them); the copy is checked against it: a small file read whole here, a larger
        one, hashed block by block, in :meth:`finish`.
        """
        self._out.check()
        digest = ImageDigest()
        if is_remote(image.url):
            self._append_remote(image, digest)
        else:
            self._append_local(image, digest)
        if digest.sha is not None:  # hashed block by block: ready once its last block is
            self._out.end_image(digest)
            self._block_fed.append((len(self._digests), digest))
            self._digests += _NO_DIGEST_YET
            if expected is not None:
                self._expected.append((digest, expected, image))
            return
        if expected is not None and digest.hexdigest != expected:
            raise _changed(image, CHANGED_SINCE_HASHED)
        self._digests += bytes.fromhex(digest.hexdigest)

    def finish(self) -> tuple[int, str, Sha256s]:
        """Flush to disk; (size, shard sha256, image sha256s in the order they were appended)."""
        self._remote.close()
        size, digest = self._out.finish()
        for image_digest, expected, image in self._expected:
            if image_digest.hexdigest != expected:
                raise _changed(image, CHANGED_SINCE_HASHED)
        for at, image_digest in self._block_fed:
            self._digests[at : at + 32] = bytes.fromhex(image_digest.hexdigest)
        return size, digest, Sha256s(self._digests)

    def abort(self) -> None:
        self._remote.close()
        self._out.abort()

    def _append_local(self, image: FileRef, digest: ImageDigest) -> None:
        try:
            source = os.open(local_path(image.url), os.O_RDONLY)
        except OSError as exc:
            raise _unreadable(image, exc) from None
        try:
            status = _fingerprint(os.fstat(source))
            if status[0] != image.size:
                raise _changed(image)
            if image.size > SMALL_IMAGE:
                with contextlib.suppress(OSError, AttributeError):  # a larger read-ahead, cold
                    os.posix_fadvise(source, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            self._read(source, image, digest)
            if _fingerprint(os.fstat(source)) != status:
                raise _changed(image)
        finally:
            os.close(source)

    def _read(self, source: int, image: FileRef, digest: ImageDigest) -> None:
        """The image's bytes straight from its file into the shard's blocks."""
        done = unreported = 0
        while done < image.size:
            room = self._out.room()
            try:
                n = os.preadv(source, [room[: image.size - done]], done)
            except OSError as exc:
                raise _unreadable(image, exc) from None
            if n == 0:
                raise _changed(image)
            if n == image.size <= SMALL_IMAGE:  # read whole at once: hashed now
                digest.hexdigest, digest.sha = hashlib.sha256(room[:n]).hexdigest(), None
                self._out.advance(n)
            else:
                self._out.advance(n, digest)
            done += n
            unreported += n
            if self._progress and (unreported >= PROGRESS_STEP or done == image.size):
                self._progress(unreported)
                unreported = 0

    def _append_remote(self, image: FileRef, digest: ImageDigest) -> None:
        for block in self._remote.blocks(image):
            view = memoryview(block)
            while view:
                room = self._out.room()
                n = min(len(room), len(view))
                room[:n] = view[:n]
                self._out.advance(n, digest)
                view = view[n:]
            if self._progress:
                self._progress(len(block))


def _fingerprint(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _unreadable(image: FileRef, exc: BaseException) -> InputError:
    reason = cannot_read(exc) if isinstance(exc, OSError) else f"cannot read: {exc}"
    problem = Problem(image.display, reason)
    return InputError(f"reading {image.display} failed", [problem])


def _changed(image: FileRef, why: str = "") -> InputError:
    why = why or f"expected {image.size} bytes"
    problem = Problem(image.display, f"changed while building: {why}")
    return InputError(f"{image.display} changed during the build; run the build again", [problem])


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
