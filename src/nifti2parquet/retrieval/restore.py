"""Writing a built dataset's files back into a folder: each checked, atomic, and resumable.

Each file is streamed from its page into a temp file next to its final place (``.NAME.n2p-ID.
partial``), hashed while it is written, and renamed to its final name only when its size and
sha256 are the ones the ``files`` config records and its bytes are on disk (``fsync``): no
half-written or wrong file ever has a final name. The sync and the rename are handed to threads
of their own (:class:`Commits`): a read's next file is written while the last one syncs, and
the syncs of files written together are one journal commit of the filesystem, not one each.

A file already there with the recorded sha256 is kept as it is (a re-run after a kill
fetches nothing that was complete); a file there with other content was not written by us, and
the export stops before writing anything rather than overwrite it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from ..common.errors import InputError, OutputError, Problem, os_reason
from ..common.progress import Reporter
from ..common.units import count, plural
from ..shards.output import sync_file
from .catalog import DatasetFile

LOCK = ".nifti2parquet-export.lock"  # in DEST while an export runs; removed when it succeeds
TEMP = re.compile(r"^\..+\.n2p-[0-9a-f]{12}\.partial$")
HASH_BLOCK = 8 << 20

Write = Callable[[DatasetFile, Iterable[bytes]], None]


class Fetch(Protocol):
    """Some files read together (one request from the Hub): ``run(write)`` hands each file's
    bytes, in pieces, to ``write(file, pieces)``, one file after the other."""

    @property
    def files(self) -> tuple[DatasetFile, ...]: ...

    def run(self, write: Write) -> None: ...


@dataclass(frozen=True)
class RestorePlan:
    """What an export will do in DEST, decided before anything is written."""

    write: tuple[DatasetFile, ...]  # missing in DEST
    present: tuple[DatasetFile, ...]  # already there, byte-identical (sha256 checked)
    unsafe: tuple[Problem, ...]  # paths that would land outside DEST: left out, listed

    @property
    def write_bytes(self) -> int:
        return sum(f.size for f in self.write)


def safe_path(path: str) -> str:
    """Why ``path`` cannot be written under DEST as given, or "" when it can."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return "not a relative POSIX path"
    if any(p in ("", ".", "..") for p in parts):
        return "has an empty, '.' or '..' part: it would not stay inside the destination"
    return ""


def plan_restore(dest: str, files: Sequence[DatasetFile], reporter: Reporter) -> RestorePlan:
    """Sort the files into missing and present; refuse (OutputError) to overwrite other files."""
    write, present, unsafe, conflicts = [], [], [], []
    for file in files:
        reason = safe_path(file.path)
        if reason:
            unsafe.append(Problem(file.path, f"left out: {reason}", "warning"))
            continue
        state = _state(dest, file)
        if state == "missing":
            write.append(file)
        elif state == "same":
            present.append(file)
        else:
            conflicts.append(Problem(os.path.join(dest, file.path), state))
    if conflicts:
        raise OutputError(
            f"{dest}: {count(len(conflicts), 'file')} there {plural(len(conflicts), 'is')} not the "
            f"dataset's and would be "
            f"overwritten; nothing was written (move them away, or export elsewhere):",
            conflicts,
        )
    return RestorePlan(tuple(write), tuple(present), tuple(unsafe))


def _state(dest: str, file: DatasetFile) -> str:
    """missing, same, or why the path in DEST is not ours to write."""
    target = os.path.join(dest, file.path)
    parent = os.path.dirname(file.path)
    while parent:  # a file (or link) where a folder must be
        full = os.path.join(dest, parent)
        if os.path.lexists(full) and (os.path.islink(full) or not os.path.isdir(full)):
            return f"is a file where the folder {parent}/ must be"
        parent = os.path.dirname(parent)
    if not os.path.lexists(target):
        return "missing"
    if os.path.islink(target) or not os.path.isfile(target):
        return "exists and is not a regular file"
    size = os.path.getsize(target)
    if size != file.size:
        return f"exists with other content ({size:,} bytes, the dataset's has {file.size:,})"
    if _sha256(target) != file.sha256:
        return "exists with other content (same size, other sha256)"
    return "same"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def locked(dest: str) -> Iterator[None]:
    """One export at a time into DEST; the lock file is removed when the export ends (a killed
    export leaves it, unlocked, and the next one removes it)."""
    import fcntl

    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, LOCK)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{dest}: another nifti2parquet export is writing here") from None
        try:
            yield
        finally:
            os.remove(path)


def clear_partials(dest: str) -> int:
    """Remove the temp files a killed export left (only names of our own pattern)."""
    removed = 0
    for folder, _, names in os.walk(dest):
        for name in names:
            if TEMP.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, name))
                    removed += 1
    return removed


def restore(
    dest: str,
    fetches: Sequence[Fetch],
    reporter: Reporter,
    threads: int = 8,
) -> int:
    """Write the files of ``fetches`` into ``dest``, ``threads`` fetches at once; returns the
    bytes written."""
    total = sum(f.size for fetch in fetches for f in fetch.files)
    lock = threading.Lock()
    with reporter.bar(total, "export") as bar, Commits(threads) as commits:

        def progress(n: int) -> None:
            with lock:
                bar.update(n)

        def write(file: DatasetFile, pieces: Iterable[bytes]) -> None:
            write_file(dest, file, pieces, progress, commits.submit)

        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-export") as pool:
            futures = [pool.submit(fetch.run, write) for fetch in fetches]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:  # the first failure stops the export: no file is started after
                for future in futures:
                    future.cancel()
                raise
        commits.wait()
    return total


Commit = Callable[[BinaryIO, str, str], None]  # (temp file, its path, its final path)


class Commits:
    """Files written and checked, synced and renamed into place by threads of their own: at most
    ``pending`` files wait (open) at a time; :meth:`wait` raises the first failure."""

    def __init__(self, threads: int, pending: int = 64) -> None:
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-sync")
        self._slots = threading.Semaphore(pending)
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()

    def submit(self, out: BinaryIO, tmp: str, target: str) -> None:
        self._slots.acquire()
        try:
            future = self._pool.submit(self._commit, out, tmp, target)
        except BaseException:
            self._slots.release()
            commit(out, tmp, target)  # the pool is shutting down: here and now
            return
        with self._lock:
            self._futures.append(future)

    def _commit(self, out: BinaryIO, tmp: str, target: str) -> None:
        try:
            commit(out, tmp, target)
        finally:
            self._slots.release()

    def wait(self) -> None:
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            future.result()

    def __enter__(self) -> Commits:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)  # every file written is committed, even on a failure


def write_file(
    dest: str,
    file: DatasetFile,
    pieces: Iterable[bytes],
    progress: Callable[[int], None],
    then: Commit | None = None,
) -> None:
    """Stream one file into a temp file beside its place and check it; then ``then(out, tmp,
    target)`` (default: :func:`commit`, here and now) syncs it and renames it into place.

    The temp file exists before the first piece is asked for (a read held by the network
    leaves it behind if the export is killed; the next export removes it)."""
    target = os.path.join(dest, file.path)
    folder, name = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.n2p-{uuid.uuid4().hex[:12]}.partial")
    digest, size = hashlib.sha256(), 0
    try:
        out = open(tmp, "wb")  # noqa: SIM115 (closed by the commit, or below on a failure)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {os_reason(exc)}") from exc
    try:
        for piece in pieces:
            out.write(piece)
            digest.update(piece)
            size += len(piece)
            progress(len(piece))
        if (size, digest.hexdigest()) != (file.size, file.sha256):
            raise InputError(
                f"{file.path}: the bytes read ({size:,}) do not match the size and sha256 the "
                f"dataset records ({file.size:,} bytes, {file.sha256[:12]}…); nothing written "
                f"under this name"
            )
        out.flush()
    except BaseException as exc:
        out.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{target}: cannot write: {os_reason(exc)}") from exc
        raise
    (then or commit)(out, tmp, target)


def commit(out: BinaryIO, tmp: str, target: str) -> None:
    """Sync a checked temp file, close it and rename it into place (removed if any step fails)."""
    try:
        try:
            sync_file(out)
        finally:
            out.close()
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {os_reason(exc)}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
