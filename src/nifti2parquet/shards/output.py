"""The output folder: laid out exactly like the Hub repo it becomes, plus a hidden state folder.

    OUTPUT_DIR/
      README.md                              the dataset card (written last)
      data/train-00000-of-00003.parquet      shards, each renamed into place only when complete
      .nifti2parquet/                        never uploaded: manifest, markers, temp files

A file named like a shard is always complete: shards are written under ``.nifti2parquet/tmp/``,
flushed to disk, then renamed into ``data/`` (an atomic rename locally; on object stores a copy of
a finished object, which appears whole or not at all). The folder may be local or any fsspec URL.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import posixpath
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..common.errors import OutputError
from ..common.storage import Storage, is_remote, local_path

STATE = ".nifti2parquet"
TMP = f"{STATE}/tmp"
PARTIAL = ".partial"
LINES_PER_WRITE = 4096


class OutputFolder:
    """Paths relative to the output root, with atomic writes."""

    def __init__(self, root: str, storage: Storage | None = None) -> None:
        self.url = root.rstrip("/") if is_remote(root) else os.path.abspath(local_path(root))
        self.storage = storage or Storage()
        self.remote = is_remote(self.url)
        self._fs, self._root = (
            self.storage.filesystem(self.url) if self.remote else (None, self.url)
        )

    def __repr__(self) -> str:
        return f"OutputFolder({self.url!r})"

    def full(self, rel: str) -> str:
        """The path (local) or fs path (remote) of a file in the folder."""
        return posixpath.join(self._root, rel) if self.remote else os.path.join(self._root, rel)

    def display(self, rel: str) -> str:
        return f"{self.url}/{rel}" if self.remote else os.path.join(self.url, rel)

    # reading -------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self._fs.exists(self.full(rel)) if self._fs else os.path.exists(self.full(rel))

    def size(self, rel: str) -> int:
        return int(self._fs.size(self.full(rel))) if self._fs else os.path.getsize(self.full(rel))

    def listdir(self, rel: str) -> list[str]:
        """Names in a sub-folder (empty when it does not exist), sorted."""
        if self._fs:
            if not self._fs.exists(self.full(rel)):
                return []
            return sorted(
                posixpath.basename(p.rstrip("/")) for p in self._fs.ls(self.full(rel), detail=False)
            )
        path = self.full(rel)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def open_read(self, rel: str) -> BinaryIO:
        if self._fs:
            return self._fs.open(self.full(rel), "rb", block_size=8 << 20)
        return open(self.full(rel), "rb")

    def read_text(self, rel: str) -> str:
        with self.open_read(rel) as f:
            return f.read().decode("utf-8")

    def is_empty(self) -> bool:
        return not self.listdir("")

    # writing -------------------------------------------------------------------------------
    def makedirs(self, rel: str = "") -> None:
        if self._fs:
            self._fs.makedirs(self.full(rel), exist_ok=True)
        else:
            os.makedirs(self.full(rel), exist_ok=True)

    def tmp_name(self, final_rel: str) -> str:
        """A unique temp path under the state folder: never matches ``data/{split}-*``."""
        return f"{TMP}/{posixpath.basename(final_rel)}.{uuid.uuid4().hex[:12]}{PARTIAL}"

    def local_tmp(self, final_rel: str) -> str:
        """A local file path to write ``final_rel`` to before :meth:`commit_local` moves it.

        Local folders keep it under their state folder (same filesystem: the move is a rename);
        remote folders stage it in the machine's temp folder and upload it on commit.
        """
        name = posixpath.basename(self.tmp_name(final_rel))
        if not self.remote:
            self.makedirs(TMP)
            return self.full(f"{TMP}/{name}")
        folder = os.path.join(tempfile.gettempdir(), "nifti2parquet-staging")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, name)

    def commit_local(self, tmp_file: str, final_rel: str) -> None:
        """Move a finished local temp file into place: a rename, or one upload of the whole file."""
        parent = posixpath.dirname(final_rel)
        if parent:
            self.makedirs(parent)
        if self._fs is None:
            os.replace(tmp_file, self.full(final_rel))
            _fsync_dir(os.path.dirname(self.full(final_rel)))
            return
        self._fs.put_file(tmp_file, self.full(final_rel))
        os.remove(tmp_file)

    def open_write(self, rel: str) -> BinaryIO:
        if self._fs:
            return self._fs.open(self.full(rel), "wb", block_size=64 << 20)
        return open(self.full(rel), "wb")

    def commit(self, tmp_rel: str, final_rel: str) -> None:
        """Move a finished temp file into place, atomically."""
        parent = posixpath.dirname(final_rel)
        if parent:
            self.makedirs(parent)
        if self._fs:
            self._fs.mv(self.full(tmp_rel), self.full(final_rel))
            return
        os.replace(self.full(tmp_rel), self.full(final_rel))
        _fsync_dir(os.path.dirname(self.full(final_rel)))

    def write_bytes_atomic(self, rel: str, data: bytes) -> None:
        self._write_atomic(rel, (data,))

    def write_text_atomic(self, rel: str, text: str) -> None:
        self.write_bytes_atomic(rel, text.encode("utf-8"))

    def write_lines_atomic(self, rel: str, lines: Iterable[str]) -> None:
        """As :meth:`write_text_atomic` of the lines joined, written a batch at a time (a list of
        a million records is never one string in memory)."""
        lines = iter(lines)
        batches = iter(lambda: "".join(itertools.islice(lines, LINES_PER_WRITE)), "")
        self._write_atomic(rel, (batch.encode("utf-8") for batch in batches))

    def _write_atomic(self, rel: str, pieces: Iterable[bytes]) -> None:
        """Write ``pieces`` to a temp file, sync it, and move it into place at ``rel``."""
        self.makedirs(TMP)
        tmp = self.tmp_name(rel)
        with self.open_write(tmp) as f:
            for piece in pieces:
                f.write(piece)
            sync_file(f)
        self.commit(tmp, rel)

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self._fs:
                self._fs.rm(self.full(rel))
            else:
                os.remove(self.full(rel))

    def clear_tmp(self, prefix: str = "") -> int:
        """Remove leftover partial files (of a killed run) whose names start with ``prefix``."""
        stale = [n for n in self.listdir(TMP) if n.startswith(prefix) and n.endswith(PARTIAL)]
        for name in stale:
            self.remove(f"{TMP}/{name}")
        return len(stale)

    @contextlib.contextmanager
    def lock(self, name: str, purpose: str = "build") -> Iterator[None]:
        """An exclusive lock against a second run into the same folder (local folders only)."""
        if self._fs:
            yield
            return
        import fcntl

        self.makedirs(STATE)
        with open(self.full(f"{STATE}/{name}.lock"), "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(
                    f"{self.url}: another nifti2parquet {purpose} is writing into this folder"
                ) from None
            yield


def sync_file(f: BinaryIO) -> None:
    """Flush a file to stable storage when it is a local file (so a rename after it is durable)."""
    f.flush()
    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.fsync(f.fileno())


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
