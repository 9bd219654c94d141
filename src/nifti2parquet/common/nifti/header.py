"""The fields of a NIfTI-1 or NIfTI-2 header, read and validated from its uncompressed bytes."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import lru_cache

from .diagnosis import DICOM_MESSAGE, is_dicom, not_nifti_message

NIFTI1_SIZE, NIFTI2_SIZE = 348, 540
_MIN_SINGLE_OFFSET = {1: 352, 2: 544}  # header + 4-byte extension flag

# NIfTI datatype code -> (numpy-style name, bits per voxel). Codes 0 (unknown), 1 (binary) and 255
# ("all") exist in the standard but nibabel cannot read them, so they are rejected as unsupported.
_DATATYPES: dict[int, tuple[str, int]] = {
    2: ("uint8", 8),
    4: ("int16", 16),
    8: ("int32", 32),
    16: ("float32", 32),
    32: ("complex64", 64),
    64: ("float64", 64),
    128: ("rgb24", 24),
    256: ("int8", 8),
    512: ("uint16", 16),
    768: ("uint32", 32),
    1024: ("int64", 64),
    1280: ("uint64", 64),
    1536: ("float128", 128),
    1792: ("complex128", 128),
    2048: ("complex256", 256),
    2304: ("rgba32", 32),
}
_UNSUPPORTED_DATATYPES = {0: "unknown", 1: "binary", 255: "all"}

_CONVERT_HINT = (
    "the single-file Nifti feature cannot hold it; convert it with nibabel to .nii.gz "
    "(nibabel.save(nibabel.load('x.hdr'), 'x.nii.gz'))"
)


@dataclass(frozen=True)
class NiftiHeader:
    """The fields of a NIfTI header that matter for storing the file and sizing it."""

    nifti_version: int  # 1 or 2
    gzipped: bool  # content is gzip (by magic bytes, not by name)
    byteorder: str  # "<" or ">"
    shape: tuple[int, ...]  # dim[1:dim[0]+1]
    voxel_sizes: tuple[float, ...]  # pixdim[1:dim[0]+1]
    datatype: str  # numpy dtype name; "rgb24"/"rgba32" for the packed colour types
    bitpix: int
    vox_offset: int
    data_nbytes: int  # prod(shape) * bitpix // 8
    expected_nbytes: int  # uncompressed size implied by the header: vox_offset + data_nbytes


@dataclass(frozen=True)
class _RawFields:
    """Header fields as stored, before validation."""

    version: int
    byteorder: str
    magic: bytes
    dims: tuple[int, ...]  # all 8 dim values
    datatype: int
    bitpix: int
    pixdim: tuple[float, ...]  # all 8 pixdim values
    vox_offset: float
    glmin: int  # NIfTI-1 only: FreeSurfer stores long vector lengths here
    eol_check: bytes  # NIfTI-2 only


def parse_uncompressed(content: bytes, gzipped: bool, name: str) -> NiftiHeader:
    """The header at the start of the uncompressed ``content`` of a file.

    ``gzipped`` records how the file is stored; ``name`` is used in the message for content
    that is not NIfTI. Raises ValueError with a user-facing message for what is not a usable
    single-file NIfTI header.
    """
    order = _byteorder(content)
    if order is None:
        raise ValueError(not_nifti_message(content, name))
    sizeof_hdr = struct.unpack(order + "i", content[:4])[0]
    if len(content) < sizeof_hdr:
        raise ValueError(
            "truncated: the file ends inside the NIfTI header "
            f"({len(content)} of {sizeof_hdr} bytes)"
        )
    read_fields = _fields_v1 if sizeof_hdr == NIFTI1_SIZE else _fields_v2
    fields = read_fields(content, order)
    if is_dicom(content) and fields.magic.rstrip(b"\0") not in (b"n+1", b"n+2"):
        raise ValueError(DICOM_MESSAGE)  # some DICOM preambles start like an Analyze header
    _check_magic(fields)
    return _validated(fields, gzipped)


def _byteorder(content: bytes) -> str | None:
    """Byte order from sizeof_hdr (348 or 540), read little- then big-endian."""
    if len(content) < 4:
        return None
    for order in "<>":
        if struct.unpack(order + "i", content[:4])[0] in (NIFTI1_SIZE, NIFTI2_SIZE):
            return order
    return None


def _fields_v1(content: bytes, order: str) -> _RawFields:
    def unpack(fmt: str, offset: int) -> tuple:
        return struct.unpack_from(order + fmt, content, offset)

    return _RawFields(
        version=1,
        byteorder=order,
        magic=content[344:348],
        dims=unpack("8h", 40),
        datatype=unpack("h", 70)[0],
        bitpix=unpack("h", 72)[0],
        pixdim=unpack("8f", 76),
        vox_offset=unpack("f", 108)[0],
        glmin=unpack("i", 144)[0],
        eol_check=b"",
    )


def _fields_v2(content: bytes, order: str) -> _RawFields:
    def unpack(fmt: str, offset: int) -> tuple:
        return struct.unpack_from(order + fmt, content, offset)

    return _RawFields(
        version=2,
        byteorder=order,
        magic=content[4:8],
        dims=unpack("8q", 16),
        datatype=unpack("h", 12)[0],
        bitpix=unpack("h", 14)[0],
        pixdim=unpack("8d", 104),
        vox_offset=float(unpack("q", 168)[0]),
        glmin=0,
        eol_check=content[8:12],
    )


def _check_magic(fields: _RawFields) -> None:
    """Reject pair headers (.hdr/.img) and Analyze 7.5, which ``Nifti`` cannot hold as one value."""
    magic = fields.magic.rstrip(b"\0")
    if fields.version == 1:
        if magic == b"ni1":
            raise ValueError(
                "NIfTI-1 pair header (.hdr/.img): the voxels are in a separate .img file, and "
                + _CONVERT_HINT
            )
        if magic != b"n+1":
            raise ValueError(
                "Analyze 7.5 header (.hdr/.img pair), not a single-file NIfTI: " + _CONVERT_HINT
            )
        return
    if magic == b"ni2":
        raise ValueError(
            "NIfTI-2 pair header (.hdr/.img): the voxels are in a separate .img file, and "
            + _CONVERT_HINT
        )
    if magic != b"n+2":
        raise ValueError(f"invalid NIfTI header: magic string is {fields.magic!r}, expected 'n+2'")
    if fields.eol_check not in (b"\r\n\x1a\n", b"\0\0\0\0"):
        raise ValueError(
            "invalid NIfTI header: the NIfTI-2 end-of-line check bytes are altered (the file was "
            "probably copied in text mode, which corrupts binary data)"
        )


def _validated(fields: _RawFields, gzipped: bool) -> NiftiHeader:
    """Check the fields as nibabel would when loading, and compute the sizes."""
    ndim = fields.dims[0]
    if not 1 <= ndim <= 7:
        raise ValueError(f"invalid NIfTI header: dim[0] is {ndim}, must be 1 to 7")
    shape = _shape(fields)
    datatype = _datatype_name(fields.datatype, fields.bitpix)
    vox_offset = _vox_offset(fields)
    data_nbytes = math.prod(shape) * fields.bitpix // 8
    return _shared(
        NiftiHeader(
            nifti_version=fields.version,
            gzipped=gzipped,
            byteorder=fields.byteorder,
            shape=shape,
            voxel_sizes=tuple(float(v) for v in fields.pixdim[1 : ndim + 1]),
            datatype=datatype,
            bitpix=fields.bitpix,
            vox_offset=vox_offset,
            data_nbytes=data_nbytes,
            expected_nbytes=vox_offset + data_nbytes,
        )
    )


def _shared(header: NiftiHeader) -> NiftiHeader:
    """One object for equal headers: a source keeps every image's header while it is read, and
    a million images of a study have a few kinds of header (~0.5 KB each otherwise). Headers
    with a zero or NaN voxel size are not shared: 0.0 equals -0.0, NaN equals nothing."""
    if all(v == v and v != 0 for v in header.voxel_sizes):
        return _equal_header(header)
    return header


@lru_cache(maxsize=4096)
def _equal_header(header: NiftiHeader) -> NiftiHeader:
    return header


def _shape(fields: _RawFields) -> tuple[int, ...]:
    shape = tuple(int(d) for d in fields.dims[1 : fields.dims[0] + 1])
    if fields.version == 1:
        shape = _freesurfer_shape(shape, fields.glmin)
    if any(d < 0 for d in shape):
        raise ValueError(f"invalid NIfTI header: negative dimension in shape {shape}")
    return shape


def _freesurfer_shape(shape: tuple[int, ...], glmin: int) -> tuple[int, ...]:
    """FreeSurfer's NIfTI-1 hacks for long surface vectors, which nibabel applies on load."""
    if shape[:3] == (-1, 1, 1):  # vector length too big for int16: stored in glmin
        if glmin <= 0:
            raise ValueError("invalid NIfTI header: dim[1] is -1 (FreeSurfer vector), glmin is 0")
        return (glmin, 1, 1, *shape[3:])
    if shape[:3] == (27307, 1, 6):  # 7th-order icosahedron surface
        return (163842, 1, 1, *shape[3:])
    return shape


def _datatype_name(code: int, bitpix: int) -> str:
    if code in _UNSUPPORTED_DATATYPES:
        raise ValueError(
            f"invalid NIfTI header: datatype code {code} ({_UNSUPPORTED_DATATYPES[code]}) "
            "is not supported by nibabel"
        )
    if code not in _DATATYPES:
        raise ValueError(f"invalid NIfTI header: unknown datatype code {code}")
    name, bits = _DATATYPES[code]
    if bitpix != bits:
        raise ValueError(
            f"invalid NIfTI header: bitpix is {bitpix} but datatype {name} needs {bits}"
        )
    return name


def _vox_offset(fields: _RawFields) -> int:
    minimum = _MIN_SINGLE_OFFSET[fields.version]
    offset = fields.vox_offset
    if not math.isfinite(offset) or offset < minimum:
        # nibabel rejects a low offset, and with 0 it would read the header bytes as voxels.
        raise ValueError(
            f"invalid NIfTI header: vox_offset is {offset:g}, but a single-file "
            f"NIfTI-{fields.version} needs at least {minimum}"
        )
    return int(offset)
