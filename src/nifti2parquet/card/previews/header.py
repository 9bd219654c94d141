"""What a picture needs from a NIfTI header: the voxels' type and place, their scaling, the affine.

The header's shape, data type and voxel offset come from the checked parse every build already
makes (``sources.nifti.parse_header``); the rest is read here from the same bytes, with the rules
nibabel applies when it loads an image, so that the previews draw what nibabel would show:

- the affine is the sform when ``sform_code`` is set, else the qform (the quaternion, with
  ``pixdim[0]`` as qfac) when ``qform_code`` is set, else nibabel's fallback for a header without
  either: the voxel sizes with the first axis flipped; voxel sizes are taken positive, and 1
  where 0, as nibabel fixes them;
- ``scl_slope`` scales the values unless it is 0 or not finite (then neither it nor
  ``scl_inter`` applies); a non-finite ``scl_inter`` counts as 0.

Why not nibabel itself: importing it costs a build 0.2 s of CPU and 15 MB of memory, for what is
a fixed layout of a few dozen bytes (the tests compare every result with nibabel's).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...common.nifti import parse_header

HEADER_SIZE = {1: 348, 2: 540}
# (scl_slope, scl_inter, qform_code, sform_code, quatern b c d, qoffset x y z, srow x y z): where
# they are in each version's header, and their struct formats
_FIELDS = {
    1: ((112, "2f"), (252, "2h"), (256, "6f"), (280, "12f"), (76, "f")),
    2: ((176, "2d"), (344, "2i"), (352, "6d"), (400, "12d"), (104, "d")),
}
_RGB = {"rgb24": "RGB", "rgba32": "RGBA"}


@dataclass(frozen=True)
class Layout:
    """Where the voxels are and how to read them."""

    shape: tuple[int, ...]
    dtype: Any  # numpy dtype, in the file's byte order
    offset: int  # of the first voxel, in the uncompressed file
    slope: float | None  # None: the values are as stored
    inter: float
    affine: Any  # 4x4 float64


def sizeof_header(start: bytes) -> int:
    """348 or 540, from the first 4 bytes (either byte order)."""
    sizes = {int.from_bytes(start[:4], "little"), int.from_bytes(start[:4], "big")}
    return HEADER_SIZE[2] if HEADER_SIZE[2] in sizes else HEADER_SIZE[1]


def read_layout(raw: bytes) -> Layout:
    """The layout of the header ``raw`` (its first 348 or 540 bytes, uncompressed). Raises
    ValueError for what is not a single-file NIfTI header, or a data type numpy cannot read."""
    header = parse_header(raw)
    order = header.byteorder
    scaling, codes, quatern, srows, qfac = (
        struct.unpack_from(order + fmt, raw, at) for at, fmt in _FIELDS[header.nifti_version]
    )
    slope, inter = (float(v) for v in scaling)
    if not math.isfinite(slope) or slope == 0:
        slope, inter = None, 0.0
    zooms = [_size(z) for z in (*header.voxel_sizes[:3], 1.0, 1.0, 1.0)[:3]]
    if codes[1] != 0:
        affine = np.vstack([np.reshape(srows, (3, 4)), [0.0, 0.0, 0.0, 1.0]])
    elif codes[0] != 0:
        affine = qform_affine(quatern, zooms, float(qfac[0]))
    else:  # nibabel's: the voxel sizes, x flipped, the origin in the middle of the volume
        affine = np.diag([-zooms[0], zooms[1], zooms[2], 1.0])
        middle = (np.array((*header.shape[:3], 1, 1, 1)[:3], dtype=float) - 1) / 2
        affine[:3, 3] = -middle * affine.diagonal()[:3]
    return Layout(
        shape=header.shape,
        dtype=_dtype(header.datatype, order),
        offset=header.vox_offset,
        slope=slope,
        inter=inter if math.isfinite(inter) else 0.0,
        affine=affine.astype(np.float64),
    )


def qform_affine(quatern: tuple[float, ...], zooms: list[float], qfac: float) -> Any:
    """The qform: the rotation of the quaternion (a, b, c, d), a = sqrt(1 - b² - c² - d²) (0 when
    that is negative), times the voxel sizes (the last one by qfac: -1, or else 1), then the
    offsets."""
    b, c, d = quatern[:3]
    a = math.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    norm = a * a + b * b + c * c + d * d
    s = 2.0 / norm if norm > 1e-12 else 0.0
    rotation = np.array(
        [
            [1 - s * (c * c + d * d), s * (b * c - a * d), s * (b * d + a * c)],
            [s * (b * c + a * d), 1 - s * (b * b + d * d), s * (c * d - a * b)],
            [s * (b * d - a * c), s * (c * d + a * b), 1 - s * (b * b + c * c)],
        ]
    )
    scale = np.array(zooms) * np.array([1.0, 1.0, -1.0 if qfac == -1 else 1.0])
    affine = np.eye(4)
    affine[:3, :3] = rotation * scale
    affine[:3, 3] = quatern[3:6]
    return affine


def _size(zoom: float) -> float:
    return abs(zoom) if math.isfinite(zoom) and zoom != 0 else 1.0


def _dtype(name: str, order: str) -> Any:
    if name in _RGB:
        return np.dtype([(channel, "u1") for channel in _RGB[name]])
    try:
        return np.dtype(name).newbyteorder(order)
    except TypeError:  # float128/complex256 where numpy has no such type
        raise ValueError(f"numpy cannot read {name} voxels here") from None


def closest_axes(affine: Any) -> Any:
    """For each voxel axis, the RAS+ axis it runs along (0, 1, 2) and whether it runs the same
    way (1) or the other (-1): nibabel's ``io_orientation``, the voxel axes' closest canonical
    directions. The voxel axes themselves when the affine says nothing usable."""
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    if not np.all(np.isfinite(matrix)):
        return _identity()
    zooms = np.sqrt((matrix**2).sum(axis=0))
    zooms[zooms == 0] = 1
    p, s, qs = np.linalg.svd(matrix / zooms, full_matrices=False)
    keep = s > s.max() * 3 * np.finfo(np.float64).eps
    rotation = p[:, keep] @ qs[keep]  # the closest pure rotation (shears and zooms removed)
    axes = np.full((3, 2), np.nan)
    for voxel_axis in range(3):
        column = rotation[:, voxel_axis]
        if np.allclose(column, 0):
            continue
        world_axis = int(np.argmax(np.abs(column)))
        axes[voxel_axis] = world_axis, -1 if column[world_axis] < 0 else 1
        rotation[world_axis, :] = 0
    if np.any(np.isnan(axes)):
        return _identity()
    return axes


def _identity() -> Any:
    return np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
