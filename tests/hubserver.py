#!/usr/bin/env python3
"""A local Hugging Face Hub-protocol HTTP server for tests (stdlib only).

It speaks the part of the Hub API that ``huggingface_hub`` 2.4 uses: repo create/delete/info/
settings, preupload, Xet (``xet-write-token``/``xet-read-token`` and a Xet CAS mounted under
``/cas``, see ``xetserver.py``: the client's default upload and download path), the Git LFS batch
API (basic and multipart transfers, verify; what ``HF_HUB_DISABLE_XET=1`` or ``push --no-xet``
use), NDJSON commits (branches, pull requests, ``parentCommit`` checks), refs, commit history,
paginated tree listing, paths-info and ``/resolve/`` downloads with Range support (Xet files also
answer ``X-Xet-Hash`` and the ``xet-auth`` link, so the client reads them through
reconstructions).  ``datasets.load_dataset("user/repo")`` works against it.  Each endpoint answers
as the real client expects from reading its own code (``huggingface_hub/hf_api.py``,
``lfs.py``, ``_commit_api.py``, ``file_download.py``).

Design
  * Repo metadata (refs, commits, one full file-tree snapshot per commit) lives in memory.
  * LFS objects live on disk under ``storage_dir``, content-addressed by sha256.  A commit
    accepts an ``lfsFile`` when the object is there, or when the CAS holds a Xet file with that
    sha256: the file is then rebuilt from its xorbs into the same store (so its size and sha256
    are checked, and plain GETs can serve it) and the tree entry keeps its Xet hash.  Bodies are
    streamed in and out in 1 MiB chunks and hashed while streaming; an object only becomes
    visible (atomic rename) once its size and sha256 matched, so multi-GB pushes never sit
    in memory and a broken upload is never stored.
  * Test hooks on :class:`HubServer`: a request log that never holds secrets, fault injection
    (:class:`Fault`), state inspection and "someone else committed" helpers.
  * ``cdn_redirect``: ``/resolve/`` of a file stored with LFS or Xet answers 302 to a signed,
    expiring URL on another host name (``localhost``: another origin for a client), which
    serves the bytes (ranges too) without a token, as the Hub redirects to its CDN.
  * ``latency``: a round trip added to every request (and one more to every new connection, as
    a TCP handshake costs), and ``bandwidth``: file bytes sent at most this fast in all (a
    client's link), so benchmarks can measure a client as a distant user would see it.

In-process::

    with HubServer(tmp_path / "hub", token="hf_test") as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test", "HF_HUB_DISABLE_XET": "1", ...}

As a subprocess (no fault injection in this mode)::

    python tests/hubserver.py --storage DIR --token T --port 0    # first stdout line = URL
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import fnmatch
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from xetserver import CasError, XetCas

__all__ = [
    "DEFAULT_TOKEN",
    "CommitRecord",
    "Fault",
    "FileEntry",
    "HubServer",
    "LfsStore",
    "RequestInfo",
    "RequestRecord",
    "git_blob_sha1",
]

DEFAULT_TOKEN = "hf_localhubtesttoken"
COPY_CHUNK = 1024 * 1024
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files >= 10 MB with LFS whatever their name
MAX_PATHS_INFO = 1000  # more paths -> 413
EXPAND_PAGE_SIZE = 50  # the Hub pages expand=true listings by 50
MAX_JSON_BODY = 1024 * 1024 * 1024  # NDJSON commits carry regular files inline (<= 1 GB per commit)
CAS_PREFIX = "/cas"  # the Xet CAS (xetserver.XetCas) is served under this path

CONFLICT_MESSAGE = (
    "The branch was updated since you opened this page. Please refresh and try again."
)
MISSING_LFS_MESSAGE = (
    "Your push was rejected because an LFS pointer pointed to a file that does not exist. "
    "For instance, this can happen if you used git push --no-verify to push your changes. "
    "Offending file: - {path}"
)
MISSING_FILE_MESSAGE = "A file with this name doesn't exist: {path}"
BAD_PAYLOAD_MESSAGE = "Add a line with the key `lfsFile`, `file` or `deletedFile`"
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"  # the client special-cases it
NO_CREDENTIALS = "Invalid username or password."

URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_OID_RE = re.compile(r"[0-9a-f]{64}")
_REPO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_BRANCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,200}")

# Patterns of the Hub's default .gitattributes: matching paths are stored with LFS.
_DEFAULT_LFS_PATTERNS = """
*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.lfs.* *.lz4 *.mds *.mlmodel *.model
*.msgpack *.npy *.npz *.onnx *.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors
saved_model/**/* *.tar.* *.tar *.tflite *.tgz *.wasm *.xz *.zip *.zst *tfevents* *.pcm *.sam
*.raw *.aac *.flac *.mp3 *.ogg *.wav *.bmp *.gif *.png *.tiff *.jpg *.jpeg *.webp *.mp4 *.webm
"""
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in _DEFAULT_LFS_PATTERNS.split()
).encode()


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def git_blob_sha1(data: bytes) -> str:
    """Git object id of a blob: what the Hub reports as a regular file's ``oid``/ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    """The Git LFS pointer file committed in place of an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _now() -> str:
    """Hub-style timestamp (``2026-01-01T00:00:00.000Z``), the only format the client parses."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lfs_patterns(gitattributes: bytes | None) -> list[str]:
    if gitattributes is None:
        return []
    lines = gitattributes.decode("utf-8", "replace").splitlines()
    return [
        line.split()[0]
        for line in lines
        if "filter=lfs" in line and not line.lstrip().startswith("#")
    ]


def _matches_any(path: str, patterns: Iterable[str]) -> bool:
    """Git-attributes style match: patterns without '/' match the basename anywhere."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)


def _checked_path(value: object) -> str:
    """Validate a path in repo sent by a client (no absolute paths, no '.'/'..' segments)."""
    if not isinstance(value, str) or not value or value.startswith("/") or "\\" in value:
        raise _HttpError(400, f"Invalid path: {value!r}")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise _HttpError(400, f"Invalid path: {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One file in a commit's tree.  LFS content lives in :class:`LfsStore`, not here."""

    size: int
    sha256: str  # sha256 of the content (= the LFS oid for LFS files)
    blob_id: str  # git object id: blob sha1 of the content, or of the LFS pointer
    lfs: bool
    content: bytes | None = field(default=None, repr=False)  # regular files only
    xet_hash: str | None = None  # files committed after a Xet upload

    @classmethod
    def regular(cls, data: bytes) -> FileEntry:
        return cls(len(data), hashlib.sha256(data).hexdigest(), git_blob_sha1(data), False, data)

    @classmethod
    def lfs_object(cls, oid: str, size: int, xet_hash: str | None = None) -> FileEntry:
        return cls(size, oid, git_blob_sha1(lfs_pointer(oid, size)), True, xet_hash=xet_hash)

    @property
    def oid(self) -> str:
        """The id the Hub reports in preupload and ETags: sha256 for LFS, blob sha1 otherwise."""
        return self.sha256 if self.lfs else self.blob_id

    def to_json(self, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": self.blob_id,
            "size": self.size,
            "path": path,
        }
        if self.lfs:
            pointer_size = len(lfs_pointer(self.sha256, self.size))
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": pointer_size}
        if self.xet_hash:
            entry["xetHash"] = self.xet_hash
        return entry


@dataclass(frozen=True)
class CommitRecord:
    """A commit as seen by tests: ``added`` holds paths created or changed by this commit."""

    id: str
    parent: str | None
    message: str
    description: str
    author: str
    date: str
    added: tuple[str, ...]
    deleted: tuple[str, ...]

    def touches(self, path: str, is_dir: bool = False) -> bool:
        prefix = path + "/"
        return any(
            p == path or (is_dir and p.startswith(prefix)) for p in self.added + self.deleted
        )


@dataclass(frozen=True)
class _Commit:
    record: CommitRecord
    tree: Mapping[str, FileEntry]  # never mutated once the commit exists


@dataclass
class _Repo:
    """A repository: commits by id and refs (``refs/heads/*``, ``refs/tags/*``, ``refs/pr/*``)."""

    repo_type: str
    repo_id: str
    private: bool
    uid: str = field(default_factory=lambda: secrets.token_hex(12))
    created_at: str = field(default_factory=_now)
    commits: dict[str, _Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    pr_count: int = 0
    discussions: dict[int, dict[str, Any]] = field(default_factory=dict)  # opened explicitly

    @property
    def url_path(self) -> str:
        return URL_PREFIXES[self.repo_type] + self.repo_id

    def refs_with(self, prefix: str) -> dict[str, str]:
        return {ref[len(prefix) :]: cid for ref, cid in self.refs.items() if ref.startswith(prefix)}

    def resolve(self, rev: str) -> str | None:
        """Commit id for a branch, tag, full ref name, full sha or unique sha prefix (>= 7)."""
        for ref in (rev, f"refs/heads/{rev}", f"refs/tags/{rev}"):
            if ref in self.refs:
                return self.refs[ref]
        low = rev.lower()
        if low in self.commits:
            return low
        if re.fullmatch(r"[0-9a-f]{7,39}", low):
            found = [cid for cid in self.commits if cid.startswith(low)]
            return found[0] if len(found) == 1 else None
        return None

    def writable_ref(self, rev: str) -> str | None:
        """Full name of the branch or PR ref that a commit to ``rev`` moves (None for tags/shas)."""
        for ref in (rev, f"refs/heads/{rev}"):
            if ref in self.refs and ref.startswith(("refs/heads/", "refs/pr/")):
                return ref
        return None

    def add_commit(self, parent: str | None, tree: Mapping[str, FileEntry], **info: Any) -> _Commit:
        seed = f"{parent}\n{info}\n{len(self.commits)}\n{secrets.token_hex(8)}"
        record = CommitRecord(
            id=hashlib.sha1(seed.encode()).hexdigest(), parent=parent, date=_now(), **info
        )
        commit = _Commit(record, tree)
        self.commits[record.id] = commit
        return commit

    def history(self, commit_id: str) -> Iterator[_Commit]:
        """First-parent history, newest first."""
        cid: str | None = commit_id
        while cid is not None:
            commit = self.commits[cid]
            yield commit
            cid = commit.record.parent


class _TreeIndex:
    """Directory structure of one (immutable) commit tree, built once and cached."""

    def __init__(self, tree: Mapping[str, FileEntry]):
        self.files = tree
        self.children: dict[str, list[str]] = {"": []}
        hashers: dict[str, Any] = {"": hashlib.sha1()}
        for path in sorted(tree):
            parts = path.split("/")
            for depth in range(len(parts)):
                parent, child = "/".join(parts[:depth]), "/".join(parts[: depth + 1])
                if child not in self.children and child != path:
                    self.children[child] = []
                    hashers[child] = hashlib.sha1()
                    self.children[parent].append(child)
                hashers[parent].update(f"{path} {tree[path].blob_id}\n".encode())
            self.children["/".join(parts[:-1])].append(path)
        self.dir_oids = {d: h.hexdigest() for d, h in hashers.items()}
        self._recursive: dict[str, list[str]] = {}  # pages of one listing reuse it

    def is_dir(self, path: str) -> bool:
        return path in self.children

    def listing(self, base: str, recursive: bool) -> list[str]:
        """Children of directory ``base`` ("" = root); recursive = depth-first, dirs first."""
        if not recursive:
            return self.children[base]
        if base not in self._recursive:
            out: list[str] = []
            for child in self.children[base]:
                out.append(child)
                if child in self.children:
                    out.extend(self.listing(child, True))
            self._recursive[base] = out
        return self._recursive[base]

    def entry_json(self, path: str) -> dict[str, Any]:
        if path in self.files:
            return self.files[path].to_json(path)
        return {"type": "directory", "oid": self.dir_oids[path], "size": 0, "path": path}


# --------------------------------------------------------------------------------------------
# LFS object storage (on disk, streamed)
# --------------------------------------------------------------------------------------------


class LfsStore:
    """Content-addressed LFS objects on disk: ``objects/ab/cd/<sha256>``.

    Nothing half-received or corrupted ever becomes visible: a basic upload is streamed to a
    temp file while hashing and renamed into place only if size and sha256 match.  Multipart
    parts are written in place, at their offset, into ``parts/<oid>-<size>-<chunk>/object``
    with one marker file per received part (named by the ETag we returned); completion
    checks the markers, hashes the assembled file once and renames it (no copy).
    """

    def __init__(self, root: Path):
        self.root = root
        self._objects, self._tmp, self._parts = root / "objects", root / "tmp", root / "parts"
        for directory in (self._objects, self._tmp, self._parts):
            directory.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def path(self, oid: str) -> Path:
        return self._objects / oid[:2] / oid[2:4] / oid

    def size(self, oid: str) -> int | None:
        """Size of a stored object, or None when it is not stored."""
        try:
            return self.path(oid).stat().st_size
        except (OSError, ValueError):
            return None

    def oids(self) -> set[str]:
        return {p.name for p in self._objects.glob("*/*/*") if _OID_RE.fullmatch(p.name)}

    def add_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        self.receive([data], oid, len(data))
        return oid

    def receive(self, chunks: Iterable[bytes], oid: str, size: int) -> None:
        """Store a whole object; raise ValueError (nothing stored) when size or sha256 differ."""
        fd, name = tempfile.mkstemp(dir=self._tmp)
        sha, received = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for data in chunks:
                    fh.write(data)
                    sha.update(data)
                    received += len(data)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        self._publish(Path(name), oid, size, received, sha.hexdigest())

    def receive_part(
        self, key: str, number: int, offset: int, expected: int, chunks: Iterable[bytes]
    ) -> str:
        """Write part ``number`` at ``offset`` of the object being assembled; return its ETag."""
        part_dir = self._parts / key
        part_dir.mkdir(parents=True, exist_ok=True)
        for stale in part_dir.glob(f"{number:05d}-*"):  # an earlier attempt of this part
            stale.unlink(missing_ok=True)
        assembly = part_dir / "object"
        with self._lock_for(key):
            assembly.touch()
        received = 0
        with assembly.open("r+b") as fh:
            fh.seek(offset)
            for data in chunks:
                received += len(data)
                if received > expected:
                    raise ValueError(f"Part {number} is larger than {expected} bytes")
                fh.write(data)
        if received != expected:
            raise ValueError(f"Part {number} has {received} bytes, expected {expected}")
        etag = secrets.token_hex(16)
        (part_dir / f"{number:05d}-{etag}").touch()
        return f'"{etag}"'

    def complete(self, key: str, oid: str, size: int, etags: list[str]) -> None:
        """Check that every part arrived (with the ETags we issued) and publish the object."""
        part_dir = self._parts / key
        with self._lock_for(key):
            if self.size(oid) == size:  # completion retried after it succeeded
                shutil.rmtree(part_dir, ignore_errors=True)
                return
            markers = [part_dir / f"{n:05d}-{e.strip(chr(34))}" for n, e in enumerate(etags, 1)]
            missing = [m.name for m in markers if not m.is_file()]
            if missing:
                raise ValueError(f"Unknown parts or ETags: {', '.join(missing)}")
            assembly = part_dir / "object"
            sha, received = hashlib.sha256(), 0
            for data in _read_file(assembly):
                sha.update(data)
                received += len(data)
            try:
                self._publish(assembly, oid, size, received, sha.hexdigest())
            finally:
                shutil.rmtree(part_dir, ignore_errors=True)

    def _publish(self, tmp: Path, oid: str, size: int, received: int, sha: str) -> None:
        if received != size or sha != oid:
            tmp.unlink(missing_ok=True)
            raise ValueError(
                f"Upload rejected: expected sha256 {oid} ({size} bytes), "
                f"got sha256 {sha} ({received} bytes)"
            )
        target = self.path(oid)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while data := fh.read(COPY_CHUNK):
            yield data


# --------------------------------------------------------------------------------------------
# Request log and fault injection (public test API)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestInfo:
    """What a fault callback learns about the request it fired on (never any header value)."""

    method: str
    path: str  # percent-decoded, without query
    query: str  # percent-decoded
    authenticated: bool  # a valid bearer token was presented


@dataclass(frozen=True)
class RequestRecord:
    """One request as logged by the server.  Holds no header values: the token cannot leak.

    Records are appended just before the response is sent, so once the client has its
    answer the record is visible.  ``status`` is None when the connection was dropped.
    """

    method: str
    path: str
    query: str
    status: int | None
    bytes_received: int
    bytes_sent: int
    started: float  # time.time() when the request line was read
    duration: float
    authenticated: bool
    fault: str | None = None  # action of the fault that fired on this request, if any
    error_code: str | None = None  # X-Error-Code sent, if any
    range: str | None = None  # the Range header as sent (e.g. "bytes=0-99"), if any
    connection: int = 0  # which connection it came on: numbered from 1 as the server accepts them

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)


FaultAction = Literal[
    "status", "drop", "drop_mid_body", "drop_response", "cut_response", "delay", "callback"
]
_FAULT_ACTIONS = (
    "status", "drop", "drop_mid_body", "drop_response", "cut_response", "delay", "callback"
)  # fmt: skip
_TERMINAL_ACTIONS = ("status", "drop", "drop_mid_body", "drop_response", "cut_response")


@dataclass(eq=False)
class Fault:
    """A misbehaviour injected with :meth:`HubServer.inject`.

    Matching: ``method`` (None = any) and ``path``, a regex searched in the percent-decoded
    path (e.g. ``r"^/_lfs/"`` for LFS uploads, ``r"/commit/"`` for commits).  The fault fires
    on the ``nth`` matching request (1-based) and the following ones until it fired ``times``
    times (None = forever).

    Actions:
      * ``status``: answer ``status`` with ``headers`` and JSON ``body`` (default
        ``{"error": ...}``) after draining the request body; the request is not handled.
      * ``drop``: close the socket before reading the body, no response.
      * ``drop_mid_body``: read ``body_bytes`` of the body (default: half) then close.
      * ``cut_response``: handle the request normally, send the status, the headers and the
        first ``body_bytes`` of the body (default: half), then close (a download cut midway).
      * ``drop_response``: handle the request normally (e.g. APPLY a commit), then close
        without sending the response ("applied but response lost").
      * ``delay``: sleep ``delay`` seconds, then handle normally.
      * ``callback``: call ``callback(RequestInfo)`` in the server thread, then handle
        normally (e.g. to tell a test that the Nth LFS upload started).
    ``delay`` is honoured by every action (sleep first).  :meth:`wait` blocks until it fired.
    """

    action: FaultAction
    path: str = ""
    method: str | None = None
    nth: int = 1
    times: int | None = 1
    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    body_bytes: int | None = None
    callback: Callable[[RequestInfo], None] | None = None
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _event: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in _FAULT_ACTIONS:
            raise ValueError(
                f"Unknown fault action {self.action!r}; expected one of {_FAULT_ACTIONS}"
            )
        if self.action == "callback" and self.callback is None:
            raise ValueError("Fault(action='callback') needs a callback")
        if self.nth < 1 or (self.times is not None and self.times < 1):
            raise ValueError("nth and times must be >= 1")
        self._regex = re.compile(self.path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the fault fired at least once; False on timeout."""
        return self._event.wait(timeout)

    def _take(self, method: str, path: str) -> bool:
        """Count a request; True when the fault fires on it.  Called under the server lock."""
        if (self.method and method != self.method.upper()) or not self._regex.search(path):
            return False
        self.matched += 1
        if self.matched < self.nth or self.exhausted:
            return False
        self.fired += 1
        self._event.set()
        return True


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _HttpError(Exception):
    """An error answered as JSON ``{"error": message}`` (+ ``X-Error-Code`` when given)."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra
        self.headers: dict[str, str] = {}

    def response(self) -> _Response:
        headers = dict(self.headers)
        if self.code:
            headers["X-Error-Code"] = self.code
        headers["X-Error-Message"] = _header_safe(self.message)
        return _json({"error": self.message, **self.extra}, self.status, headers)


class _ClientGone(Exception):
    """The client closed the connection early or sent an unreadable body: drop it."""


def _header_safe(text: str) -> str:
    """Header values must be one line of latin-1."""
    return " ".join(text.split()).encode("ascii", "replace").decode()


@dataclass
class _Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: tuple[Path, int, int] | None = None  # (path, offset, length) sent from disk instead

    @property
    def length(self) -> int:
        return self.file[2] if self.file is not None else len(self.body)


def _json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> _Response:
    return _Response(
        status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(obj).encode()
    )


class _Body:
    """Incremental reader of a request body (Content-Length or chunked); counts bytes read."""

    def __init__(self, rfile: BinaryIO, headers: Any):
        self._rfile = rfile
        self._chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        try:
            self.expected = None if self._chunked else int(headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise _ClientGone from exc
        self._left = self.expected or 0  # bytes left in the body (plain) or current chunk (chunked)
        self.done = not self._chunked and self._left == 0
        self.received = 0

    def read(self, limit: int = COPY_CHUNK) -> bytes:
        if self.done:
            return b""
        if self._chunked and self._left == 0 and not self._next_chunk():
            return b""
        data = self._rfile.read(min(limit, self._left))
        if not data:
            raise _ClientGone
        self._left -= len(data)
        self.received += len(data)
        if self._left == 0:
            if self._chunked:
                self._rfile.readline()  # CRLF after the chunk
            else:
                self.done = True
        return data

    def _next_chunk(self) -> bool:
        line = self._rfile.readline(65537)
        if not line:
            raise _ClientGone
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError as exc:
            raise _ClientGone from exc
        if size == 0:
            while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self.done = True
            return False
        self._left = size
        return True

    def chunks(self) -> Iterator[bytes]:
        while data := self.read():
            yield data

    def read_all(self, limit: int = MAX_JSON_BODY) -> bytes:
        parts, total = [], 0
        for data in self.chunks():
            total += len(data)
            if total > limit:
                raise _HttpError(413, "Request body too large")
            parts.append(data)
        return b"".join(parts)

    def read_up_to(self, count: int) -> None:
        while self.received < count and self.read(min(COPY_CHUNK, count - self.received)):
            pass

    def drain(self) -> None:
        for _ in self.chunks():
            pass


@dataclass
class _Request:
    method: str
    raw_path: str  # as sent, still percent-encoded (routing splits on '/' before decoding)
    path: str
    raw_query: str
    query: dict[str, list[str]]
    auth: Literal["valid", "invalid", "none"]
    body: _Body
    range: str | None = None  # the only header value kept (Authorization is reduced to `auth`)
    xet_scope: str | None = None  # CAS requests: "read"/"write" when a live Xet token was shown
    connection: int = 0  # the serial number of the connection it came on

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]

    def flag(self, name: str) -> bool:
        return self.param(name).lower() in ("1", "true")

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body.read_all() or b"{}")
        except ValueError as exc:
            raise _HttpError(400, f"Invalid JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise _HttpError(400, "Expected a JSON object")
        return data


class _Handler(BaseHTTPRequestHandler):
    """Socket-level shim: everything else happens in :meth:`HubServer._serve`."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub; every response has a Content-Length
    # TCP_NODELAY, as web servers and CDNs set it: with Nagle's algorithm, a body sent after its
    # headers waits for the client's delayed ACK (~40 ms a response, at any latency)
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.hub._serve(self)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    serial = 0  # this connection's number (see RequestRecord.connection)

    def handle(self) -> None:
        self.serial = self.server.track(self.connection, add=True)
        try:
            if self.server.hub.latency:
                time.sleep(self.server.hub.latency)  # the handshake of a new connection
            super().handle()
        except (OSError, _ClientGone):
            pass  # client went away or a fault dropped the connection
        finally:
            self.server.track(self.connection, add=False)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces stderr noise

    def send(self, response: _Response, limit: int | None = None) -> None:
        """Send the response; with ``limit``, only that many bytes of its body."""
        self.send_response(response.status)
        headers = {"Content-Length": str(response.length), **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.file is None:
            self.wfile.write(response.body[:limit])
            return
        path, offset, length = response.file
        length = length if limit is None else min(limit, length)
        with path.open("rb") as fh:  # zero-copy where the OS allows; never loads the file
            link = self.server.hub.link
            if link is None:
                self.connection.sendfile(fh, offset, length)
                return
            end = offset + length
            while offset < end:  # at the link's pace, in slices
                n = min(LINK_SLICE, end - offset)
                link.wait(n)
                self.connection.sendfile(fh, offset, n)
                offset += n

    def drop(self) -> None:
        """Close the connection without a response (unread body bytes make it an RST)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


LINK_SLICE = 256 * 1024


class _Link:
    """A client's network link of ``bandwidth`` bytes/s, shared by all its connections: each
    slice of a file sent waits its turn (the bytes of a request body or JSON are not counted)."""

    def __init__(self, bandwidth: float) -> None:
        self.bandwidth = bandwidth
        self._free_at = 0.0
        self._lock = threading.Lock()

    def wait(self, n: int) -> None:
        with self._lock:
            start = max(time.monotonic(), self._free_at)
            self._free_at = start + n / self.bandwidth
            done = self._free_at
        time.sleep(max(0.0, done - time.monotonic()))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], hub: HubServer):
        super().__init__(address, _Handler)
        self.hub = hub
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._accepted = 0

    def track(self, conn: socket.socket, add: bool) -> int:
        """Track an open connection (or forget a closed one); a new one's serial number."""
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(conn)
            self._accepted += add
            return self._accepted

    def close_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._conn_lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class HubServer:
    """Local Hub-protocol server.  See the module docstring; every public method is thread-safe.

    Args:
        storage_dir: where LFS objects are stored (created if missing).
        token: the only accepted bearer token.  Mutations need it; reading a public repo
            does not (``allow_anonymous_reads``); private repos are 404 ``RepoNotFound``
            without it; a wrong token is 401 everywhere.
        page_size: tree / commit-history page size (``expand=true`` pages by min(50, page_size)).
        multipart_threshold: LFS objects larger than this get a multipart upload action with
            parts of ``multipart_chunk_size`` bytes; smaller ones a single ``basic`` PUT.
        username: the account ``whoami`` reports and the namespace of repos created without one.
        xet: hand out Xet tokens (the CAS under ``/cas``); False answers them 501.
        xet_token_ttl, xet_token_valid: see :class:`xetserver.XetCas`.
        latency: seconds every request waits before it is handled, and every new connection
            before its first request (a round trip, and a TCP handshake's); may be changed on
            a running server.
        cdn_redirect: redirect downloads of LFS/Xet files to ``/_cdn/`` URLs valid for
            ``cdn_url_ttl`` seconds (see the module docstring).
        bandwidth: bytes per second of file data sent, in all connections together (a
            client's link); None: as fast as loopback goes.
    """

    def __init__(
        self,
        storage_dir: str | os.PathLike[str],
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 1000,
        multipart_threshold: int = 64 * 1024 * 1024,
        multipart_chunk_size: int = 32 * 1024 * 1024,
        username: str = "user",
        allow_anonymous_reads: bool = True,
        xet: bool = True,
        xet_token_ttl: float = 3600.0,
        xet_token_valid: float | None = None,
        latency: float = 0.0,
        cdn_redirect: bool = False,
        cdn_url_ttl: float = 3600.0,
        bandwidth: float | None = None,
    ):
        if page_size < 1 or multipart_chunk_size < 1:
            raise ValueError("page_size and multipart_chunk_size must be >= 1")
        self.storage_dir = Path(storage_dir)
        self.token, self.host, self.page_size = token, host, page_size
        self.multipart_threshold = multipart_threshold
        self.multipart_chunk_size = multipart_chunk_size
        self.username, self.allow_anonymous_reads = username, allow_anonymous_reads
        self.latency = latency
        self.link: _Link | None = None
        self.bandwidth = bandwidth
        self.cdn_redirect, self.cdn_url_ttl = cdn_redirect, cdn_url_ttl
        self._cdn_epoch = 0  # part of every CDN signature: bumping it expires every URL given
        self.internal_errors: list[
            str
        ] = []  # tracebacks of unexpected exceptions (should stay empty)
        self._requested_port = port
        self._lock = threading.RLock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._indexes: dict[str, _TreeIndex] = {}
        self._log: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._in_flight = 0
        self._secret = secrets.token_bytes(16)
        self._store = LfsStore(self.storage_dir)
        self.xet = xet
        self.cas = XetCas(
            self.storage_dir / "xet", token_ttl=xet_token_ttl, token_valid=xet_token_valid
        )
        self._api = _Api(self)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HubServer:
        """Bind and serve from a daemon thread.  Returns self."""
        if self._httpd is not None:
            raise RuntimeError("HubServer already started")
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
        self.cas.url = self.cas_url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="hubserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd = self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("HubServer not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL to use as ``HF_ENDPOINT``, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def cas_url(self) -> str:
        """The Xet CAS URL handed out with Xet tokens (served by this same server)."""
        return self.url + CAS_PREFIX

    @property
    def bandwidth(self) -> float | None:
        """Bytes/s of file data sent, in all connections together; None: unlimited."""
        return self.link.bandwidth if self.link is not None else None

    @bandwidth.setter
    def bandwidth(self, value: float | None) -> None:
        self.link = _Link(value) if value else None

    # ---- request log -------------------------------------------------------------------------

    @property
    def cas_requests(self) -> list[RequestRecord]:
        """The CAS part of the request log (xorbs, shards, reconstructions, xorb fetches)."""
        return [r for r in self.requests if r.path.startswith(CAS_PREFIX + "/")]

    def cas_bytes_received(self, since: int = 0) -> int:
        """Bytes of request bodies the CAS received (xorbs + shards) in ``cas_requests[since:]``."""
        return sum(r.bytes_received for r in self.cas_requests[since:])

    def xorb_uploads(self) -> list[RequestRecord]:
        return [r for r in self.cas_requests if r.method == "POST" and "/v1/xorbs/" in r.path]

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def find(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        path_regex: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        """Logged requests matching every given filter."""
        regex = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
            and (regex is None or regex.search(r.path))
            and (status is None or r.status == status)
        ]

    def count(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        path_regex: str | None = None,
        status: int | None = None,
    ) -> int:
        """Number of logged requests matching every given filter (see :meth:`find`)."""
        return len(self.find(method, path_contains, path_regex, status))

    def wait_until(
        self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 10.0
    ) -> bool:
        """Poll the request log until ``predicate(records)`` holds; False on timeout."""
        return self._wait(lambda: predicate(self.requests), timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request has been handled for 50 ms (e.g. after killing a client)."""
        idle_since: list[float] = []

        def settled() -> bool:
            if self._in_flight:
                idle_since.clear()
            elif not idle_since:
                idle_since.append(time.monotonic())
            return bool(idle_since) and time.monotonic() - idle_since[0] >= 0.05

        return self._wait(settled, timeout)

    def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # ---- faults ------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Arm a fault (see :class:`Fault`); returns it so a test can ``wait()`` on it."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def expire_cdn_urls(self) -> None:
        """Every ``/_cdn/`` URL handed out so far answers 403 from now on (as expired)."""
        with self._lock:
            self._cdn_epoch += 1

    # ---- state inspection and tampering ------------------------------------------------------

    def create_repo_direct(
        self, repo_id: str, private: bool = False, repo_type: str = "dataset"
    ) -> None:
        """Create a repo (with its initial commit) without going through HTTP."""
        if self._create_repo(repo_type, repo_id, private) is None:
            raise ValueError(f"{repo_type} repo {repo_id} already exists")

    def repo_exists(self, repo_id: str, repo_type: str = "dataset") -> bool:
        return self._get_repo(repo_type, repo_id) is not None

    def is_private(self, repo_id: str, repo_type: str = "dataset") -> bool:
        return self._repo_or_raise(repo_id, repo_type).private

    def branches(self, repo_id: str, repo_type: str = "dataset") -> dict[str, str]:
        """Branch name -> head commit id."""
        with self._lock:
            return self._repo_or_raise(repo_id, repo_type).refs_with("refs/heads/")

    def pull_requests(self, repo_id: str, repo_type: str = "dataset") -> dict[int, str]:
        """PR number -> head commit id of ``refs/pr/N``."""
        with self._lock:
            refs = self._repo_or_raise(repo_id, repo_type).refs_with("refs/pr/")
            return {int(n): cid for n, cid in refs.items()}

    def commits(
        self, repo_id: str, revision: str = "main", repo_type: str = "dataset"
    ) -> list[CommitRecord]:
        """First-parent history of ``revision``, OLDEST first (the initial commit is ``[0]``)."""
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            return [c.record for c in repo.history(self._resolve_or_raise(repo, revision))][::-1]

    def repo_files(
        self, repo_id: str, revision: str = "main", repo_type: str = "dataset"
    ) -> dict[str, tuple[int, str]]:
        """Path -> (size, sha256 of the content) at ``revision``."""
        return {
            path: (e.size, e.sha256) for path, e in self._tree(repo_id, revision, repo_type).items()
        }

    def file_entry(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "dataset"
    ) -> FileEntry:
        """The tree entry of one file (tells LFS vs regular, blob id, ...).  KeyError if missing."""
        return self._tree(repo_id, revision, repo_type)[path]

    def read_file(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "dataset"
    ) -> bytes:
        """Whole content of a file (meant for small files in tests).  KeyError if missing."""
        entry = self.file_entry(repo_id, path, revision, repo_type)
        if entry.lfs:
            return self._store.path(entry.sha256).read_bytes()
        assert entry.content is not None
        return entry.content

    def lfs_objects(self) -> set[str]:
        """sha256 of every LFS object stored on disk (committed or not)."""
        return self._store.oids()

    def lfs_object_path(self, oid: str) -> Path:
        return self._store.path(oid)

    def put_file_direct(
        self,
        repo_id: str,
        path: str,
        data: bytes,
        revision: str = "main",
        repo_type: str = "dataset",
        message: str | None = None,
        author: str = "someone-else",
    ) -> str:
        """Commit ``data`` at ``path`` as if another client did (moves the branch head).

        The file is stored with LFS when the Hub would (``.gitattributes`` pattern, size or
        binary content).  Returns the new commit id.
        """
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            ref = self._writable_or_raise(repo, revision)
            tree = dict(repo.commits[repo.refs[ref]].tree)
            if self._upload_mode(tree, path, len(data), data[:512]) == "lfs":
                tree[path] = FileEntry.lfs_object(self._store.add_bytes(data), len(data))
            else:
                tree[path] = FileEntry.regular(data)
            return self._commit_tree(
                repo, ref, tree, message or f"Upload {path}", author, [path], []
            )

    def delete_file_direct(
        self,
        repo_id: str,
        path: str,
        revision: str = "main",
        repo_type: str = "dataset",
        author: str = "someone-else",
    ) -> str:
        """Delete a file in a new commit, as if another client did.  Returns the commit id."""
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            ref = self._writable_or_raise(repo, revision)
            tree = dict(repo.commits[repo.refs[ref]].tree)
            del tree[path]
            return self._commit_tree(repo, ref, tree, f"Delete {path}", author, [], [path])

    # ---- internals shared with the API layer -------------------------------------------------

    def _get_repo(self, repo_type: str, repo_id: str) -> _Repo | None:
        with self._lock:
            return self._repos.get((repo_type, repo_id.lower()))

    def _repo_or_raise(self, repo_id: str, repo_type: str) -> _Repo:
        repo = self._get_repo(repo_type, repo_id)
        if repo is None:
            raise KeyError(f"No {repo_type} repo {repo_id}")
        return repo

    def _resolve_or_raise(self, repo: _Repo, revision: str) -> str:
        cid = repo.resolve(revision)
        if cid is None:
            raise KeyError(f"Unknown revision {revision} in {repo.repo_id}")
        return cid

    def _writable_or_raise(self, repo: _Repo, revision: str) -> str:
        ref = repo.writable_ref(revision)
        if ref is None:
            raise KeyError(f"{revision} is not a branch or PR of {repo.repo_id}")
        return ref

    def _tree(self, repo_id: str, revision: str, repo_type: str) -> Mapping[str, FileEntry]:
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            return repo.commits[self._resolve_or_raise(repo, revision)].tree

    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo | None:
        """New repo with the Hub's initial commit (default .gitattributes); None if it exists."""
        with self._lock:
            key = (repo_type, repo_id.lower())
            if key in self._repos:
                return None
            repo = _Repo(repo_type, repo_id, private)
            tree = {".gitattributes": FileEntry.regular(DEFAULT_GITATTRIBUTES)}
            commit = repo.add_commit(
                None,
                tree,
                message="initial commit",
                description="",
                author="system",
                added=(".gitattributes",),
                deleted=(),
            )
            repo.refs["refs/heads/main"] = commit.record.id
            self._repos[key] = repo
            return repo

    def _delete_repo(self, repo_type: str, repo_id: str) -> bool:
        with self._lock:
            return self._repos.pop((repo_type, repo_id.lower()), None) is not None

    def _commit_tree(
        self,
        repo: _Repo,
        ref: str | None,
        tree: Mapping[str, FileEntry],
        message: str,
        author: str,
        added: list[str],
        deleted: list[str],
        description: str = "",
        base: str | None = None,
    ) -> str:
        """Record a commit on top of ``base`` (default: head of ``ref``) and move ``ref``."""
        parent = base if base is not None else repo.refs[ref or ""]
        commit = repo.add_commit(
            parent,
            tree,
            message=message,
            description=description,
            author=author,
            added=tuple(dict.fromkeys(added)),
            deleted=tuple(dict.fromkeys(deleted)),
        )
        if ref is not None:
            repo.refs[ref] = commit.record.id
        return commit.record.id

    def _index(self, commit: _Commit) -> _TreeIndex:
        cid = commit.record.id
        with self._lock:
            index = self._indexes.get(cid)
        if index is None:
            index = _TreeIndex(commit.tree)  # built outside the lock: trees are immutable
            with self._lock:
                if len(self._indexes) > 64:
                    self._indexes.clear()
                self._indexes[cid] = index
        return index

    def _upload_mode(
        self, tree: Mapping[str, FileEntry], path: str, size: int, sample: bytes
    ) -> str:
        """LFS for .gitattributes patterns, files >= 10 MB or binary samples."""
        if size >= LFS_SIZE_THRESHOLD:
            return "lfs"
        if path.rsplit("/", 1)[-1] in ("README.md", ".gitattributes", ".gitignore"):
            return "regular"
        attributes = tree.get(".gitattributes")
        if _matches_any(path, _lfs_patterns(attributes.content if attributes else None)):
            return "lfs"
        return "lfs" if b"\0" in sample else "regular"

    def _sign(self, oid: str, size: int, chunk: int) -> str:
        message = f"{oid}:{size}:{chunk}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    # ---- request processing ------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        """Count the request as in flight while :meth:`_handle` processes it."""
        with self._lock:
            self._in_flight += 1
        try:
            if self.latency:
                time.sleep(self.latency)  # the round trip of a distant client
            self._handle(handler)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _handle(self, handler: _Handler) -> None:
        """Parse, apply faults, route, log, respond.  Runs in the connection's thread."""
        started = time.time()
        try:
            request = self._parse(handler)
        except _ClientGone:
            handler.drop()
            return
        faults = self._take_faults(request.method, request.path)
        terminal = next((f for f in faults if f.action in _TERMINAL_ACTIONS), None)
        response: _Response | None
        try:
            for fault in faults:
                self._run_pass_through(fault, request)
            response = self._respond(request, terminal)
        except _ClientGone:
            response = None
        fault_name = terminal.action if terminal else (faults[0].action if faults else None)
        self._record(request, response, started, fault_name)
        if response is None:
            handler.drop()
        elif terminal is not None and terminal.action == "cut_response":
            cut = terminal.body_bytes if terminal.body_bytes is not None else response.length // 2
            handler.send(response, limit=cut)
            handler.drop()
        else:
            handler.send(response)

    def _run_pass_through(self, fault: Fault, request: _Request) -> None:
        """Sleep and/or run the callback; a failing callback is reported, not fatal."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.action == "callback" and fault.callback is not None:
            try:
                fault.callback(self._info(request))
            except Exception:
                self.internal_errors.append("fault callback failed:\n" + traceback.format_exc())

    def _respond(self, request: _Request, fault: Fault | None) -> _Response | None:
        """The response to send, or None to drop the connection."""
        if fault is None or fault.action in ("drop_response", "cut_response"):
            response = self._api.handle(request)
            request.body.drain()  # keep-alive: never leave unread body bytes on the socket
            return None if fault and fault.action == "drop_response" else response
        if fault.action == "status":
            request.body.drain()
            body = (
                fault.body
                if fault.body is not None
                else {"error": f"Injected fault: HTTP {fault.status}"}
            )
            return _json(body, fault.status, fault.headers)
        if fault.action == "drop_mid_body":
            half = (request.body.expected or 0) // 2
            request.body.read_up_to(fault.body_bytes if fault.body_bytes is not None else half)
        return None

    def _parse(self, handler: _Handler) -> _Request:
        target = urlsplit(handler.path)
        auth_header = handler.headers.get("Authorization")
        auth: Literal["valid", "invalid", "none"] = "none"
        xet_scope = None
        if auth_header is not None:
            scheme, _, value = auth_header.partition(" ")
            valid = scheme.lower() == "bearer" and hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            )
            auth = "valid" if valid else "invalid"
            if target.path.startswith(CAS_PREFIX + "/") and scheme.lower() == "bearer":
                grant = self.cas.grant(value.strip())
                xet_scope = grant.scope if grant is not None else None
        return _Request(
            xet_scope=xet_scope,
            method=handler.command,
            raw_path=target.path,
            path=unquote(target.path),
            raw_query=target.query,
            query=parse_qs(target.query, keep_blank_values=True),
            auth=auth,
            body=_Body(handler.rfile, handler.headers),
            range=handler.headers.get("Range"),
            connection=handler.serial,
        )

    def _take_faults(self, method: str, path: str) -> list[Fault]:
        with self._lock:
            fired = [f for f in self._faults if f._take(method, path)]
            self._faults = [f for f in self._faults if not f.exhausted]
        return fired

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "<redacted>") if self.token else text

    def _info(self, request: _Request) -> RequestInfo:
        return RequestInfo(
            method=request.method,
            path=self._scrub(request.path),
            query=self._scrub(unquote(request.raw_query)),
            authenticated=request.auth == "valid" or request.xet_scope is not None,
        )

    def _record(
        self, request: _Request, response: _Response | None, started: float, fault: str | None
    ) -> None:
        info = self._info(request)
        record = RequestRecord(
            method=info.method,
            path=info.path,
            query=info.query,
            status=None if response is None else response.status,
            bytes_received=request.body.received,
            bytes_sent=0 if response is None or request.method == "HEAD" else response.length,
            started=started,
            duration=time.time() - started,
            authenticated=info.authenticated,
            fault=fault,
            error_code=None if response is None else response.headers.get("X-Error-Code"),
            range=request.range,
            connection=request.connection,
        )
        with self._lock:
            self._log.append(record)


# --------------------------------------------------------------------------------------------
# API handlers
# --------------------------------------------------------------------------------------------

_TYPE = r"(?P<type>models|datasets|spaces)"
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+?)"
_PREFIX = r"(?:(?P<prefix>datasets|spaces)/)?"
_REV = r"(?P<rev>refs/(?:pr|heads|tags|convert)/[^/]+|[^/]+)"  # normally one %2F-encoded segment
_API_REPO = rf"/api/{_TYPE}/{_REPO}"

Handler = Callable[[_Request, dict[str, str]], _Response]


class _Api:
    """HTTP-level handlers: auth, repo/revision lookup, JSON shapes.  One method per endpoint."""

    def __init__(self, hub: HubServer):
        self.hub, self.store = hub, hub._store
        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/api/whoami-v2", self.whoami),
            ("GET", r"/api/agent-harnesses", self.agent_harnesses),
            ("POST", r"/api/validate-yaml", self.validate_yaml),
            ("POST", r"/api/repos/create", self.create_repo),
            ("DELETE", r"/api/repos/delete", self.delete_repo),
            ("GET", rf"{_API_REPO}(?:/revision/{_REV})?", self.repo_info),
            ("PUT", rf"{_API_REPO}/settings", self.settings),
            ("POST", rf"{_API_REPO}/preupload/{_REV}", self.preupload),
            ("POST", rf"{_API_REPO}/commit/{_REV}", self.commit),
            ("GET", rf"{_API_REPO}/tree/{_REV}(?:/(?P<path>.*))?", self.tree),
            ("POST", rf"{_API_REPO}/paths-info/{_REV}", self.paths_info),
            ("GET", rf"{_API_REPO}/refs", self.refs),
            ("GET", rf"{_API_REPO}/commits/{_REV}", self.list_commits),
            ("POST DELETE", rf"{_API_REPO}/branch/(?P<branch>.+)", self.branch),
            ("POST", rf"{_API_REPO}/tag/{_REV}", self.create_tag),
            ("POST", rf"{_API_REPO}/discussions", self.open_discussion),
            ("GET", rf"{_API_REPO}/discussions/(?P<num>\d+)", self.discussion),
            ("DELETE", rf"{_API_REPO}/tag/(?P<tag>.+)", self.delete_tag),
            ("GET", rf"{_API_REPO}/xet-(?P<scope>write|read)-token/{_REV}", self.xet_token),
            ("POST", r"/v1/telemetry", self.xet_telemetry),
            ("POST", rf"{CAS_PREFIX}/v1/xorbs/default/(?P<hash>[0-9a-f]{{64}})", self.cas_xorb),
            ("POST", rf"{CAS_PREFIX}/v1/shards", self.cas_shard),
            ("GET", rf"{CAS_PREFIX}/v1/reconstructions/(?P<hash>[0-9a-f]{{64}})", self.cas_recon),
            ("GET", rf"{CAS_PREFIX}/xorb-data/(?P<hash>[0-9a-f]{{64}})", self.cas_fetch),
            ("POST", rf"/{_PREFIX}{_REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            ("POST", rf"/{_PREFIX}{_REPO}\.git/info/lfs/objects/verify", self.lfs_verify),
            ("PUT", r"/_lfs/upload/(?P<oid>[0-9a-f]{64})", self.lfs_upload),
            ("PUT", r"/_lfs/part/(?P<oid>[0-9a-f]{64})/(?P<part>\d+)", self.lfs_part),
            ("POST", r"/_lfs/complete/(?P<oid>[0-9a-f]{64})", self.lfs_complete),
            ("GET HEAD", rf"/{_PREFIX}{_REPO}/resolve/{_REV}/(?P<path>.+)", self.resolve),
            ("GET HEAD", r"/_cdn/(?P<oid>[0-9a-f]{64})", self.cdn),
        ]
        self.routes = [(frozenset(m.split()), re.compile(p), fn) for m, p, fn in routes]

    def handle(self, req: _Request) -> _Response:
        try:
            for methods, pattern, handler in self.routes:
                match = pattern.fullmatch(req.raw_path)
                if match and req.method in methods:
                    groups = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    return handler(req, groups)
            raise _HttpError(404, f"Not found: {req.method} {req.path}")
        except _HttpError as exc:
            return exc.response()
        except _ClientGone:
            raise
        except Exception:
            trace = traceback.format_exc()
            self.hub.internal_errors.append(trace)
            print(trace, file=sys.stderr)
            return _json({"error": "Internal server error (see HubServer.internal_errors)"}, 500)

    # ---- auth and lookups --------------------------------------------------------------------

    def _check_auth(self, req: _Request, write: bool) -> None:
        if req.auth == "invalid":
            raise _HttpError(401, INVALID_CREDENTIALS)
        if req.auth == "none" and (write or not self.hub.allow_anonymous_reads):
            raise _HttpError(401, NO_CREDENTIALS)

    def _repo(self, req: _Request, g: dict[str, str], write: bool = False) -> _Repo:
        self._check_auth(req, write)
        repo_type = (
            API_TYPES[g["type"]]
            if "type" in g
            else {"datasets": "dataset", "spaces": "space"}.get(g.get("prefix", ""), "model")
        )
        repo = self.hub._get_repo(repo_type, f"{g['ns']}/{g['name']}")
        if repo is None or (repo.private and req.auth != "valid"):
            raise _HttpError(404, "Repository not found", code="RepoNotFound")
        return repo

    def _commit_at(self, repo: _Repo, rev: str) -> _Commit:
        with self.hub._lock:
            cid = repo.resolve(rev)
            if cid is None:
                raise _HttpError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
            return repo.commits[cid]

    def _url(self, *parts: str) -> str:
        return "/".join((self.hub.url, *parts))

    # ---- account and misc --------------------------------------------------------------------

    def whoami(self, req: _Request, g: dict[str, str]) -> _Response:
        self._check_auth(req, write=True)
        return _json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": self.hub.username,
                "fullname": "Local User",
                "email": None,
                "canPay": False,
                "isPro": False,
                "periodEnd": None,
                "avatarUrl": "",
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "local", "role": "write"},
                },
            }
        )

    def agent_harnesses(self, req: _Request, g: dict[str, str]) -> _Response:
        return _json({"standardEnvVars": [], "harnesses": {}})  # empty registry: no agent detection

    def validate_yaml(self, req: _Request, g: dict[str, str]) -> _Response:
        return _json({"errors": [], "warnings": []})  # parsed before the status check

    def xet_token(self, req: _Request, g: dict[str, str]) -> _Response:
        """a Xet token + the CAS URL, in the JSON body (Rust side) and headers (Python)."""
        if not self.hub.xet:
            raise _HttpError(501, "Xet is switched off on this server; set HF_HUB_DISABLE_XET=1")
        write = g["scope"] == "write"
        repo = self._repo(req, g, write=write)
        token, expires = self.hub.cas.issue_token(g["scope"], repo.repo_id)
        headers = {
            "X-Xet-Cas-Url": self.hub.cas_url,
            "X-Xet-Access-Token": token,
            "X-Xet-Token-Expiration": str(expires),
        }
        body = {"accessToken": token, "exp": expires, "casUrl": self.hub.cas_url}
        return _json(body, headers=headers)

    def xet_telemetry(self, req: _Request, g: dict[str, str]) -> _Response:
        req.body.drain()
        return _json({})

    # ---- Xet CAS (xetserver.XetCas does the storage and the formats) -------------------------

    def _cas_auth(self, req: _Request, write: bool) -> None:
        """401 without a live Xet token (expired ones included); 403 for a read token writing."""
        if req.xet_scope is None:
            raise _HttpError(401, "Xet token missing, invalid or expired")
        if write and req.xet_scope != "write":
            raise _HttpError(403, "This Xet token is read-only")

    def cas_xorb(self, req: _Request, g: dict[str, str]) -> _Response:
        self._cas_auth(req, write=True)
        try:
            inserted = self.hub.cas.put_xorb(g["hash"], req.body.chunks(), req.body.expected)
        except CasError as exc:
            raise _HttpError(exc.status, exc.message) from exc
        return _json({"was_inserted": inserted})

    def cas_shard(self, req: _Request, g: dict[str, str]) -> _Response:
        self._cas_auth(req, write=True)
        try:
            self.hub.cas.put_shard(req.body.read_all(limit=64 * 1024 * 1024))
        except CasError as exc:
            raise _HttpError(exc.status, exc.message) from exc
        return _json({"result": 1})

    def cas_recon(self, req: _Request, g: dict[str, str]) -> _Response:
        self._cas_auth(req, write=False)
        try:
            return _json(self.hub.cas.reconstruction(g["hash"], req.range))
        except CasError as exc:
            raise _HttpError(exc.status, exc.message) from exc

    def cas_fetch(self, req: _Request, g: dict[str, str]) -> _Response:
        """A presigned xorb range (no auth, like the Hub's CDN URLs)."""
        try:
            path, offset, length = self.hub.cas.xorb_range(g["hash"], req.param("sig"), req.range)
        except CasError as exc:
            raise _HttpError(exc.status, exc.message) from exc
        size = path.stat().st_size
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {offset}-{offset + length - 1}/{size}",
        }
        return _Response(206 if req.range else 200, headers, file=(path, offset, length))

    # ---- repos -------------------------------------------------------------------------------

    def create_repo(self, req: _Request, g: dict[str, str]) -> _Response:
        self._check_auth(req, write=True)
        data = req.json()
        name, namespace = data.get("name"), data.get("organization") or self.hub.username
        repo_type = data.get("type") or "model"
        if (
            not isinstance(name, str)
            or not _REPO_NAME_RE.fullmatch(name)
            or repo_type not in URL_PREFIXES
        ):
            raise _HttpError(400, f"Invalid repo name or type: {name!r} / {repo_type!r}")
        repo_id = f"{namespace}/{name}"
        url = self._url(URL_PREFIXES[repo_type] + repo_id)
        private = data.get("visibility") == "private" or data.get("private") is True
        repo = self.hub._create_repo(repo_type, repo_id, private)
        if repo is None:
            raise _HttpError(409, f"You already created this {repo_type} repo", url=url)
        return _json({"url": url, "name": repo_id, "id": repo.uid})

    def delete_repo(self, req: _Request, g: dict[str, str]) -> _Response:
        self._check_auth(req, write=True)
        data = req.json()
        repo_id = f"{data.get('organization') or self.hub.username}/{data.get('name')}"
        if not self.hub._delete_repo(data.get("type") or "model", repo_id):
            raise _HttpError(404, "Repository not found", code="RepoNotFound")
        return _json({})

    def settings(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        data = req.json()
        with self.hub._lock:
            if "visibility" in data:
                repo.private = data["visibility"] == "private"
            elif "private" in data:
                repo.private = bool(data["private"])
        return _json({})

    def repo_info(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)
        commit = self._commit_at(repo, g.get("rev", "main"))
        blobs = req.flag("blobs")
        siblings = []
        for path, entry in sorted(commit.tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.blob_id)
                if entry.lfs:
                    lfs = entry.to_json(path)["lfs"]
                    sibling["lfs"] = {
                        "sha256": entry.sha256,
                        "size": entry.size,
                        "pointerSize": lfs["pointerSize"],
                    }
            siblings.append(sibling)
        info = {
            "_id": repo.uid,
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.record.id,
            "lastModified": commit.record.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(e.size for e in commit.tree.values()),
            "xetEnabled": False,
        }
        expand = req.query.get("expand", []) + req.query.get("expand[]", [])
        if expand:
            info = {k: v for k, v in info.items() if k in ("_id", "id", *expand)}
        return _json(info)

    # ---- refs and history --------------------------------------------------------------------

    def refs(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)

        def listing(prefix: str, full_name: bool = False) -> list[dict[str, str]]:
            return [
                {
                    "name": prefix + name if full_name else name,
                    "ref": prefix + name,
                    "targetCommit": cid,
                }
                for name, cid in sorted(repo.refs_with(prefix).items())
            ]

        with self.hub._lock:
            body: dict[str, Any] = {
                "branches": listing("refs/heads/"),
                "tags": listing("refs/tags/"),
                "converts": [],
            }
            if req.flag("include_prs"):
                body["pullRequests"] = listing("refs/pr/", full_name=True)
        return _json(body)

    def list_commits(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)
        commit = self._commit_at(repo, g["rev"])
        with self.hub._lock:
            history = [c.record for c in repo.history(commit.record.id)]
        items = [
            {
                "id": r.id,
                "title": r.message,
                "message": r.description,
                "date": r.date,
                "authors": [{"user": r.author, "avatar": ""}],
            }
            for r in history
        ]
        return self._paginated(req, items, self.hub.page_size)

    def branch(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        name = g["branch"]
        ref = f"refs/heads/{name}"
        if req.method == "DELETE":
            with self.hub._lock:
                if name == "main" or ref not in repo.refs:
                    raise _HttpError(
                        404 if ref not in repo.refs else 403, f"Cannot delete branch {name}"
                    )
                del repo.refs[ref]
            return _json({})
        if not _BRANCH_RE.fullmatch(name) or name.startswith("refs/") or ".." in name:
            raise _HttpError(400, f"Invalid branch name: {name}")
        start = req.json().get("startingPoint") or "main"
        with self.hub._lock:
            commit = self._commit_at(repo, start)
            if ref in repo.refs:
                raise _HttpError(409, "Reference already exists")
            repo.refs[ref] = commit.record.id
        return _json({})

    def create_tag(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        tag = req.json().get("tag")
        if not isinstance(tag, str) or not _BRANCH_RE.fullmatch(tag):
            raise _HttpError(400, f"Invalid tag name: {tag!r}")
        with self.hub._lock:
            commit = self._commit_at(repo, g["rev"])
            if f"refs/tags/{tag}" in repo.refs:
                raise _HttpError(409, "Tag already exists")
            repo.refs[f"refs/tags/{tag}"] = commit.record.id
        return _json({})

    def open_discussion(self, req: _Request, g: dict[str, str]) -> _Response:
        """an explicit pull request (``refs/pr/N`` from main), as the Xet upload_folder
        pipeline opens one; a plain discussion only gets its number."""
        repo = self._repo(req, g, write=True)
        data = req.json()
        with self.hub._lock:
            repo.pr_count += 1
            num = repo.pr_count
            if data.get("pullRequest"):
                repo.refs[f"refs/pr/{num}"] = repo.refs["refs/heads/main"]
            repo.discussions[num] = {
                "title": str(data.get("title") or ""),
                "isPullRequest": bool(data.get("pullRequest")),
                "createdAt": _now(),
            }
        url = self._url(repo.url_path, "discussions", str(num))
        return _json({"num": num, "url": url, "pullRequest": bool(data.get("pullRequest"))})

    def discussion(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)
        num = int(g["num"])
        with self.hub._lock:
            known = repo.discussions.get(num)
            if known is None and f"refs/pr/{num}" in repo.refs:  # opened by a create_pr commit
                known = {"title": "", "isPullRequest": True, "createdAt": repo.created_at}
        if known is None:
            raise _HttpError(404, f"Discussion {num} not found")
        return _json(
            {
                "num": num,
                "status": "open",
                "author": {"name": self.hub.username},
                "repo": {"name": repo.repo_id, "type": repo.repo_type},
                "events": [],
                "changes": {"base": "refs/heads/main"},
                "filesWithConflicts": [],
                **known,
            }
        )

    def delete_tag(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        with self.hub._lock:
            if repo.refs.pop(f"refs/tags/{g['tag']}", None) is None:
                raise _HttpError(404, f"Invalid rev id: {g['tag']}", code="RevisionNotFound")
        return _json({})

    # ---- tree, paths-info, downloads ---------------------------------------------------------

    def tree(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)
        commit = self._commit_at(repo, g["rev"])
        index = self.hub._index(commit)
        base = g.get("path", "").strip("/")
        if not index.is_dir(base):
            raise _HttpError(404, f"Entry not found: {base}", code="EntryNotFound")
        paths = index.listing(base, req.flag("recursive"))
        expand = req.flag("expand")
        page_size = min(self.hub.page_size, EXPAND_PAGE_SIZE) if expand else self.hub.page_size
        start = self._cursor(req)
        page = [
            self._entry(repo, commit, index, p, expand) for p in paths[start : start + page_size]
        ]
        return self._page_response(
            req, page, start + page_size if start + page_size < len(paths) else None
        )

    def paths_info(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)
        form = parse_qs(req.body.read_all().decode("utf-8", "replace"), keep_blank_values=True)
        paths = form.get("paths", [])
        if len(paths) > MAX_PATHS_INFO:
            raise _HttpError(413, "too many parameters")
        commit = self._commit_at(repo, g["rev"])
        index = self.hub._index(commit)
        expand = form.get("expand", ["false"])[0].lower() == "true"
        wanted = dict.fromkeys(p.strip("/") for p in paths)
        found = [p for p in wanted if p and (p in index.files or index.is_dir(p))]
        return _json([self._entry(repo, commit, index, p, expand) for p in found])

    def resolve(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g)
        commit = self._commit_at(repo, g["rev"])
        entry = commit.tree.get(g["path"])
        common = {"X-Repo-Commit": commit.record.id}
        if entry is None:
            error = _HttpError(404, f"Entry not found: {g['path']}", code="EntryNotFound")
            error.headers.update(common)
            raise error
        headers = {
            **common,
            "ETag": f'"{entry.oid}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if entry.lfs:
            headers.update({"X-Linked-Size": str(entry.size), "X-Linked-Etag": f'"{entry.sha256}"'})
        if entry.xet_hash and self.hub.xet:  # as on the Hub: the client reads it through Xet
            token_url = self._url("api", f"{repo.repo_type}s", repo.repo_id, "xet-read-token")
            headers["X-Xet-Hash"] = entry.xet_hash
            headers["Link"] = f'<{token_url}/{commit.record.id}>; rel="xet-auth"'
        if entry.lfs and self.hub.cdn_redirect:
            headers["Location"] = self._cdn_url(entry.sha256)
            return _Response(302, headers)
        start, length, status = self._range(req, entry.size, headers)
        if entry.lfs:
            return _Response(status, headers, file=(self.store.path(entry.sha256), start, length))
        assert entry.content is not None
        return _Response(status, headers, entry.content[start : start + length])

    def _cdn_url(self, oid: str) -> str:
        """A URL on another host name, signed and expiring, like the Hub's CDN links."""
        expires = str(int(time.time() + self.hub.cdn_url_ttl))
        signature = self.hub._sign(oid, -1 - self.hub._cdn_epoch, int(expires))
        return f"http://localhost:{self.hub.port}/_cdn/{oid}?exp={expires}&sig={signature}"

    def cdn(self, req: _Request, g: dict[str, str]) -> _Response:
        """An LFS object by its signed URL: no token needed; 403 once expired or forged."""
        oid = g["oid"]
        try:
            expires = int(req.param("exp"))
        except ValueError as exc:
            raise _HttpError(403, "Invalid CDN URL") from exc
        expected = self.hub._sign(oid, -1 - self.hub._cdn_epoch, expires)
        valid = hmac.compare_digest(req.param("sig"), expected)
        if not valid or expires < time.time():
            raise _HttpError(403, "Request has expired")
        size = self.store.size(oid)
        if size is None:
            raise _HttpError(404, "Not found")
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        start, length, status = self._range(req, size, headers)
        return _Response(status, headers, file=(self.store.path(oid), start, length))

    def _range(self, req: _Request, size: int, headers: dict[str, str]) -> tuple[int, int, int]:
        """(start, length, status) for an optional single ``Range: bytes=a-b`` header."""
        header = req.range
        if header is None:
            return 0, size, 200
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if not match or match.groups() == ("", ""):
            return 0, size, 200  # unsupported (e.g. multi-range): ignore, like many servers
        first, last = match.groups()
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or end < start:
            error = _HttpError(416, "Requested range not satisfiable")
            error.headers["Content-Range"] = f"bytes */{size}"
            raise error
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return start, end - start + 1, 206

    def _entry(
        self, repo: _Repo, commit: _Commit, index: _TreeIndex, path: str, expand: bool
    ) -> dict[str, Any]:
        entry = index.entry_json(path)
        if expand:
            with self.hub._lock:
                history = repo.history(commit.record.id)
                last = next((c.record for c in history if c.record.touches(path, True)), None)
            last = last or commit.record
            entry["lastCommit"] = {"id": last.id, "title": last.message, "date": last.date}
            if entry["type"] == "file":
                entry["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": None,
                }
        return entry

    # ---- pagination (tree and commits) -------------------------------------------------------

    def _cursor(self, req: _Request) -> int:
        cursor = req.param("cursor")
        if not cursor:
            return 0
        try:
            return int(base64.urlsafe_b64decode(cursor.encode()).decode())
        except (ValueError, binascii.Error) as exc:
            raise _HttpError(400, "Invalid cursor") from exc

    def _paginated(self, req: _Request, items: list[Any], page_size: int) -> _Response:
        start = self._cursor(req)
        following = start + page_size if start + page_size < len(items) else None
        return self._page_response(req, items[start : start + page_size], following)

    def _page_response(self, req: _Request, page: list[Any], following: int | None) -> _Response:
        """JSON page + ``Link: <next>; rel="next"`` whose URL keeps the original query."""
        if following is None:
            return _json(page)
        params = [(k, v) for k, values in req.query.items() if k != "cursor" for v in values]
        params.append(("cursor", base64.urlsafe_b64encode(str(following).encode()).decode()))
        link = f'<{self.hub.url}{req.raw_path}?{urlencode(params)}>; rel="next"'
        return _json(page, headers={"Link": link})

    # ---- preupload and commit ----------------------------------------------------------------

    def preupload(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        files = req.json().get("files")
        if not isinstance(files, list):
            raise _HttpError(400, "Expected a list of files")
        commit = self._commit_at(repo, g["rev"])
        answers = []
        for item in files:
            path = _checked_path(item.get("path"))
            try:
                sample = base64.b64decode(item.get("sample", ""), validate=True)
            except (ValueError, binascii.Error) as exc:
                raise _HttpError(400, f"Invalid sample for {path}") from exc
            size = item.get("size")
            if not isinstance(size, int) or size < 0:
                raise _HttpError(400, f"Invalid size for {path}")
            answer = {
                "path": path,
                "uploadMode": self.hub._upload_mode(commit.tree, path, size, sample),
            }
            answer["shouldIgnore"] = False
            if (existing := commit.tree.get(path)) is not None:
                answer["oid"] = existing.oid
            answers.append(answer)
        return _json({"files": answers, "commitOid": commit.record.id})

    def commit(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        header, operations = _parse_ndjson(req.body.read_all())
        create_pr = req.flag("create_pr")
        with self.hub._lock:
            ref = repo.writable_ref(g["rev"])
            if ref is None:
                raise _HttpError(404, f"Invalid rev id: {g['rev']}", code="RevisionNotFound")
            base = self._commit_base(repo, ref, header.get("parentCommit"), create_pr)
            tree = dict(repo.commits[base].tree)
            added, deleted = self._apply(tree, operations)
            message, description = (
                str(header.get("summary") or ""),
                str(header.get("description") or ""),
            )
            pr_num = None
            if create_pr:
                repo.pr_count += 1
                pr_num, ref = repo.pr_count, f"refs/pr/{repo.pr_count}"
            oid = self.hub._commit_tree(
                repo, ref, tree, message, self.hub.username, added, deleted, description, base=base
            )
        body = {
            "success": True,
            "commitOid": oid,
            "hookOutput": "",
            "commitUrl": self._url(repo.url_path, "commit", oid),
        }
        if pr_num is not None:
            body["pullRequestUrl"] = self._url(repo.url_path, "discussions", str(pr_num))
        return _json(body)

    def _commit_base(self, repo: _Repo, ref: str, parent: object, create_pr: bool) -> str:
        """Commit the new one builds on; 412 when ``parentCommit`` is not the branch head."""
        head = repo.refs[ref]
        if not parent:
            return head
        if not isinstance(parent, str):
            raise _HttpError(400, "parentCommit must be a string")
        if create_pr:  # a PR may start from an older commit
            base = repo.resolve(parent)
            if base is None:
                raise _HttpError(404, f"Invalid rev id: {parent}", code="RevisionNotFound")
            return base
        if not head.startswith(parent.lower()):
            raise _HttpError(412, CONFLICT_MESSAGE)
        return head

    def _apply(
        self, tree: dict[str, FileEntry], operations: list[dict[str, Any]]
    ) -> tuple[list[str], list[str]]:
        """Apply NDJSON operations to ``tree`` in order; return (changed paths, deleted paths)."""
        added: list[str] = []
        deleted: list[str] = []
        for op in operations:
            key, value = op.get("key"), op.get("value")
            if not isinstance(value, dict):
                raise _HttpError(400, BAD_PAYLOAD_MESSAGE)
            if key == "deletedFolder":
                prefix = _checked_path(str(value.get("path", "")).rstrip("/")) + "/"
                victims = [p for p in tree if p.startswith(prefix)]
                if not victims:
                    raise _HttpError(
                        404, MISSING_FILE_MESSAGE.format(path=prefix), code="EntryNotFound"
                    )
                for victim in victims:
                    del tree[victim]
                deleted.extend(victims)
                continue
            path = _checked_path(value.get("path"))
            if key == "deletedFile":
                if tree.pop(path, None) is None:
                    raise _HttpError(
                        404, MISSING_FILE_MESSAGE.format(path=path), code="EntryNotFound"
                    )
                deleted.append(path)
                continue
            if key == "file":
                entry = FileEntry.regular(_decode_content(value, path))
            elif key == "lfsFile":
                entry = self._lfs_entry(value, path)
            else:
                raise _HttpError(400, BAD_PAYLOAD_MESSAGE)
            if tree.get(path) != entry:
                added.append(path)
            tree[path] = entry
        _check_no_file_dir_clash(tree, added)
        return [p for p in added if p in tree], [p for p in deleted if p not in tree]

    def _lfs_entry(self, value: dict[str, Any], path: str) -> FileEntry:
        oid = str(value.get("oid", "")).lower()
        xet = self.hub.cas.file_for_sha256(oid) if _OID_RE.fullmatch(oid) else None
        if xet is not None and value.get("size", xet.size) == xet.size:
            self._rebuild_from_cas(xet, oid, path)
            return FileEntry.lfs_object(oid, xet.size, xet_hash=xet.hash)
        stored = self.store.size(oid) if _OID_RE.fullmatch(oid) else None
        if stored is None or value.get("size", stored) != stored:
            raise _HttpError(422, MISSING_LFS_MESSAGE.format(path=path))
        return FileEntry.lfs_object(oid, stored)

    def _rebuild_from_cas(self, xet: Any, oid: str, path: str) -> None:
        """The CAS really holds these bytes: rebuild the file from the xorbs, check sha256+size.

        The rebuilt file lands in the LFS store (content-addressed), which also lets plain GETs
        and :meth:`HubServer.read_file` serve Xet files; done once per sha256.
        """
        if self.store.size(oid) == xet.size:
            return
        try:
            self.store.receive(self.hub.cas.file_bytes(xet), oid, xet.size)
        except (ValueError, CasError) as exc:
            raise _HttpError(422, MISSING_LFS_MESSAGE.format(path=path) + f" ({exc})") from exc

    # ---- LFS batch, transfers, verify --------------------------------------------------------

    def lfs_batch(self, req: _Request, g: dict[str, str]) -> _Response:
        repo = self._repo(req, g, write=True)
        data = req.json()
        if data.get("operation") != "upload":
            raise _HttpError(400, "Only the 'upload' operation is supported")
        objects = [self._batch_object(repo, obj) for obj in data.get("objects") or []]
        body = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
        return _json(body, headers={"Content-Type": "application/vnd.git-lfs+json"})

    def _batch_object(self, repo: _Repo, obj: dict[str, Any]) -> dict[str, Any]:
        oid, size = str(obj.get("oid", "")).lower(), obj.get("size")
        if not _OID_RE.fullmatch(oid) or not isinstance(size, int) or size < 0:
            size = size if isinstance(size, int) else 0
            return {
                "oid": oid,
                "size": size,
                "error": {"code": 422, "message": "Invalid oid or size"},
            }
        answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        stored = self.store.size(oid)
        if stored == size:
            return answer  # already stored: no actions, nothing to transfer
        if stored is not None:
            return {
                **answer,
                "error": {"code": 422, "message": f"Object {oid} exists with another size"},
            }
        if size > self.hub.multipart_threshold:
            upload = self._multipart_action(oid, size)
        else:
            upload = {"href": self._signed(f"/_lfs/upload/{oid}", oid, size, 0)}
        verify = {"href": self._url(f"{repo.url_path}.git/info/lfs/objects/verify")}
        return {**answer, "actions": {"upload": upload, "verify": verify}}

    def _multipart_action(self, oid: str, size: int) -> dict[str, Any]:
        """parts are the all-digit header keys; the href is the completion URL."""
        chunk = self.hub.multipart_chunk_size
        header = {"chunk_size": str(chunk)}
        for number in range(1, math.ceil(size / chunk) + 1):
            header[f"{number:05d}"] = self._signed(f"/_lfs/part/{oid}/{number}", oid, size, chunk)
        return {"href": self._signed(f"/_lfs/complete/{oid}", oid, size, chunk), "header": header}

    def _signed(self, path: str, oid: str, size: int, chunk: int) -> str:
        """A presigned URL: needs no Authorization, only a valid HMAC of (oid, size, chunk)."""
        query = urlencode({"size": size, "chunk": chunk, "sig": self.hub._sign(oid, size, chunk)})
        return f"{self.hub.url}{path}?{query}"

    def _check_signature(self, req: _Request, oid: str) -> tuple[int, int]:
        try:
            size, chunk = int(req.param("size")), int(req.param("chunk"))
        except ValueError as exc:
            raise _HttpError(403, "Invalid upload URL") from exc
        if not hmac.compare_digest(req.param("sig"), self.hub._sign(oid, size, chunk)):
            raise _HttpError(403, "Invalid upload URL signature")
        return size, chunk

    def lfs_upload(self, req: _Request, g: dict[str, str]) -> _Response:
        oid = g["oid"]
        size, _ = self._check_signature(req, oid)
        if self.store.size(oid) != size:
            try:
                self.store.receive(req.body.chunks(), oid, size)
            except ValueError as exc:
                raise _HttpError(400, str(exc)) from exc
        return _Response(200, {"ETag": f'"{oid[:32]}"'})

    def lfs_part(self, req: _Request, g: dict[str, str]) -> _Response:
        oid, number = g["oid"], int(g["part"])
        size, chunk = self._check_signature(req, oid)
        parts = math.ceil(size / chunk)
        if not 1 <= number <= parts:
            raise _HttpError(400, f"Part number {number} out of range 1..{parts}")
        expected = chunk if number < parts else size - chunk * (parts - 1)
        try:
            etag = self.store.receive_part(
                f"{oid}-{size}-{chunk}", number, chunk * (number - 1), expected, req.body.chunks()
            )
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from exc
        return _Response(200, {"ETag": etag})

    def lfs_complete(self, req: _Request, g: dict[str, str]) -> _Response:
        oid = g["oid"]
        size, chunk = self._check_signature(req, oid)
        data = req.json()
        parts = data.get("parts")
        if data.get("oid") != oid or not isinstance(parts, list):
            raise _HttpError(400, "Completion payload must carry this oid and a list of parts")
        try:
            ordered = sorted(parts, key=lambda p: int(p["partNumber"]))
            numbers, etags = (
                [int(p["partNumber"]) for p in ordered],
                [str(p["etag"]) for p in ordered],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _HttpError(400, "Malformed parts") from exc
        if numbers != list(range(1, math.ceil(size / chunk) + 1)):
            raise _HttpError(400, f"Expected parts 1..{math.ceil(size / chunk)}, got {numbers}")
        try:
            self.store.complete(f"{oid}-{size}-{chunk}", oid, size, etags)
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from exc
        return _json({"success": True})

    def lfs_verify(self, req: _Request, g: dict[str, str]) -> _Response:
        self._repo(req, g, write=True)
        data = req.json()
        oid, size = str(data.get("oid", "")).lower(), data.get("size")
        if not _OID_RE.fullmatch(oid) or self.store.size(oid) != size:
            raise _HttpError(404, f"Object {oid} not found")
        return _json({"success": True})


def _parse_ndjson(raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split a commit payload into its header value and operation lines."""
    try:
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    except ValueError as exc:
        raise _HttpError(400, f"Invalid NDJSON: {exc}") from exc
    if not lines or not isinstance(lines[0], dict) or lines[0].get("key") != "header":
        raise _HttpError(400, "The first line of the payload must be the header")
    header = lines[0].get("value")
    if not isinstance(header, dict) or not all(isinstance(op, dict) for op in lines[1:]):
        raise _HttpError(400, BAD_PAYLOAD_MESSAGE)
    return header, lines[1:]


def _decode_content(value: dict[str, Any], path: str) -> bytes:
    content, encoding = value.get("content", ""), value.get("encoding", "base64")
    if not isinstance(content, str):
        raise _HttpError(400, f"Invalid content for {path}")
    if encoding == "utf-8":
        return content.encode()
    try:
        return base64.b64decode(content, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise _HttpError(400, f"Invalid base64 content for {path}") from exc


def _check_no_file_dir_clash(tree: Mapping[str, FileEntry], added: Iterable[str]) -> None:
    """Git cannot hold both ``a`` (file) and ``a/b``: reject commits that would need that."""
    added = list(added)
    if not added:
        return
    dirs = {path.rsplit("/", 1)[0] for path in tree if "/" in path}
    dirs |= {d.rsplit("/", i)[0] for d in list(dirs) for i in range(1, d.count("/") + 1)}
    for path in added:
        parents = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
        if path in dirs or any(p in tree for p in parents):
            raise _HttpError(400, f"Path {path} conflicts with an existing file or folder")


# --------------------------------------------------------------------------------------------
# Command line: python tests/hubserver.py --storage DIR --token T --port P
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Local Hugging Face Hub-protocol server for tests."
    )
    parser.add_argument("--storage", required=True, help="directory for LFS objects")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--multipart-threshold", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--multipart-chunk-size", type=int, default=32 * 1024 * 1024)
    parser.add_argument("--no-xet", action="store_true", help="answer 501 to Xet token requests")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="added to every request and new connection"
    )
    parser.add_argument(
        "--cdn-redirect", action="store_true", help="redirect LFS/Xet downloads to /_cdn/ URLs"
    )
    parser.add_argument("--bandwidth-mb", type=float, default=0.0, help="MB/s of file data")
    args = parser.parse_args(argv)
    server = HubServer(
        args.storage,
        token=args.token,
        host=args.host,
        port=args.port,
        page_size=args.page_size,
        multipart_threshold=args.multipart_threshold,
        multipart_chunk_size=args.multipart_chunk_size,
        xet=not args.no_xet,
        latency=args.latency_ms / 1000,
        cdn_redirect=args.cdn_redirect,
        bandwidth=args.bandwidth_mb * 1e6 or None,
    ).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(server.url, flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
