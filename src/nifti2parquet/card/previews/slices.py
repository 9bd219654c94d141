"""The middle planes of an image's first volume, read in one pass and in bounded memory.

A preview shows, for each voxel axis, the plane through the middle of the volume across it. The
plane across the slowest axis (usually the axial one) is one contiguous run of bytes, but the two
others hold one short run from every row of the volume: whatever reads them reads the whole first
volume. So the file is read once, front to back, a MB at a time (a ``.nii.gz`` is inflated on
the way, through a bounded ``zlib`` stream), and each block of voxel rows gives up only what the
three planes need; the rest of the block is dropped. Nothing past the first volume of a 4D image is
read, no volume is ever held (nibabel's array proxy would read the whole span of a strided slice
into memory at once: 195 MB of peak for a 130 MB volume), and no value becomes float64.

Memory is the three planes, as stored (int16 stays int16), plus one block: an axis longer than
``MAX_SAMPLES`` voxels is sampled with a stride while reading (a picture has far fewer pixels),
so even a 2000³ volume costs a few MB. The planes are converted to float32 (scaled by the header's
slope and intercept; complex values by their magnitude, RGB by the mean of the channels) only at
the end.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from ...common.nifti import GZIP_MAGIC, inflate
from ...common.storage import Storage
from .header import Layout, read_layout, sizeof_header

BLOCK = 1 << 20  # bytes of voxel rows handled at once
READ = 1 << 20  # bytes read from the file at once (a remote file reads ahead on its own)
MAX_SAMPLES = 512  # most samples kept along one axis: a view is at most ~1000 px wide


@dataclass(frozen=True)
class Planes:
    """A plane across each voxel axis of an image's first volume, through one voxel (``cut``:
    the middle of the volume, unless asked otherwise).

    ``across[a]`` is the plane across voxel axis ``a``, indexed by the two other
    axes in order (across i: ``[j, k]``; across j: ``[i, k]``; across k: ``[i, j]``), as float32.
    ``spacing`` is the distance in mm between two samples along i, j and k (the voxel size, times
    the stride when an axis was sampled).
    """

    across: tuple[Any, Any, Any]
    spacing: tuple[float, float, float]
    affine: Any  # 4x4, the header's best affine (sform, else qform)
    shape: tuple[int, ...]  # the image's whole shape, every dimension
    voxel_sizes: tuple[float, float, float]  # mm, from the affine
    dtype: str  # as stored
    integral: bool  # every value shown is an integer (a label or mask may be one)
    cut: tuple[int, int, int] = (0, 0, 0)  # the voxel the three planes go through


def read_planes(url: str, storage: Storage, at: tuple[int, int, int] | None = None) -> Planes:
    """The three planes through the middle of the image at ``url`` (local or remote, ``.nii`` or
    ``.nii.gz``), or through the voxel ``at``.

    Raises ValueError for what cannot be drawn (not 3D, truncated), OSError when unreadable."""
    with _voxels(url, storage) as (stream, layout, volume):
        return _planes(stream, layout, at or tuple(n // 2 for n in volume))  # type: ignore[arg-type]


def most_labelled(url: str, storage: Storage) -> tuple[int, int, int] | None:
    """For each voxel axis, the slice across it that holds the most non-zero voxels of the
    image's first volume (the planes that show most of a label image), or None when every voxel
    is 0. One more pass over the file, in the same bounded memory."""
    with _voxels(url, storage) as (stream, layout, volume):
        counts = [np.zeros(n, np.int64) for n in volume]
        for rows, j, k in _row_blocks(stream, volume, layout.dtype):
            nonzero = _nonzero(rows)
            per_row = nonzero.sum(axis=1)
            counts[0] += nonzero.sum(axis=0)
            np.add.at(counts[1], j, per_row)
            np.add.at(counts[2], k, per_row)
    if not counts[0].any():
        return None
    return tuple(int(np.argmax(c)) for c in counts)  # type: ignore[return-value]


@contextlib.contextmanager
def _voxels(url: str, storage: Storage) -> Iterator[tuple[_Stream, Layout, tuple[int, int, int]]]:
    """The image's stream at its first voxel, its layout and the volume drawn from it."""
    with storage.open(url, block_size=READ) as f:
        stream = _Stream(f)
        try:
            layout = _header(stream)
            volume = _volume(layout.shape)
            stream.skip(layout.offset - stream.position)
            yield stream, layout, volume
        finally:
            stream.close()


def _nonzero(rows: Any) -> Any:
    if rows.dtype.names:
        return np.any([rows[n] != 0 for n in rows.dtype.names], axis=0)
    return (rows != 0) & ~np.isnan(rows) if rows.dtype.kind in "fc" else rows != 0


def _chained(f: BinaryIO) -> Iterator[bytearray]:
    """The file's bytes, READ at a time: a whole piece is the thread's reading buffer itself,
    filled again for the next (the stream and the inflate finish a piece before they ask for
    the next), a shorter one (the end of the file) a copy."""
    buffer = _scratch("read", READ)
    while n := f.readinto(buffer):
        yield buffer if n == len(buffer) else buffer[:n]


class _Stream:
    """The uncompressed bytes of a file, front to back (a ``.nii.gz`` inflated on the way, in
    pieces of at most 1 MB), copied once, straight into the caller's buffer."""

    def __init__(self, f: BinaryIO) -> None:
        chunks = _chained(f)
        first = next(chunks, bytearray())
        chunks = itertools.chain([first], chunks)
        self._pieces = inflate(chunks, fast=True) if first[:2] == GZIP_MAGIC else chunks
        self._piece = memoryview(b"")
        self.position = 0  # bytes read so far

    def readinto(self, out: memoryview) -> int:
        """Fill ``out``; fewer bytes only at the end of the file."""
        filled = 0
        while filled < len(out):
            if not self._piece:
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._piece = memoryview(piece)
            n = min(len(self._piece), len(out) - filled)
            out[filled : filled + n] = self._piece[:n]
            self._piece = self._piece[n:]
            filled += n
        self.position += filled
        return filled

    def take(self, n: int) -> bytes:
        buffer = bytearray(n)
        return bytes(buffer[: self.readinto(memoryview(buffer))])

    def skip(self, n: int) -> None:
        while n > 0 and (done := len(self.take(min(n, BLOCK)))):
            n -= done

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close:
            close()


def _header(stream: _Stream) -> Layout:
    start = stream.take(4)
    raw = start + stream.take(sizeof_header(start) - 4)
    return read_layout(raw)


def _volume(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) < 3:
        raise ValueError(f"a {len(shape)}D image has no 3D slices")
    if min(shape[:3]) < 1:
        raise ValueError(f"an empty image (shape {shape})")
    return shape[:3]  # type: ignore[return-value]


def _planes(stream: _Stream, layout: Layout, at: tuple[int, int, int]) -> Planes:
    shape, volume = layout.shape, _volume(layout.shape)
    at = tuple(min(max(0, a), n - 1) for a, n in zip(at, volume))  # type: ignore[assignment]
    strides = tuple(max(1, math.ceil(n / MAX_SAMPLES)) for n in volume)
    raw = _collect(stream, volume, layout.dtype, strides, at)
    across = tuple(_as_float(p, layout.slope, layout.inter) for p in raw)
    sizes = _voxel_sizes(layout.affine)
    return Planes(
        across=across,  # type: ignore[arg-type]
        spacing=tuple(s * k for s, k in zip(sizes, strides)),  # type: ignore[arg-type]
        affine=layout.affine,
        shape=shape,
        voxel_sizes=sizes,
        dtype=str(layout.dtype) if not layout.dtype.names else "rgb",
        integral=_integral(layout.dtype, across),
        cut=at,
    )


def _row_blocks(
    stream: _Stream, volume: tuple[int, int, int], dtype: Any
) -> Iterator[tuple[Any, Any, Any]]:
    """The voxel rows (runs along i) of the first volume, in file order, a block at a time:
    ``(rows, j, k)``, ``rows[r]`` being the row at ``j[r], k[r]`` (a view of a reused buffer)."""
    nx, ny, nz = volume
    row_bytes = nx * dtype.itemsize
    per_block = max(1, BLOCK // row_bytes)
    total = ny * nz
    buffer = memoryview(_scratch("block", per_block * row_bytes))
    for first in range(0, total, per_block):
        count = min(per_block, total - first)
        if stream.readinto(buffer[: count * row_bytes]) < count * row_bytes:
            raise ValueError("the file ends before its first volume does")
        rows = np.frombuffer(buffer, dtype, count * nx).reshape(count, nx)
        r = np.arange(first, first + count)
        yield rows, r % ny, r // ny
        time.sleep(0)  # hand the GIL to the build's copying and hashing threads, if they wait


def _slab_blocks(
    stream: _Stream, volume: tuple[int, int, int], dtype: Any
) -> Iterator[tuple[int, Any]]:
    """The slabs (planes across k, ``[k][j, i]``) of the first volume, whole ones a block at a
    time: ``(first k, slabs)`` (a view of a reused buffer). For slabs of at most ``BLOCK``."""
    nx, ny, nz = volume
    slab = nx * ny * dtype.itemsize
    per_block = max(1, BLOCK // slab)
    buffer = memoryview(_scratch("block", per_block * slab))
    for first in range(0, nz, per_block):
        count = min(per_block, nz - first)
        if stream.readinto(buffer[: count * slab]) < count * slab:
            raise ValueError("the file ends before its first volume does")
        yield first, np.frombuffer(buffer, dtype, count * nx * ny).reshape(count, ny, nx)
        time.sleep(0)  # hand the GIL to the build's copying and hashing threads, if they wait


_SCRATCH = threading.local()


def _scratch(use: str, n: int) -> bytearray:
    """The calling thread's buffer for ``use`` (reading the file, or blocks of voxels), of at
    least ``n`` bytes, reused from piece to piece and image to image (its contents are the
    last one's). A fresh buffer of a MB is mapped anew by the allocator and every page of it
    faults when first written: reading the previews' images into fresh buffers cost 5,000 to
    16,000 page faults (arc, sessions), 10-25 ms of system time, up to a fifth of the
    drawing's CPU. Freed with the thread."""
    buffers = _SCRATCH.__dict__
    if len(buffers.get(use, b"")) < n:
        buffers[use] = bytearray(n)
    return buffers[use]


def _collect(
    stream: _Stream,
    volume: tuple[int, int, int],
    dtype: Any,
    strides: tuple[int, ...],
    at: tuple[int, int, int],
) -> tuple[Any, Any, Any]:
    """The planes across i, j and k through ``at``, in one pass (axes sampled by ``strides``):
    sliced out of whole slabs when a slab fits in a block (most images), else picked out of
    blocks of voxel rows."""
    nx, ny, nz = volume
    sx, sy, sz = strides
    ci, cj, ck = at
    across_i = np.zeros((-(-ny // sy), -(-nz // sz)), dtype)  # [j, k]
    across_j = np.zeros((-(-nx // sx), -(-nz // sz)), dtype)  # [i, k]
    across_k = np.zeros((-(-nx // sx), -(-ny // sy)), dtype)  # [i, j]
    if nx * ny * dtype.itemsize > BLOCK:
        for rows, j, k in _row_blocks(stream, volume, dtype):
            keep = (j % sy == 0) & (k % sz == 0)
            across_i[j[keep] // sy, k[keep] // sz] = rows[keep, ci]
            keep = (j == cj) & (k % sz == 0)
            across_j[:, k[keep] // sz] = rows[keep, ::sx].T
            keep = (k == ck) & (j % sy == 0)
            across_k[:, j[keep] // sy] = rows[keep, ::sx].T
        return across_i, across_j, across_k
    for first, slabs in _slab_blocks(stream, volume, dtype):
        sampled = slabs[(-first) % sz :: sz]  # the slabs whose k is a multiple of sz
        column = -(-first // sz)  # the first of them, as a column of the planes across i and j
        across_i[:, column : column + len(sampled)] = sampled[:, ::sy, ci].T
        across_j[:, column : column + len(sampled)] = sampled[:, cj, ::sx].T
        if first <= ck < first + len(slabs):
            across_k[:, :] = slabs[ck - first, ::sy, ::sx].T
    return across_i, across_j, across_k


def _as_float(plane: Any, slope: float | None, inter: float) -> Any:
    if plane.dtype.names:  # RGB(A): the mean of the colour channels, never scaled
        return np.mean([plane[n].astype(np.float32) for n in plane.dtype.names[:3]], axis=0)
    if np.iscomplexobj(plane):
        plane = np.abs(plane)
    values = plane.astype(np.float32)
    if slope is not None and slope != 1:
        values *= np.float32(slope)
    if slope is not None and inter != 0:
        values += np.float32(inter)
    return values


def _voxel_sizes(affine: Any) -> tuple[float, float, float]:
    """mm per voxel along i, j, k: the lengths of the affine's columns (1 where degenerate)."""
    sizes = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    return tuple(float(s) if np.isfinite(s) and s > 0 else 1.0 for s in sizes)  # type: ignore[return-value]


def _integral(dtype: Any, across: tuple) -> bool:
    """Whether the values shown are all whole numbers (stored as integers and not scaled to
    fractions, or stored as floats that happen to be whole, as many masks are)."""
    if dtype.names or dtype.kind == "c":
        return False
    return all(bool(np.all(np.mod(p[np.isfinite(p)], 1) == 0)) for p in across)
