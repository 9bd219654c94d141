"""Gzip streamed in constant memory, as strictly as ``gzip.decompress`` (which datasets uses).

The whole stream (:func:`inflate`), just its start (enough for a header, within a budget of
compressed bytes) or just its size, fed by reading the file in chunks; each failure is one of the
``GZIP_*`` messages.

A reader that wants the bytes fast (a preview inflating an image's first volume) asks for
``inflate(chunks, fast=True)``: ISA-L's inflate (the ``isal`` package), 1.7x zlib's speed on
scanners' gzip and 3x on stored blocks, with the same API and checks; zlib when it is missing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, BinaryIO

from .header import NIFTI2_SIZE

try:
    from isal import isal_zlib as FAST_ZLIB
except ImportError:  # pragma: no cover - isal is a dependency; a platform without its wheel
    FAST_ZLIB = zlib

GZIP_MAGIC = b"\x1f\x8b"

HEAD_CHUNK = 16 * 1024  # first read of every file
HEAD_BUDGET = 64 * 1024  # most compressed bytes read to reach the header of a gzip file
_HEAD_TARGET = 4096  # uncompressed bytes wanted: the header (<= 544) plus a sample to classify text
_OUT_CHUNK = 1024 * 1024  # most uncompressed bytes produced per zlib call (bounds memory on bombs)

GZIP_TRUNCATED = "truncated gzip: the compressed stream ends early"
GZIP_BAD_CRC = "corrupt gzip: CRC check failed"
GZIP_BAD_LENGTH = (
    "corrupt gzip: length check failed (the gzip trailer's size does not match the data)"
)
GZIP_TRAILING = "corrupt gzip: unexpected non-gzip data after the end of the compressed stream"


class GzipError(Exception):
    """The stream is not what gzip.decompress (used by datasets) accepts; args[0] says why."""


class _BudgetSpent(Exception):
    """The cheap check read as much of a gzip file as it allows itself."""


def gunzip(chunks: Iterable[bytes], engine: ModuleType = zlib) -> Iterator[bytes]:
    """Yield the uncompressed pieces of a (possibly multi-member) gzip stream.

    Accepts exactly what ``gzip.decompress`` accepts: members back to back, zero padding between
    or after them. Raises GzipError at the end of input if the last member is incomplete. Each
    piece is at most _OUT_CHUNK bytes, so a highly compressed file never blows up memory.
    ``engine``: ``zlib`` or a module with its API (``FAST_ZLIB``).
    """
    d: Any = None
    members = 0
    for chunk in chunks:
        buf = chunk
        while buf:
            if d is None:
                buf = buf.lstrip(b"\0")
                if not buf:
                    break
                d = engine.decompressobj(wbits=31)
            yield _inflate(d, buf, members > 0, engine.error)
            if d.eof:
                buf, d, members = d.unused_data, None, members + 1
            else:
                buf = d.unconsumed_tail
    if d is not None:
        yield _flush(d, engine.error)
        if not d.eof:
            raise GzipError(GZIP_TRUNCATED)


def _inflate(d: Any, buf: bytes, after_member: bool, error: type[Exception]) -> bytes:
    try:
        return d.decompress(buf, _OUT_CHUNK)
    except error as exc:
        if after_member and "header check" in str(exc):
            raise GzipError(GZIP_TRAILING) from exc
        raise GzipError(_zlib_message(exc)) from exc


def _flush(d: Any, error: type[Exception]) -> bytes:
    """At the end of the input: what zlib still holds (small: all input is consumed)."""
    try:
        return d.flush()
    except error as exc:
        raise GzipError(_zlib_message(exc)) from exc


def _zlib_message(exc: Exception) -> str:
    text = str(exc)
    if "incorrect data check" in text or "Incorrect checksum" in text:  # zlib's, ISA-L's
        return GZIP_BAD_CRC
    if "incorrect length check" in text:
        return GZIP_BAD_LENGTH
    reason = text.split(": ", 1)[-1]  # drop "Error -3 while decompressing data"
    return f"corrupt gzip: invalid compressed data ({reason})"


def gzip_exception_message(exc: Exception) -> str:
    """Message for what gzip.decompress raises (the path datasets takes)."""
    if isinstance(exc, EOFError):
        return GZIP_TRUNCATED
    if isinstance(exc, zlib.error):
        return _zlib_message(exc)
    text = str(exc)
    if "CRC" in text:
        return GZIP_BAD_CRC
    if "length" in text:
        return GZIP_BAD_LENGTH
    if "Not a gzipped file" in text:
        return GZIP_TRAILING
    return f"corrupt gzip: {text}"


def inflate(chunks: Iterable[bytes], fast: bool = False) -> Iterator[bytes]:
    """The uncompressed pieces of a gzip stream (every member, bounded); ValueError says why a
    stream is not valid gzip. ``fast``: with ISA-L's inflate when it is installed (its messages
    for corrupt data are its own)."""
    try:
        yield from gunzip(chunks, FAST_ZLIB if fast else zlib)
    except GzipError as exc:
        raise ValueError(exc.args[0]) from None


def gunzip_head(chunks: Iterable[bytes]) -> tuple[bytes, str | None]:
    """Decompress just enough to read the header: up to _HEAD_TARGET bytes of output.

    Returns the output and, if the stream failed before that much came out, the reason.
    """
    out = bytearray()
    try:
        for piece in gunzip(chunks):
            out += piece
            if len(out) >= _HEAD_TARGET:
                break
    except GzipError as exc:
        return bytes(out), exc.args[0]
    except _BudgetSpent:
        if len(out) < NIFTI2_SIZE + 4:
            return bytes(out), (
                f"cannot check: no NIfTI header in the first {HEAD_BUDGET} bytes of the gzip "
                "stream (an unusually long gzip header?)"
            )
    return bytes(out[:_HEAD_TARGET]), None


def gunzip_size(chunks: Iterable[bytes]) -> int:
    """Uncompressed size of the whole gzip stream; raises GzipError if it is not valid."""
    return sum(len(piece) for piece in gunzip(chunks))


def read_up_to(f: BinaryIO, n: int) -> bytes:
    """Read n bytes, or fewer at end of file (a single read may legally return less)."""
    parts = []
    while n > 0:
        part = f.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_chunks(f: BinaryIO, size: int) -> Iterator[bytes]:
    """The rest of the file, ``size`` bytes at a time (the pieces fed to :func:`gunzip`)."""
    while chunk := f.read(size):
        yield chunk


def within_head_budget(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Stop after HEAD_BUDGET compressed bytes: the header must come out well before that."""
    total = 0
    source = iter(chunks)
    while total < HEAD_BUDGET:  # checked before reading, so never reads past the budget
        chunk = next(source, None)
        if chunk is None:
            return
        yield chunk
        total += len(chunk)
    raise _BudgetSpent


def peek_gzip(data: bytes) -> bytes:
    """What comes out of the start of a gzip stream before it fails (gzip.decompress gives
    nothing). Fed in small pieces, so an error at the end (a bad CRC) loses little output."""
    d = zlib.decompressobj(wbits=31)
    out = bytearray()
    for start in range(0, min(len(data), HEAD_BUDGET), 64):
        try:
            out += d.decompress(data[start : start + 64])
        except zlib.error:
            break
        if d.eof or len(out) >= _HEAD_TARGET:
            break
    return bytes(out)
