"""A local Xet CAS (content-addressed storage) for tests: what ``hf_xet`` 1.8 talks to.

Written from what the real client sends and expects (endpoints, binary layouts) and the public
xet-core sources (chunk header, byte grouping, shard records); stdlib + pyarrow only.

:class:`XetCas` is storage and protocol logic without sockets: :class:`hubserver.HubServer`
mounts it under ``/cas`` on its own loopback HTTP server, so every CAS request goes through the
Hub server's request log (with bytes received) and fault injection (``Fault(path=r"^/cas/v1/
xorbs/")``) like any Hub request. The Hub hands out the Xet tokens (``xet-write-token``,
``xet-read-token``) with :meth:`XetCas.issue_token` and ties a commit's ``lfsFile`` to the CAS
with :meth:`XetCas.file_for_sha256` + :meth:`XetCas.file_bytes` (the file is rebuilt from the
stored xorbs and its sha256 and size checked before the commit is accepted).

Endpoints (paths relative to the CAS URL; bearer = a Xet token; anything else is 404 so the
client falls back, as it does against the real CAS):

* ``GET  /v1/chunks/default/{hash}``          global dedup query: always 404 (unknown chunk)
* ``POST /v1/xorb-grants/default/{hash}``     404: the client uploads directly
* ``POST /v1/xorbs/default/{hash}``           raw xorb -> ``{"was_inserted": bool}``
* ``POST /v1/shards``                          raw shard -> ``{"result": 1}`` (``/v2`` is 404)
* ``GET  /v1/reconstructions/{file}``          terms + fetch_info, honours ``Range`` (``/v2``: 404)
* ``GET  /xorb-data/{hash}?sig=..``            a signed byte range of a stored xorb (206), no auth

Bounded: a xorb or shard body over :data:`MAX_XORB_BYTES` / :data:`MAX_SHARD_BYTES` is refused
(413) before it is read; xorbs are streamed to disk, never held whole in memory. Nothing
half-received becomes visible: a xorb is parsed from a temp file and renamed into place only
when its chunk headers walk cleanly to its end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import struct
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_SHARD_BYTES",
    "MAX_XORB_BYTES",
    "CasError",
    "XetCas",
    "XetFile",
    "XetGrant",
    "hash_text",
]

MAX_XORB_BYTES = 80 * 1024 * 1024  # the client packs ~64 MiB of chunks per xorb (+ footer)
MAX_SHARD_BYTES = 64 * 1024 * 1024
CHUNK_HEADER = 8
RECORD = 48  # every shard record (file header, segment, verification, metadata ext.) is 48 bytes
SHARD_HEADER = 48  # 32-byte tag, u64 version, u64 footer size
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
BOOKEND = b"\xff" * 32
XORB_FOOTER_IDENT = b"XETBLOB"
_HASH_RE = re.compile(r"[0-9a-f]{64}")


class CasError(Exception):
    """Answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def hash_text(raw: bytes) -> str:
    """Xet's text form of a 32-byte hash: four little-endian u64, each as 16 hex digits."""
    return "".join(f"{int.from_bytes(raw[i : i + 8], 'little'):016x}" for i in range(0, 32, 8))


@dataclass(frozen=True)
class XetGrant:
    """A Xet token handed out by the Hub: its scope and when it stops being accepted."""

    scope: str  # "read" or "write"
    expires: float  # unix time
    repo: str


@dataclass(frozen=True)
class _Chunk:
    offset: int  # byte offset of the chunk header inside the stored xorb
    stored: int  # header + compressed bytes
    scheme: int
    size: int  # uncompressed bytes


@dataclass(frozen=True)
class _Segment:
    xorb: str
    first: int  # chunk index, inclusive
    end: int  # chunk index, exclusive
    size: int  # unpacked bytes


@dataclass(frozen=True)
class XetFile:
    """A file registered by a shard: its Xet hash, sha256 (if sent), size and segments."""

    hash: str
    sha256: str | None
    segments: tuple[_Segment, ...]

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)


def _decompress(scheme: int, data: bytes, size: int) -> bytes:
    """One chunk's bytes: 0 = stored, 1 = LZ4 frame, 2 = LZ4 frame of 4 byte-groups."""
    if scheme == 0:
        return data
    import pyarrow as pa

    try:
        raw = pa.decompress(data, decompressed_size=size, codec="lz4", asbytes=True)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CasError(400, f"a chunk does not decompress: {exc}") from exc
    if scheme == 1:
        return raw
    if scheme != 2:
        raise CasError(400, f"unknown chunk compression scheme {scheme}")
    # byte grouping: byte i of the chunk sits in group i % 4; groups are stored one after another
    out = bytearray(size)
    start = 0
    for group in range(4):
        length = len(range(group, size, 4))
        out[group::4] = raw[start : start + length]
        start += length
    return bytes(out)


def _walk_xorb(path: Path) -> list[_Chunk]:
    """Chunk index of a xorb on disk: walk 8-byte headers up to the footer (or the end)."""
    chunks: list[_Chunk] = []
    total = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset < total:
            header = fh.read(CHUNK_HEADER)
            if header[:7] == XORB_FOOTER_IDENT:
                break  # the footer (chunk hashes and boundaries) follows the last chunk
            if len(header) < CHUNK_HEADER or header[0] != 0:
                raise CasError(400, f"bad chunk header at byte {offset}")
            stored = int.from_bytes(header[1:4], "little")
            scheme, size = header[4], int.from_bytes(header[5:8], "little")
            if scheme > 2 or offset + CHUNK_HEADER + stored > total:
                raise CasError(400, f"bad chunk at byte {offset}")
            chunks.append(_Chunk(offset, CHUNK_HEADER + stored, scheme, size))
            offset += CHUNK_HEADER + stored
            fh.seek(offset)
    if not chunks:
        raise CasError(400, "empty xorb")
    return chunks


def _parse_shard(data: bytes) -> list[XetFile]:
    """The file-info section of a shard: file hash, segments and (flag bit 30) the sha256."""
    if len(data) < SHARD_HEADER + RECORD:
        raise CasError(400, "shard too short")
    files: list[XetFile] = []
    pos = SHARD_HEADER
    while True:
        if pos + RECORD > len(data):
            raise CasError(400, "shard file-info section is not terminated")
        raw_hash = data[pos : pos + 32]
        flags, count = struct.unpack_from("<II", data, pos + 32)
        pos += RECORD
        if raw_hash == BOOKEND:
            return files
        segments = []
        for _ in range(count):
            xorb = hash_text(data[pos : pos + 32])
            _flags, size, first, end = struct.unpack_from("<IIII", data, pos + 32)
            if end <= first:
                raise CasError(400, f"empty segment in file {hash_text(raw_hash)}")
            segments.append(_Segment(xorb, first, end, size))
            pos += RECORD
        if flags & FLAG_VERIFICATION:
            pos += RECORD * count
        sha256 = None
        if flags & FLAG_METADATA_EXT:
            sha256 = hash_text(data[pos : pos + 32])
            pos += RECORD
        files.append(XetFile(hash_text(raw_hash), sha256, tuple(segments)))


class XetCas:
    """Xorbs on disk (``xorbs/<hash>``), files and tokens in memory. Thread-safe.

    Args:
        root: storage directory (created).
        url: the CAS URL handed to clients (``{hub}/cas``); fetch URLs are built under it.
        token_ttl: seconds until the expiry announced with a token. hf_xet refreshes a token
            with under 30 s left, so a ttl just over 30 s makes it refresh during a push.
        token_valid: seconds the CAS really accepts a token (default: ``token_ttl``); shorter
            means a client that does not refresh in time gets 401.
    """

    def __init__(
        self,
        root: Path,
        url: str = "",
        token_ttl: float = 3600.0,
        token_valid: float | None = None,
    ):
        self.root, self.url, self.token_ttl = root, url, token_ttl
        self.token_valid = token_ttl if token_valid is None else token_valid
        self._xorbs = root / "xorbs"
        self._tmp = root / "tmp"
        for directory in (self._xorbs, self._tmp):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, list[_Chunk]] = {}
        self._files: dict[str, XetFile] = {}
        self._by_sha256: dict[str, str] = {}
        self._grants: dict[str, XetGrant] = {}
        self._secret = secrets.token_bytes(16)
        self.tokens_issued = 0

    # ---- tokens -----------------------------------------------------------------------------

    def issue_token(self, scope: str, repo: str) -> tuple[str, int]:
        """A new token for ``scope`` ("read"/"write"); returns (token, unix expiry)."""
        token = "xet_" + secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            self._grants[token] = XetGrant(scope, now + self.token_valid, repo)
            self.tokens_issued += 1
        return token, int(now + self.token_ttl)

    def grant(self, token: str | None) -> XetGrant | None:
        """The live grant behind a bearer token (None: unknown or expired)."""
        with self._lock:
            grant = self._grants.get(token or "")
        return grant if grant is not None and grant.expires > time.time() else None

    def revoke_all(self) -> None:
        """Every token handed out so far stops working (a test's "token revoked")."""
        with self._lock:
            self._grants.clear()

    # ---- inspection -------------------------------------------------------------------------

    def xorb_hashes(self) -> set[str]:
        with self._lock:
            return set(self._index)

    def files(self) -> dict[str, XetFile]:
        with self._lock:
            return dict(self._files)

    def file_for_sha256(self, sha256: str) -> XetFile | None:
        """The registered file whose shard carried this sha256 (and whose xorbs are all here)."""
        with self._lock:
            file = self._files.get(self._by_sha256.get(sha256, ""))
        return file

    def xorb_path(self, xorb: str) -> Path:
        return self._xorbs / xorb

    # ---- uploads ----------------------------------------------------------------------------

    def put_xorb(self, xorb: str, chunks: Iterable[bytes], length: int | None) -> bool:
        """Store a xorb streamed from ``chunks``; False when it was already there."""
        if not _HASH_RE.fullmatch(xorb):
            raise CasError(400, f"invalid xorb hash {xorb!r}")
        if length is not None and length > MAX_XORB_BYTES:
            raise CasError(413, f"a xorb body may have at most {MAX_XORB_BYTES} bytes")
        fd, name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(name)
        try:
            received = 0
            with os.fdopen(fd, "wb") as fh:
                for data in chunks:
                    received += len(data)
                    if received > MAX_XORB_BYTES:
                        raise CasError(413, f"a xorb body may have at most {MAX_XORB_BYTES} bytes")
                    fh.write(data)
            if length is not None and received != length:
                raise CasError(400, f"xorb body has {received} bytes, expected {length}")
            index = _walk_xorb(tmp)
            with self._lock:
                if xorb in self._index:
                    return False
                os.replace(tmp, self.xorb_path(xorb))
                self._index[xorb] = index
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def put_shard(self, data: bytes) -> list[XetFile]:
        """Register the files of a shard; every segment must point into a stored xorb."""
        if len(data) > MAX_SHARD_BYTES:
            raise CasError(413, "shard too large")
        files = _parse_shard(data)
        with self._lock:
            for file in files:
                for seg in file.segments:
                    index = self._index.get(seg.xorb)
                    if index is None:
                        raise CasError(400, f"shard references unknown xorb {seg.xorb}")
                    if seg.end > len(index):
                        raise CasError(400, f"shard references chunks past the end of {seg.xorb}")
                    if sum(c.size for c in index[seg.first : seg.end]) != seg.size:
                        raise CasError(400, f"segment size mismatch in xorb {seg.xorb}")
            for file in files:
                self._files[file.hash] = file
                if file.sha256:
                    self._by_sha256[file.sha256] = file.hash
        return files

    # ---- downloads --------------------------------------------------------------------------

    def file_bytes(self, file: XetFile) -> Iterator[bytes]:
        """The file rebuilt from its xorbs, chunk by chunk (decompressed)."""
        for seg in file.segments:
            with self._lock:
                index = self._index[seg.xorb]
            with self.xorb_path(seg.xorb).open("rb") as fh:
                for chunk in index[seg.first : seg.end]:
                    fh.seek(chunk.offset + CHUNK_HEADER)
                    data = fh.read(chunk.stored - CHUNK_HEADER)
                    out = _decompress(chunk.scheme, data, chunk.size)
                    if len(out) != chunk.size:
                        raise CasError(500, f"chunk of {seg.xorb} decompressed to a wrong size")
                    yield out

    def reconstruction(self, file_hash: str, range_header: str | None) -> dict[str, object]:
        """v1 answer: the terms covering the requested bytes and where to fetch each range."""
        with self._lock:
            file = self._files.get(file_hash)
        if file is None:
            raise CasError(404, f"file {file_hash} not found")
        first, last = _byte_range(range_header, file.size)
        terms: list[dict[str, object]] = []
        fetch: dict[str, list[dict[str, object]]] = {}
        offset_into_first = 0
        position = 0  # file offset of the current chunk
        for seg in file.segments:
            with self._lock:
                index = self._index[seg.xorb]
            picked = []
            for i in range(seg.first, seg.end):
                size = index[i].size
                if position + size > first and position <= last:
                    if not terms and not picked:
                        offset_into_first = first - position
                    picked.append(i)
                position += size
            if not picked:
                continue
            start, end = picked[0], picked[-1] + 1
            unpacked = sum(c.size for c in index[start:end])
            terms.append(
                {
                    "hash": seg.xorb,
                    "unpacked_length": unpacked,
                    "range": {"start": start, "end": end},
                }
            )
            byte_start = index[start].offset
            byte_end = index[end - 1].offset + index[end - 1].stored - 1
            entry = {
                "range": {"start": start, "end": end},
                "url": self._fetch_url(seg.xorb),
                "url_range": {"start": byte_start, "end": byte_end},
            }
            if entry not in fetch.setdefault(seg.xorb, []):
                fetch[seg.xorb].append(entry)
        return {"offset_into_first_range": offset_into_first, "terms": terms, "fetch_info": fetch}

    def _fetch_url(self, xorb: str) -> str:
        return f"{self.url}/xorb-data/{xorb}?sig={self.signature(xorb)}"

    def signature(self, xorb: str) -> str:
        return hmac.new(self._secret, xorb.encode(), hashlib.sha256).hexdigest()[:32]

    def xorb_range(self, xorb: str, sig: str, range_header: str | None) -> tuple[Path, int, int]:
        """(path, offset, length) of a signed fetch; 403 on a bad signature."""
        if not hmac.compare_digest(sig, self.signature(xorb)):
            raise CasError(403, "invalid signature")
        path = self.xorb_path(xorb)
        if xorb not in self.xorb_hashes():
            raise CasError(404, f"xorb {xorb} not found")
        first, last = _byte_range(range_header, path.stat().st_size)
        return path, first, last - first + 1


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """Inclusive (first, last) of ``Range: bytes=a-b`` (the whole thing when absent)."""
    if size == 0:
        return 0, -1
    if not header:
        return 0, size - 1
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
    if not match:
        raise CasError(416, f"unsupported range {header!r}")
    first = int(match.group(1))
    last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
    if first > last:
        raise CasError(416, f"range {header!r} outside 0-{size - 1}")
    return first, last


def json_body(obj: object) -> bytes:
    return json.dumps(obj).encode()
