"""The sha256 of a file, streamed: through one reusable block, so memory stays constant; and
many files' sha256, held as 32 bytes each (:class:`Sha256s`).

Every check of a file's bytes (a shard reused, an image compared with its source, a file
downloaded from the Hub or written back by ``export``) hashes it this way.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import pyarrow as pa

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


class Sha256s(Sequence[str]):
    """sha256 digests as 32 bytes each in one ``bytearray``, read as their hex strings.

    A 64-character string is ~113 bytes and a list's slot 8 more: at a million files the files
    config's digests and the shards' records of their files' (kept to the build's end, for the
    manifest and the resume markers) are ~0.1 GB less this way. Equal to any sequence of the
    same hex strings (a record read back from JSON).
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes | bytearray = b"") -> None:
        self._data = data  # kept, not copied: a bytearray given is this one's from now on

    @classmethod
    def from_hex(cls, digests: Iterable[str]) -> Sha256s:
        made = cls()
        made.extend(digests)
        return made

    def extend(self, digests: Iterable[str]) -> None:
        if not isinstance(self._data, bytearray):
            self._data = bytearray(self._data)
        data = self._data
        for digest in digests:
            raw = bytes.fromhex(digest)
            if len(raw) != 32:
                raise ValueError(f"not a sha256: {digest!r}")
            data += raw

    def take(self, indexes: Sequence[int]) -> Sha256s:
        """The digests at ``indexes``, in that order (filled in place: no object per digest)."""
        data, taken = self._data, bytearray(32 * len(indexes))
        for k, i in enumerate(indexes):
            taken[32 * k : 32 * k + 32] = data[32 * i : 32 * i + 32]
        return Sha256s(taken)

    def __len__(self) -> int:
        return len(self._data) // 32

    def arrow(self) -> pa.StringArray:
        """The hex strings as an Arrow string array, from one buffer of them all."""
        import pyarrow as pa

        count = len(self)
        offsets = array("i", range(0, 64 * count + 1, 64))
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(binascii.hexlify(self._data))]
        return pa.Array.from_buffers(pa.string(), count, buffers)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if (start, stop, step) == (0, len(self), 1):
                return self  # all of them (a whole shard's): not a copy
            if step == 1:
                return Sha256s(self._data[32 * start : 32 * max(start, stop)])
            return self.take(range(start, stop, step))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("digest index out of range")
        return self._data[32 * index : 32 * index + 32].hex()

    def __iter__(self) -> Iterator[str]:
        data = self._data
        return (data[i : i + 32].hex() for i in range(0, len(data), 32))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sha256s):
            return self._data == other._data
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Sha256s({list(self)!r})"
