"""Inspect one NIfTI file from its bytes, without loading the voxels.

Two levels of checking:

* :func:`check_image` is the cheap check that runs on every input before anything is written. It
  reads a few KB per file: the start of the file (for gzip, just enough of the stream to get the
  header) and, for gzip, the 8-byte trailer. Only when the trailer disagrees with the header does it
  stream through the whole file (constant memory) to find out why.
* :func:`deep_check` decodes the whole content exactly as ``datasets``' ``Nifti`` feature does
  (gunzip by magic bytes, ``Nifti1Image.from_bytes``, then the voxels). It is the check that
  catches corruption inside a gzip stream whose trailer is intact (a flipped byte in the middle).

Every problem is a :class:`~nifti2parquet.common.errors.Problem` with one plain-language message.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO

from nifti2parquet.common.errors import Problem, cannot_read

MAX_VALUE_BYTES: int = 2_147_483_646  # largest value Arrow/Parquet binary can hold
IMAGE_SUFFIXES = (".nii", ".nii.gz")  # matched case-insensitively

GZIP_MAGIC = b"\x1f\x8b"

_HEAD_CHUNK = 16 * 1024  # first read of every file
_HEAD_BUDGET = 64 * 1024  # most compressed bytes read to reach the header of a gzip file
_HEAD_TARGET = 4096  # uncompressed bytes wanted: the header (<= 544) plus a sample to classify text
_STREAM_CHUNK = 1024 * 1024  # read size when streaming a whole gzip file
_OUT_CHUNK = 1024 * 1024  # most uncompressed bytes produced per zlib call (bounds memory on bombs)

_NIFTI1_SIZE, _NIFTI2_SIZE = 348, 540
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

EMPTY_MESSAGE = "empty file (0 bytes)"
GZIP_TRUNCATED = "truncated gzip: the compressed stream ends early"
GZIP_BAD_CRC = "corrupt gzip: CRC check failed"
GZIP_BAD_LENGTH = (
    "corrupt gzip: length check failed (the gzip trailer's size does not match the data)"
)
GZIP_TRAILING = "corrupt gzip: unexpected non-gzip data after the end of the compressed stream"
NIFTI2_WARNING = (
    "NIfTI-2 file: stored as-is, but datasets' Nifti feature cannot decode NIfTI-2 from bytes "
    "(it calls Nifti1Image.from_bytes); decode it with nibabel.Nifti2Image.from_bytes"
)
DICOM_MESSAGE = "not a NIfTI file (looks like DICOM; convert it to NIfTI first, e.g. with dcm2niix)"
_CONVERT_HINT = (
    "the single-file Nifti feature cannot hold it; convert it with nibabel to .nii.gz "
    "(nibabel.save(nibabel.load('x.hdr'), 'x.nii.gz'))"
)


# --------------------------------------------------------------------------------------------------
# Public types


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
class ImageCheck:
    """The result of checking one file: errors make it unusable, warnings are stored-but-noted."""

    header: NiftiHeader | None  # None when the header could not be read
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


# --------------------------------------------------------------------------------------------------
# Names


def _suffix(name: str) -> str | None:
    lower = name.lower()
    for ext in (".nii.gz", ".nii"):  # longest first
        if lower.endswith(ext):
            return name[len(name) - len(ext) :]
    return None


def _basename(name: str) -> str:
    return re.split(r"[/\\]", name)[-1]


def is_nifti_name(name: str) -> bool:
    """True for ``x.nii``, ``x.nii.gz``, ``X.NII.GZ``; not ``.hdr``, ``.img``, ``x.nii.gz.json``."""
    base = _basename(name)
    ext = _suffix(base)
    return ext is not None and len(base) > len(ext)


def nifti_stem_and_ext(name: str) -> tuple[str, str]:
    """Split the file name (last path component) into stem and NIfTI suffix, case preserved.

    ``"sub-01/anat/sub-01_T1w.nii.gz"`` -> ``("sub-01_T1w", ".nii.gz")``. Raises ValueError for a
    name that :func:`is_nifti_name` rejects.
    """
    base = _basename(name)
    ext = _suffix(base)
    if ext is None or len(base) == len(ext):
        raise ValueError(f"not a NIfTI file name (expected .nii or .nii.gz): {name!r}")
    return base[: -len(ext)], ext


# --------------------------------------------------------------------------------------------------
# Header parsing


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


def parse_header(raw: bytes) -> NiftiHeader:
    """Parse the header at the start of a NIfTI file.

    ``raw`` is the start of the file: at least the first 540 uncompressed bytes (348 are enough for
    NIfTI-1). If it starts with the gzip magic it is decompressed as far as it goes. Raises
    ValueError with a user-facing message when the bytes are not a usable single-file NIfTI header.
    """
    gzipped = raw[:2] == GZIP_MAGIC
    content = raw
    if gzipped:
        content, error = _gunzip_head([raw])
        if error is not None and error != GZIP_TRUNCATED:  # a prefix is expected to end early
            raise ValueError(error)
    return _parse(content, gzipped, "<file>")


def _parse(content: bytes, gzipped: bool, name: str) -> NiftiHeader:
    order = _byteorder(content)
    if order is None:
        raise ValueError(_not_nifti_message(content, name))
    sizeof_hdr = struct.unpack(order + "i", content[:4])[0]
    if len(content) < sizeof_hdr:
        raise ValueError(
            "truncated: the file ends inside the NIfTI header "
            f"({len(content)} of {sizeof_hdr} bytes)"
        )
    read_fields = _fields_v1 if sizeof_hdr == _NIFTI1_SIZE else _fields_v2
    fields = read_fields(content, order)
    if _is_dicom(content) and fields.magic.rstrip(b"\0") not in (b"n+1", b"n+2"):
        raise ValueError(DICOM_MESSAGE)  # some DICOM preambles start like an Analyze header
    _check_magic(fields)
    return _validated(fields, gzipped)


def _byteorder(content: bytes) -> str | None:
    """Byte order from sizeof_hdr (348 or 540), read little- then big-endian."""
    if len(content) < 4:
        return None
    for order in "<>":
        if struct.unpack(order + "i", content[:4])[0] in (_NIFTI1_SIZE, _NIFTI2_SIZE):
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
    return NiftiHeader(
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


# --------------------------------------------------------------------------------------------------
# What a file is when it is not NIfTI

_LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_ANNEX_KEY = re.compile(rb"annex/objects/|\b[A-Z][A-Z0-9]*-s\d+(?:-[a-zA-Z]\d+)*--")
_POINTER_MAX = 1024  # LFS and annex pointers are tiny


def _not_nifti_message(content: bytes, name: str) -> str:
    """One message saying what the (non-NIfTI) content is, and what to do about it."""
    if _looks_like_text(content):
        return _text_message(content, name)
    if _is_dicom(content):
        return DICOM_MESSAGE
    if len(content) < 4:
        return f"not a NIfTI file (only {len(content)} bytes, too short for a NIfTI header)"
    sizeof_hdr = struct.unpack("<i", content[:4])[0]
    return (
        f"not a NIfTI file (no NIfTI-1/NIfTI-2 header: sizeof_hdr is {sizeof_hdr}, "
        "expected 348 or 540)"
    )


def _is_dicom(content: bytes) -> bool:
    return content[128:132] == b"DICM"


_CONTROL = bytes(c for c in range(32) if chr(c) not in "\t\n\r\f\b\x1b") + b"\x7f"


def _looks_like_text(content: bytes) -> bool:
    sample = content[:1024]
    if not sample or b"\0" in sample:
        return False
    if len(sample) - len(sample.translate(None, _CONTROL)) > len(sample) // 100:
        return False  # valid UTF-8, but too many control characters for text
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3  # only a multi-byte character cut by the sample
    return True


def _text_message(content: bytes, name: str) -> str:
    text = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    small = len(content) <= _POINTER_MAX
    if small and text.startswith(_LFS_PREFIX):
        size = re.search(rb"^size (\d+)", text, re.MULTILINE)
        what = f" of a {int(size.group(1))}-byte file" if size else ""
        return (
            f"Git LFS pointer{what}, not the image: the content was never downloaded; "
            "run `git lfs pull`, then try again"
        )
    if small and _ANNEX_KEY.search(text):
        return (
            "git-annex pointer, not the image: the content was not fetched; "
            f"run `datalad get {name}` (or `git annex get`), then try again"
        )
    return f"not a NIfTI file (looks like {_text_kind(text)})"


def _text_kind(text: bytes) -> str:
    lower = text[:1024].lower()
    if lower.startswith((b"<!doctype html", b"<html")) or b"<html" in lower:
        return "HTML, e.g. an error or login page saved under this name"
    if lower.startswith(b"<?xml"):
        return "XML"
    if lower.startswith((b"{", b"[")):
        return "JSON"
    first_line = text.split(b"\n", 1)[0][:60].decode("utf-8", "replace").strip()
    return f"text: {first_line!r}"


# --------------------------------------------------------------------------------------------------
# Gzip, streamed in constant memory


class _GzipError(Exception):
    """The stream is not what gzip.decompress (used by datasets) accepts; args[0] says why."""


class _BudgetSpent(Exception):
    """The cheap check read as much of a gzip file as it allows itself."""


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the uncompressed pieces of a (possibly multi-member) gzip stream.

    Accepts exactly what ``gzip.decompress`` accepts: members back to back, zero padding between
    or after them. Raises _GzipError at the end of input if the last member is incomplete. Each
    piece is at most _OUT_CHUNK bytes, so a highly compressed file never blows up memory.
    """
    d: zlib._Decompress | None = None
    members = 0
    for chunk in chunks:
        buf = chunk
        while buf:
            if d is None:
                buf = buf.lstrip(b"\0")
                if not buf:
                    break
                d = zlib.decompressobj(wbits=31)
            yield _inflate(d, buf, after_member=members > 0)
            if d.eof:
                buf, d, members = d.unused_data, None, members + 1
            else:
                buf = d.unconsumed_tail
    if d is not None:
        yield _flush(d)
        if not d.eof:
            raise _GzipError(GZIP_TRUNCATED)


def _inflate(d: zlib._Decompress, buf: bytes, after_member: bool) -> bytes:
    try:
        return d.decompress(buf, _OUT_CHUNK)
    except zlib.error as exc:
        if after_member and "header check" in str(exc):
            raise _GzipError(GZIP_TRAILING) from exc
        raise _GzipError(_zlib_message(exc)) from exc


def _flush(d: zlib._Decompress) -> bytes:
    """At the end of the input: what zlib still holds (small: all input is consumed)."""
    try:
        return d.flush()
    except zlib.error as exc:
        raise _GzipError(_zlib_message(exc)) from exc


def _zlib_message(exc: zlib.error) -> str:
    text = str(exc)
    if "incorrect data check" in text:
        return GZIP_BAD_CRC
    if "incorrect length check" in text:
        return GZIP_BAD_LENGTH
    reason = text.split(": ", 1)[-1]  # drop "Error -3 while decompressing data"
    return f"corrupt gzip: invalid compressed data ({reason})"


def _gzip_exception_message(exc: Exception) -> str:
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


def inflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The uncompressed pieces of a gzip stream (every member, bounded); ValueError says why a
    stream is not valid gzip."""
    try:
        yield from _gunzip(chunks)
    except _GzipError as exc:
        raise ValueError(exc.args[0]) from None


def _gunzip_head(chunks: Iterable[bytes]) -> tuple[bytes, str | None]:
    """Decompress just enough to read the header: up to _HEAD_TARGET bytes of output.

    Returns the output and, if the stream failed before that much came out, the reason.
    """
    out = bytearray()
    try:
        for piece in _gunzip(chunks):
            out += piece
            if len(out) >= _HEAD_TARGET:
                break
    except _GzipError as exc:
        return bytes(out), exc.args[0]
    except _BudgetSpent:
        if len(out) < _NIFTI2_SIZE + 4:
            return bytes(out), (
                f"cannot check: no NIfTI header in the first {_HEAD_BUDGET} bytes of the gzip "
                "stream (an unusually long gzip header?)"
            )
    return bytes(out[:_HEAD_TARGET]), None


def _gunzip_size(chunks: Iterable[bytes]) -> int:
    """Uncompressed size of the whole gzip stream; raises _GzipError if it is not valid."""
    return sum(len(piece) for piece in _gunzip(chunks))


# --------------------------------------------------------------------------------------------------
# Problems shared by both checks


def _too_big(name: str, size: int, gzipped: bool) -> list[Problem]:
    if size <= MAX_VALUE_BYTES:
        return []
    message = (
        f"too large: {size} bytes; Parquet cannot hold a single value of 2 GiB or more "
        f"(at most {MAX_VALUE_BYTES} bytes)"
    )
    if not gzipped:
        message += "; compress it with gzip (.nii.gz), which usually shrinks brain images a lot"
    return [Problem(name, message)]


def _header_problems(
    name: str, content: bytes, gzipped: bool
) -> tuple[NiftiHeader | None, list[Problem]]:
    """Parse the header from the (uncompressed) start of the content and note the warnings."""
    try:
        header = _parse(content, gzipped, name)
    except ValueError as exc:
        return None, [Problem(name, str(exc))]
    problems = []
    if header.nifti_version == 2:
        problems.append(Problem(name, NIFTI2_WARNING, "warning"))
    problems.extend(_name_problems(name, gzipped))
    return header, problems


def _name_problems(name: str, gzipped: bool) -> list[Problem]:
    """A .nii that is gzip or a .nii.gz that is not: harmless, since datasets looks at the bytes."""
    ext = _suffix(name)
    if ext is None or (ext.lower() == ".nii.gz") == gzipped:
        return []
    actual = "gzip-compressed" if gzipped else "not gzip-compressed"
    message = f"named {ext} but {actual}; stored as-is, datasets detects gzip by content"
    return [Problem(name, message, "warning")]


def _size_problems(name: str, header: NiftiHeader, actual: int, gzipped: bool) -> list[Problem]:
    """Compare the uncompressed length with what the header implies. Longer is fine (padding)."""
    has = f"file has {actual}" + (" uncompressed" if gzipped else "")
    implied = f"header implies {header.expected_nbytes} bytes"
    if header.data_nbytes > 0 and actual <= header.vox_offset:
        return [Problem(name, f"header-only NIfTI: no voxel data ({implied}, {has})")]
    if actual < header.expected_nbytes:
        return [Problem(name, f"truncated: {implied}, {has}")]
    return []


def _has_error(problems: Iterable[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


# --------------------------------------------------------------------------------------------------
# The cheap check


def check_image(name: str, open_file: Callable[[], BinaryIO], size: int) -> ImageCheck:
    """Cheap check of one file before anything is written: reads a few KB, never the voxels.

    ``open_file()`` returns a fresh binary file object with ``read`` and ``seek`` (local or fsspec).
    ``size`` is the file size already known from stat/listing. A gzip file whose trailer disagrees
    with its header is streamed once (constant memory) to report the real cause. Corruption inside
    a gzip stream with an intact trailer passes here; :func:`deep_check` catches it.
    """
    if size == 0:
        return ImageCheck(None, (Problem(name, EMPTY_MESSAGE),))
    try:
        with contextlib.closing(open_file()) as f:
            header, problems = _check_file(name, f, size)
    except OSError as exc:
        return ImageCheck(None, (Problem(name, cannot_read(exc)),))
    return ImageCheck(header, tuple(problems))


def _check_file(name: str, f: BinaryIO, size: int) -> tuple[NiftiHeader | None, list[Problem]]:
    head = _read_up_to(f, _HEAD_CHUNK)
    if not head:
        return None, [Problem(name, EMPTY_MESSAGE)]
    gzipped = head[:2] == GZIP_MAGIC
    problems = _too_big(name, size, gzipped)
    if not gzipped:
        header, found = _header_problems(name, head, gzipped=False)
        problems += found
        if header is not None and not _has_error(problems):
            problems += _size_problems(name, header, size, gzipped=False)
        return header, problems
    content, gzip_error = _gunzip_head(_limited(chain([head], _chunks(f, _HEAD_CHUNK))))
    if gzip_error is not None:
        return _quiet_parse(head), [*problems, Problem(name, gzip_error)]
    header, found = _header_problems(name, content, gzipped=True)
    problems += found
    if header is not None and not _has_error(problems):
        problems += _gzip_size_problems(name, f, size, header)
    return header, problems


def _gzip_size_problems(name: str, f: BinaryIO, size: int, header: NiftiHeader) -> list[Problem]:
    """Check the gzip trailer's ISIZE (length mod 2**32) against the header; confirm a mismatch.

    A mismatch is not proof of damage: in a multi-member gzip (pigz, bgzip, concatenation) the
    trailer covers only the last member. So stream the whole file and report what is really wrong.
    """
    f.seek(max(size - 8, 0))
    trailer = _read_up_to(f, 8)
    if len(trailer) == 8 and struct.unpack("<I", trailer[4:])[0] == header.expected_nbytes % 2**32:
        return []
    f.seek(0)
    try:
        total = _gunzip_size(_chunks(f, _STREAM_CHUNK))
    except _GzipError as exc:
        return [Problem(name, exc.args[0])]
    return _size_problems(name, header, total, gzipped=True)


def _read_up_to(f: BinaryIO, n: int) -> bytes:
    """Read n bytes, or fewer at end of file (a single read may legally return less)."""
    parts = []
    while n > 0:
        part = f.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _chunks(f: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


def _limited(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Stop after _HEAD_BUDGET compressed bytes: the header must come out well before that."""
    total = 0
    source = iter(chunks)
    while total < _HEAD_BUDGET:  # checked before reading, so never reads past the budget
        chunk = next(source, None)
        if chunk is None:
            return
        yield chunk
        total += len(chunk)
    raise _BudgetSpent


def _quiet_parse(compressed_head: bytes) -> NiftiHeader | None:
    """The header of a damaged gzip file if its start holds one, to report with the problem."""
    try:
        return _parse(_peek_gzip(compressed_head), True, "<file>")
    except ValueError:
        return None


def _peek_gzip(data: bytes) -> bytes:
    """What comes out of the start of a gzip stream before it fails (gzip.decompress gives
    nothing). Fed in small pieces, so an error at the end (a bad CRC) loses little output."""
    d = zlib.decompressobj(wbits=31)
    out = bytearray()
    for start in range(0, min(len(data), _HEAD_BUDGET), 64):
        try:
            out += d.decompress(data[start : start + 64])
        except zlib.error:
            break
        if d.eof or len(out) >= _HEAD_TARGET:
            break
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# The deep check


def deep_check(name: str, data: bytes) -> ImageCheck:
    """Decode the whole file the way ``datasets``' ``Nifti`` feature does, voxels included.

    gunzip by magic bytes (not by name), ``Nifti1Image.from_bytes`` (``Nifti2Image`` for NIfTI-2,
    which datasets cannot decode: a warning), then ``np.asarray(img.dataobj)``.
    """
    if not data:
        return ImageCheck(None, (Problem(name, EMPTY_MESSAGE),))
    gzipped = data[:2] == GZIP_MAGIC
    problems = _too_big(name, len(data), gzipped)
    content = data
    if gzipped:
        try:
            content = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            header = _quiet_parse(data[:_HEAD_BUDGET])
            return ImageCheck(header, (*problems, Problem(name, _gzip_exception_message(exc))))
    header, found = _header_problems(name, content, gzipped)
    problems += found
    if header is not None and not _has_error(problems):
        problems += _size_problems(name, header, len(content), gzipped)
    if header is not None and not _has_error(problems):
        problems += _decode_problems(name, header, content)
    return ImageCheck(header, tuple(problems))


def _decode_problems(name: str, header: NiftiHeader, content: bytes) -> list[Problem]:
    import nibabel as nib  # imported here: the cheap check must not pay for nibabel's import
    import numpy as np

    klass = nib.Nifti2Image if header.nifti_version == 2 else nib.Nifti1Image
    try:
        with _quiet(nib.imageglobals.logger):
            img = klass.from_bytes(content)
    except Exception as exc:  # nibabel raises many kinds; any of them means "cannot decode"
        return [Problem(name, f"nibabel cannot read the image: {_plain(exc)}")]
    try:
        count = np.asarray(img.dataobj).size
    except Exception as exc:
        return [Problem(name, f"cannot read the voxel data: {_plain(exc)}")]
    expected = math.prod(header.shape)
    if count != expected:
        return [Problem(name, f"voxel data has {count} values, header implies {expected}")]
    return []


_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_saved = False


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Silence nibabel's header-fix log lines ("vox offset not divisible by 16...") on stderr:
    they are not problems for storing the file, and would garble the CLI's output. Counted, so
    that checks running in several threads restore the logger only when the last one is done."""
    global _quiet_users, _quiet_saved
    with _quiet_lock:
        if _quiet_users == 0:
            _quiet_saved, logger.disabled = logger.disabled, True
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0:
                logger.disabled = _quiet_saved


@contextlib.contextmanager
def quiet_nibabel() -> Iterator[None]:
    """nibabel without its header-fix log lines (for whoever decodes images: checks, previews)."""
    import nibabel as nib

    with _quiet(nib.imageglobals.logger):
        yield


def _plain(exc: BaseException) -> str:
    """An exception as one line of plain words (no traceback)."""
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------------
# The header block: everything before the voxels

HEADER_BLOCK_LIMIT = 16 << 20  # most uncompressed bytes read before the voxels (extensions)


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
    head = _read_up_to(f, _HEAD_CHUNK)
    gzipped = head[:2] == GZIP_MAGIC
    pieces = chain([head], _chunks(f, _HEAD_CHUNK))
    stream = _gunzip(pieces) if gzipped else pieces
    out = bytearray()
    header: NiftiHeader | None = None
    try:
        for piece in stream:
            out += piece
            if header is None and len(out) >= _NIFTI2_SIZE + 4:
                header = _parse(bytes(out[: _NIFTI2_SIZE + 4]), gzipped, "<file>")
            if header is not None and len(out) >= min(header.vox_offset, limit):
                break
    except _GzipError as exc:
        if header is None or len(out) < min(header.vox_offset, limit):
            raise ValueError(exc.args[0]) from None
    finally:
        if gzipped:
            stream.close()  # type: ignore[attr-defined]
    if header is None:
        header = _parse(bytes(out), gzipped, "<file>")
    end = min(header.vox_offset, limit, len(out))
    return HeaderBlock(header, bytes(out[:end]), end >= header.vox_offset)
