"""The start of a NIfTI file, gzip or not: its header, and every byte before the voxels."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO

from .gunzip import (
    GZIP_MAGIC,
    GZIP_TRUNCATED,
    HEAD_CHUNK,
    GzipError,
    gunzip,
    gunzip_head,
    read_chunks,
    read_up_to,
)
from .header import NIFTI2_SIZE, NiftiHeader, parse_uncompressed

HEADER_BLOCK_LIMIT = 16 << 20  # most uncompressed bytes read before the voxels (extensions)


def parse_header(raw: bytes) -> NiftiHeader:
    """Parse the header at the start of a NIfTI file.

    ``raw`` is the start of the file: at least the first 540 uncompressed bytes (348 are enough for
    NIfTI-1). If it starts with the gzip magic it is decompressed as far as it goes. Raises
    ValueError with a user-facing message when the bytes are not a usable single-file NIfTI header.
    """
    gzipped = raw[:2] == GZIP_MAGIC
    content = raw
    if gzipped:
        content, error = gunzip_head([raw])
        if error is not None and error != GZIP_TRUNCATED:  # a prefix is expected to end early
            raise ValueError(error)
    return parse_uncompressed(content, gzipped, "<file>")


@dataclass(frozen=True)
class HeaderBlock:
    """The uncompressed bytes of a file before its voxels: header, extension flag, extensions.

    ``complete`` is False when the extensions are longer than the limit the reader allowed itself
    (then ``data`` holds only that much).
    """

    header: NiftiHeader
    data: bytes
    complete: bool


def read_header_block(f: BinaryIO, limit: int = HEADER_BLOCK_LIMIT) -> HeaderBlock:
    """Read the header and its extensions (up to ``vox_offset``), never the voxels.

    A ``.nii.gz`` is inflated only that far. Raises ValueError for what is not a usable NIfTI
    header (the cheap check has said so already), OSError when the file cannot be read.
    """
    head = read_up_to(f, HEAD_CHUNK)
    gzipped = head[:2] == GZIP_MAGIC
    pieces = chain([head], read_chunks(f, HEAD_CHUNK))
    stream = gunzip(pieces) if gzipped else pieces
    out = bytearray()
    header: NiftiHeader | None = None
    try:
        for piece in stream:
            out += piece
            if header is None and len(out) >= NIFTI2_SIZE + 4:
                header = parse_uncompressed(bytes(out[: NIFTI2_SIZE + 4]), gzipped, "<file>")
            if header is not None and len(out) >= min(header.vox_offset, limit):
                break
    except GzipError as exc:
        if header is None or len(out) < min(header.vox_offset, limit):
            raise ValueError(exc.args[0]) from None
    finally:
        if gzipped:
            stream.close()  # type: ignore[attr-defined]
    if header is None:
        header = parse_uncompressed(bytes(out), gzipped, "<file>")
    end = min(header.vox_offset, limit, len(out))
    return HeaderBlock(header, bytes(out[:end]), end >= header.vox_offset)
