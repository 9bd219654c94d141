"""Reading inputs from local disk or any fsspec URL (s3://, gs://, https://, ...).

Local paths take a fast path (plain ``open`` with ``readinto``, no fsspec layers); everything else
goes through fsspec with large read blocks. Public S3 buckets (OpenNeuro) need no credentials: when
none are configured, ``s3://`` is opened anonymously.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from .hashing import sha256_of_file

if TYPE_CHECKING:
    import fsspec


READ_BLOCK = 8 << 20  # large blocks: fewer requests to object stores, fewer syscalls locally
CHECK_BLOCK = 64 << 10  # a header check reads ~16 KB from the start and 8 bytes from the end


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def local_path(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


@dataclass(frozen=True)
class Storage:
    """How to reach remote files: fsspec storage options per protocol (e.g. endpoint, anon)."""

    options: Mapping[str, Any] = field(default_factory=dict)

    def filesystem(self, url: str) -> tuple[fsspec.AbstractFileSystem, str]:
        """The filesystem and the path within it; cached per process by fsspec."""
        from fsspec.core import url_to_fs  # imported when needed: 0.1 s a local build never pays

        protocol = url.split("://", 1)[0] if "://" in url else "file"
        options = dict(self.options)
        if protocol in ("s3", "s3a") and "anon" not in options and not _have_aws_credentials():
            options["anon"] = True
        return url_to_fs(url, **options)

    def open(self, url: str, block_size: int = READ_BLOCK) -> BinaryIO:
        """A binary file supporting read, readinto and seek.

        Remote files read ahead ``block_size`` bytes per request: large for whole files, small
        for a header check that reads a few KB at each end.
        """
        if not is_remote(url):
            return open(local_path(url), "rb", buffering=0)
        fs, path = self.filesystem(url)
        return fs.open(path, "rb", block_size=block_size, cache_type="readahead")

    def read(self, url: str, limit: int = sys.maxsize, block_size: int = CHECK_BLOCK) -> bytes:
        """The file's first ``limit`` bytes (all of it by default).

        A local file is read with the system calls alone: ``open()``'s file object costs as much
        again as the reading, and a large tree's planning reads its 100,000 small files twice
        (for the rows, then for the privacy scan)."""
        if is_remote(url):
            with self.open(url, block_size) as f:
                return read_up_to(f.read, limit)
        fd = os.open(local_path(url), os.O_RDONLY | os.O_CLOEXEC)
        try:  # sized by the file: a larger read's bytes would stay allocated with the result
            return read_up_to(lambda size: os.read(fd, size), limit, os.fstat(fd).st_size + 1)
        finally:
            os.close(fd)

    def stat(self, url: str) -> tuple[int, str]:
        """(size, version): the version changes when the file does (mtime, or the object's ETag)."""
        if not is_remote(url):
            st = os.stat(local_path(url))
            return st.st_size, f"{st.st_size}:{st.st_mtime_ns}"
        fs, path = self.filesystem(url)
        return info_size_version(fs.info(path))

    def sha256(self, url: str) -> str:
        with self.open(url) as f:
            return sha256_of_file(f)


def read_up_to(read: Callable[[int], bytes], limit: int, first: int = 1 << 16) -> bytes:
    """At most ``limit`` bytes from ``read``: ``first`` bytes, then in growing chunks. One read
    of ``limit`` would allocate all of it first (16 MiB for every small sidecar the privacy scan
    reads)."""
    chunks, total, size = [], 0, first
    while total < limit:
        chunk = read(min(size, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        size = min(max(size, 1 << 16) * 4, 1 << 22)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def info_size_version(info: Mapping[str, Any]) -> tuple[int, str]:
    """Size and a change fingerprint from an fsspec ``info``/``ls(detail=True)`` entry."""
    size = int(info.get("size") or 0)
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("mtime")
    tag = tag or info.get("LastModified") or info.get("last_modified") or info.get("updated")
    return size, f"{size}:{str(tag).strip(chr(34)) if tag is not None else ''}"


def readable_name(name: str) -> tuple[str, bool]:
    """A file name fit for Parquet strings, JSON and terminals, and whether it had to be changed.

    Python hands names that are not valid UTF-8 on disk back with surrogate escapes, which Arrow
    refuses; such names are decoded as Latin-1 (the usual legacy encoding). Open files by their
    original name: this one is for display and for the ``path`` field only.
    """
    if name.isascii():  # nearly every name: nothing to decode
        return name, False
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def join(base: str, relative: str) -> str:
    """Resolve ``relative`` against the folder ``base`` (a local path or a URL)."""
    if "://" in relative or os.path.isabs(relative):
        return relative
    if is_remote(base):
        protocol, rest = base.split("://", 1)
        return f"{protocol}://{posixpath.normpath(posixpath.join(rest, relative))}"
    return os.path.normpath(os.path.join(local_path(base), relative))


def parent(url: str) -> str:
    if is_remote(url):
        return url.rstrip("/").rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(local_path(url)))


def basename(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] if is_remote(url) else os.path.basename(url)


def _have_aws_credentials() -> bool:
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True
    try:
        import botocore.session

        return botocore.session.get_session().get_credentials() is not None
    except Exception:  # botocore missing or misconfigured: treat as no credentials
        return False
