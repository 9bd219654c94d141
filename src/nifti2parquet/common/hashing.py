"""The sha256 of a file, streamed: through one reusable block, so memory stays constant.

Every check of a file's bytes (a shard reused, an image compared with its source, a file
downloaded from the Hub or written back by ``export``) hashes it this way.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from typing import BinaryIO

BLOCK = 8 << 20  # large, sequential reads: few requests to object stores, few system calls


def sha256_and_size(
    f: BinaryIO, progress: Callable[[int], None] | None = None, block: int = BLOCK
) -> tuple[str, int]:
    """(sha256 hex, bytes read) of what is left to read in ``f``."""
    digest = hashlib.sha256()
    size = 0
    if hasattr(f, "readinto"):
        buffer = memoryview(bytearray(_block_for(f, block)))
        while n := f.readinto(buffer):
            digest.update(buffer[:n])
            size += n
            if progress:
                progress(n)
        return digest.hexdigest(), size
    while chunk := f.read(block):
        digest.update(chunk)
        size += len(chunk)
        if progress:
            progress(len(chunk))
    return digest.hexdigest(), size


def _block_for(f: BinaryIO, block: int) -> int:
    """No larger than what is left of a local file: the block is zeroed when made, and 8 MiB
    zeroed for each small sidecar costs more than hashing it."""
    try:
        left = os.fstat(f.fileno()).st_size - f.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return block
    return max(1 << 12, min(block, left + 1))


def sha256_of_file(f: BinaryIO, progress: Callable[[int], None] | None = None) -> str:
    return sha256_and_size(f, progress)[0]


def sha256_of_path(path: str) -> str:
    with open(path, "rb") as f:
        return sha256_of_file(f)
