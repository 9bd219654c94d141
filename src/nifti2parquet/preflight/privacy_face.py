"""Whether an anatomical image shows a face: what its voxels say, read at low resolution.

A face can be rebuilt from a structural scan; defacing tools (pydeface, mri_deface, quickshear)
set the face region to zero and leave the rest of the head as it is. So, in RAS+ orientation
(the voxel axes paired with the world axes they run closest to, from the header's sform or
qform, as nibabel's ``io_orientation`` does), with the head found by its intensity:

* the *face region* is the anterior quarter of the head's front-to-back extent, between 15% and
  45% of its bottom-to-top extent, across the middle half left to right;
* the *reference* is the posterior third of the head at the same heights (the back of the head,
  cerebellum and neck), which a defacing tool leaves alone.

Tissue in the face region: **not defaced**. No tissue there and the region zeroed, while the
reference holds tissue: **defaced**. Anything else (no head found, an image too small, a face
region empty but not zeroed, a field of view cut above the face): **cannot tell**, with the reason.

Reading is bounded: the first volume is streamed once from the start, one slice of its slowest
axis at a time, keeping every few slices and every few voxels (at most ~64 samples per axis), so
memory holds one slice and the small sampled volume whatever the image's size; a volume over
1 GiB is not read. For a ``.nii.gz`` the bytes up to the last slice kept are inflated (gzip
cannot seek). The header is parsed as the rest of the package parses it, without importing
nibabel (a third of a second per build).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import chain
from typing import Literal

import numpy as np

from ..common.batched import map_batched
from ..common.nifti import GZIP_MAGIC, inflate, parse_header
from ..common.storage import READ_BLOCK, Storage, is_remote

Verdict = Literal["defaced", "not defaced", "cannot tell"]
SAMPLES = 64  # samples per axis, at most
MIN_SIZE = 16  # voxels per spatial axis below which a head cannot be told from noise
MAX_VOLUME = 1 << 30  # bytes of a first volume beyond which it is not read (bounded time)
INCOMPRESSIBLE = 0.9  # a .nii.gz at least this size of its voxels holds noise, not a head
_CHUNK = 1 << 20
_HEAD = 16 << 10
_FACE_Y, _FACE_Z, _BACK_Y, _MIDDLE_X = 0.8, (0.15, 0.45), 0.35, (0.3, 0.7)


@dataclass(frozen=True)
class FaceCheck:
    verdict: Verdict
    why: str


def face_checks(
    images: Sequence[tuple[str, int]],
    storage: Storage,
    threads: int,
    voxels: bool,
    pool: Executor | None = None,
) -> list[FaceCheck]:
    """The checks of a chunk of images, given as (url, size) (module level: the helper process
    runs it); ``voxels`` False: none read."""

    def one(image: tuple[str, int]) -> FaceCheck:
        url, size = image
        if not voxels:
            return FaceCheck("cannot tell", "the images were not read")
        if is_remote(url):  # a check would download every anatomical image once more
            return FaceCheck("cannot tell", "a remote image's voxels are not fetched for this")
        return check_face(url, storage, size)

    shared: dict[FaceCheck, FaceCheck] = {}  # equal checks sent back as one object
    checks = map_batched(one, images, threads, "n2p-face", pool)
    return [shared.setdefault(check, check) for check in checks]


def check_face(url: str, storage: Storage, size: int | None = None) -> FaceCheck:
    """What the voxels of the image at ``url`` (``size`` bytes on disk, when known) say about
    its face."""
    try:
        volume = _sampled_ras(url, storage, size)
    except (OSError, ValueError, EOFError) as exc:
        return FaceCheck("cannot tell", f"the image cannot be read ({exc})")
    if isinstance(volume, str):
        return FaceCheck("cannot tell", volume)
    return judge(volume)


def judge(volume: np.ndarray) -> FaceCheck:
    """The verdict on a sampled volume in RAS+ order (x: right, y: anterior, z: superior)."""
    finite = volume[np.isfinite(volume)]
    if finite.size == 0:
        return FaceCheck("cannot tell", "the image holds no finite value")
    sample = finite[:: max(1, finite.size // 8192)]  # the 99th percentile of ~8k voxels
    low, high = float(finite.min()), float(np.percentile(sample, 99))
    if high <= low:
        return FaceCheck("cannot tell", "the image is uniform")
    tissue = volume > low + 0.15 * (high - low)
    share = tissue.mean()
    if not 0.02 <= share <= 0.7:
        return FaceCheck("cannot tell", "no head found (no clear head against a background)")
    (xa, xb), (ya, yb), (za, zb) = (_extent(tissue, axis) for axis in range(3))
    x = slice(_at(xa, xb, _MIDDLE_X[0]), _at(xa, xb, _MIDDLE_X[1]) + 1)
    z = slice(_at(za, zb, _FACE_Z[0]), _at(za, zb, _FACE_Z[1]) + 1)
    face = (x, slice(_at(ya, yb, _FACE_Y), yb + 1), z)
    back = (x, slice(ya, _at(ya, yb, _BACK_Y) + 1), z)
    in_face, in_back = tissue[face].mean(), tissue[back].mean()
    if in_back < 0.2:
        return FaceCheck("cannot tell", "no tissue at the back of the head to compare with")
    if in_face >= 0.08:
        return FaceCheck("not defaced", f"the face region holds tissue ({in_face:.0%} of it)")
    zeroed = (volume[face] <= low).mean()
    if zeroed >= 0.5:
        return FaceCheck(
            "defaced", "the face region is empty (zeroed) where the back of the head is not"
        )
    return FaceCheck(
        "cannot tell", "the face region holds no tissue but is not zeroed (cut above the face?)"
    )


def _extent(tissue: np.ndarray, axis: int) -> tuple[int, int]:
    """The head's extent along ``axis``: where at least 1% of its sampled voxels lie."""
    others = tuple(a for a in range(3) if a != axis)
    profile = tissue.sum(axis=others)
    where = np.nonzero(profile >= max(1, 0.01 * profile.max()))[0]
    return int(where[0]), int(where[-1])


def _at(start: int, stop: int, fraction: float) -> int:
    return start + round(fraction * (stop - start))


def _sampled_ras(url: str, storage: Storage, size: int | None) -> np.ndarray | str:
    """The first volume, sampled, in RAS+ order; or why it cannot be."""
    with storage.open(url, READ_BLOCK) as f:
        first = f.read(_HEAD)  # small: the header decides whether the voxels are read at all
        chunks = chain([first], iter(lambda: f.read(_CHUNK), b""))
        gzipped = first[:2] == GZIP_MAGIC
        pieces = inflate(chunks) if gzipped else chunks
        try:
            return _read_volume(_Bytes(pieces), size if gzipped else None)
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()


class _Bytes:
    """An uncompressed stream read front to back: take some bytes, or skip them."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces, self.buffer = pieces, bytearray()

    def take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            piece = next(self.pieces, None)
            if piece is None:
                raise EOFError("the file ends inside the image")
            self.buffer += piece
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def skip(self, n: int) -> None:
        while len(self.buffer) < n:
            n -= len(self.buffer)
            self.buffer = bytearray(next(self.pieces, b"") or b"")
            if not self.buffer:
                raise EOFError("the file ends inside the image")
        del self.buffer[:n]


def _read_volume(stream: _Bytes, compressed: int | None = None) -> np.ndarray | str:
    """Sample the first volume, one slice of the slowest spatial axis at a time (every few
    slices, every few voxels), then turn it to RAS+.

    ``compressed``: the size of a ``.nii.gz``. A head against a background compresses well (the
    background is most of the field of view); integer voxels that do not compress at all are
    noise, and are not read (it would cost inflating the whole file to learn nothing)."""
    head = stream.take(348)
    if head[:4] not in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c"):  # NIfTI-2: 540 bytes
        head += stream.take(4)
    else:
        head += stream.take(544 - 348)
    header = parse_header(head)
    shape = header.shape
    if len(shape) < 3 or min(shape[:3]) < MIN_SIZE:
        return f"image too small to show a head ({'x'.join(map(str, shape))} voxels)"
    try:
        dtype = np.dtype(header.datatype).newbyteorder(header.byteorder)
    except TypeError:
        return f"voxels of type {header.datatype} are not read"
    if dtype.kind == "c":
        return "complex voxels are not read"
    nx, ny, nz = shape[:3]
    raw = math.prod(shape) * dtype.itemsize
    if nx * ny * nz * dtype.itemsize > MAX_VOLUME:
        return f"the volume is over {MAX_VOLUME >> 20} MiB: not read"
    if compressed and dtype.kind in "iu" and compressed > INCOMPRESSIBLE * raw:
        return "no head found (its voxels do not compress, as a head against a background does)"
    stream.skip(header.vox_offset - len(head))
    sx, sy, sz = (max(1, math.ceil(n / SAMPLES)) for n in (nx, ny, nz))
    plane = nx * ny * dtype.itemsize
    volume = np.empty((len(range(0, nx, sx)), len(range(0, ny, sy)), len(range(0, nz, sz))))
    for k in range(volume.shape[2] * sz - sz + 1):
        if k % sz:
            stream.skip(plane)
            continue
        voxels = np.frombuffer(stream.take(plane), dtype).reshape(ny, nx)
        volume[:, :, k // sz] = voxels[::sy, ::sx].T
    return to_ras(volume, voxel_axes(head, header.nifti_version, header.byteorder))


def to_ras(volume: np.ndarray, axes: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Reorder and flip a volume so that its axes run right, anterior, superior.

    ``axes[j]`` is (world axis, sign) of voxel axis ``j``."""
    order = [j for _, j in sorted((world, j) for j, (world, _) in enumerate(axes))]
    out = volume.transpose(order)
    for world in range(3):
        if axes[order[world]][1] < 0:
            out = np.flip(out, axis=world)
    return out


def voxel_axes(head: bytes, version: int, order: str) -> tuple[tuple[int, int], ...]:
    """For each voxel axis, the world (RAS) axis it runs closest to and its direction, from the
    header's sform (when set), else its qform, else Analyze's default (x flipped): what nibabel's
    ``io_orientation(get_best_affine())`` says, written out so that a scan does not import
    nibabel (a third of a second per build); a test checks them against nibabel."""
    fields = _AFFINE_FIELDS[version]
    code = struct.unpack_from(order + fields["codes"], head, fields["at"])
    qform_code, sform_code = code[0], code[1]
    if sform_code > 0:
        rows = struct.unpack_from(order + fields["srow"], head, fields["srow_at"])
        matrix = np.array(rows, dtype=float).reshape(3, 4)[:, :3]
    elif qform_code > 0:
        b, c, d = struct.unpack_from(order + fields["quatern"], head, fields["quatern_at"])
        qfac = struct.unpack_from(order + fields["pixdim"], head, fields["pixdim_at"])[0]
        matrix = _quaternion_matrix(b, c, d) @ np.diag([1.0, 1.0, -1.0 if qfac < 0 else 1.0])
    else:
        matrix = np.diag([-1.0, 1.0, 1.0])
    return _closest_axes(matrix)


_AFFINE_FIELDS = {
    1: {
        "codes": "2h", "at": 252, "quatern": "3f", "quatern_at": 256, "pixdim": "f",
        "pixdim_at": 76, "srow": "12f", "srow_at": 280,
    },
    2: {
        "codes": "2i", "at": 344, "quatern": "3d", "quatern_at": 352, "pixdim": "d",
        "pixdim_at": 104, "srow": "12d", "srow_at": 400,
    },
}  # fmt: skip


def _quaternion_matrix(b: float, c: float, d: float) -> np.ndarray:
    """The rotation of the NIfTI quaternion (b, c, d; a from the unit norm)."""
    a = math.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    )


def _closest_axes(matrix: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Pair voxel axes with world axes, the strongest pairing first (as ``io_orientation``)."""
    size = np.abs(matrix / np.maximum(np.linalg.norm(matrix, axis=0), 1e-12))
    axes: dict[int, tuple[int, int]] = {}
    for _ in range(3):
        world, voxel = np.unravel_index(int(np.argmax(size)), size.shape)
        axes[int(voxel)] = (int(world), 1 if matrix[world, voxel] >= 0 else -1)
        size[world, :] = -1
        size[:, voxel] = -1
    return tuple(axes[j] for j in range(3))
