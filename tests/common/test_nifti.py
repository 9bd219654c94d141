"""nifti2parquet.common.nifti: header parsing, the cheap check_image and the decoding deep_check.

Every case is built in code from real NIfTI bytes written by nibabel, or taken from the images
shipped in nibabel's test data.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import os
import struct
import types
import zlib
from collections.abc import Callable

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nibabel.testing import data_path

from nifti2parquet.common.errors import Problem
from nifti2parquet.common.nifti import (
    IMAGE_SUFFIXES,
    MAX_VALUE_BYTES,
    ImageCheck,
    NiftiHeader,
    check_image,
    deep_check,
    inflate,
    is_nifti_name,
    nifti_stem_and_ext,
    parse_header,
)

TRUNCATED_GZIP = "truncated gzip: the compressed stream ends early"
BAD_CRC = "corrupt gzip: CRC check failed"

# --------------------------------------------------------------------------------------------------
# Helpers


def nii_bytes(
    shape: tuple[int, ...] = (4, 5, 6),
    dtype: type | str = np.int16,
    *,
    version: int = 1,
    endian: str = "<",
    extension: bytes | None = None,
    seed: int = 0,
) -> bytes:
    """A single-file NIfTI written by nibabel (uncompressed)."""
    data = np.random.default_rng(seed).integers(0, 100, size=shape).astype(dtype)
    header_class = nib.Nifti2Header if version == 2 else nib.Nifti1Header
    image_class = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    header = header_class(endianness=endian)
    header.set_data_dtype(data.dtype)  # else the header's default (float32) wins
    img = image_class(data, np.diag([2.0, 2.0, 2.5, 1.0]), header)
    if extension is not None:
        img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", extension))
    return img.to_bytes()


def sample(name: str) -> bytes:
    with open(os.path.join(data_path, name), "rb") as f:
        return f.read()


def gunzipped(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def check(name: str, data: bytes, size: int | None = None) -> ImageCheck:
    return check_image(name, lambda: io.BytesIO(data), len(data) if size is None else size)


def errors(result: ImageCheck) -> list[str]:
    return [p.message for p in result.problems if p.severity == "error"]


def warnings(result: ImageCheck) -> list[str]:
    return [p.message for p in result.problems if p.severity == "warning"]


def both(name: str, data: bytes) -> tuple[ImageCheck, ImageCheck]:
    return check(name, data), deep_check(name, data)


def patched(raw: bytes, fmt: str, offset: int, value: object) -> bytes:
    out = bytearray(raw)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def nibabel_header(content: bytes) -> nib.Nifti1Header:
    """nibabel's own reading of the header at the start of uncompressed content."""
    is_nifti2 = 540 in (struct.unpack("<i", content[:4])[0], struct.unpack(">i", content[:4])[0])
    header_class = nib.Nifti2Header if is_nifti2 else nib.Nifti1Header
    return header_class.from_fileobj(io.BytesIO(content))


def assert_matches_nibabel(header: NiftiHeader, content: bytes) -> None:
    nh = nibabel_header(content)
    assert header.shape == nh.get_data_shape()
    assert header.voxel_sizes == pytest.approx(tuple(float(z) for z in nh.get_zooms()))
    assert header.byteorder == nh.endianness
    assert header.bitpix == int(nh["bitpix"])
    assert header.vox_offset == nh.get_data_offset()
    expected_dtype = nh.get_data_dtype()
    if expected_dtype.names:  # RGB / RGBA structured dtypes
        assert header.datatype == {3: "rgb24", 4: "rgba32"}[len(expected_dtype.names)]
    else:
        assert header.datatype == expected_dtype.name
    assert header.data_nbytes == math.prod(header.shape) * expected_dtype.itemsize


class CountingFile(io.RawIOBase):
    """Wraps a file object and counts the bytes handed out by read()."""

    def __init__(self, inner: io.BufferedReader, counter: list[int]) -> None:
        self._inner = inner
        self._counter = counter

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self._counter[0] += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()
        super().close()


def counting_opener(path: str, counter: list[int]) -> Callable[[], CountingFile]:
    return lambda: CountingFile(open(path, "rb"), counter)


RAW = nii_bytes()  # 4x5x6 int16, vox_offset 352
GZ = gzip.compress(RAW)
RAW4D = nii_bytes((3, 4, 5, 6), np.float32)
GZ4D = gzip.compress(RAW4D)

# --------------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sub-01_T1w.nii", True),
        ("sub-01_T1w.nii.gz", True),
        ("X.NII.GZ", True),
        ("x.Nii.Gz", True),
        ("a/b/sub-01_T1w.nii.gz", True),
        ("s3://bucket/ds/sub-01_bold.nii.gz", True),
        ("x.hdr", False),
        ("x.img", False),
        ("x.nii.gz.json", False),
        ("x.gz", False),
        ("x.niigz", False),
        (".nii.gz", False),
        ("dir/.nii", False),
    ],
)
def test_is_nifti_name(name: str, expected: bool) -> None:
    assert is_nifti_name(name) is expected


def test_nifti_stem_and_ext_preserves_case() -> None:
    assert nifti_stem_and_ext("sub-01_T1w.nii.gz") == ("sub-01_T1w", ".nii.gz")
    assert nifti_stem_and_ext("X.NII.GZ") == ("X", ".NII.GZ")
    assert nifti_stem_and_ext("a/b/sub-01_bold.nii") == ("sub-01_bold", ".nii")
    assert nifti_stem_and_ext("a.b.nii.gz") == ("a.b", ".nii.gz")
    assert IMAGE_SUFFIXES == (".nii", ".nii.gz")
    with pytest.raises(ValueError, match="not a NIfTI file name"):
        nifti_stem_and_ext("x.nii.gz.json")


# --------------------------------------------------------------------------------------------------
# Header fields


def test_header_fields_of_known_images() -> None:
    h = check("example4d.nii.gz", sample("example4d.nii.gz")).header
    assert h == NiftiHeader(
        nifti_version=1,
        gzipped=True,
        byteorder="<",
        shape=(128, 96, 24, 2),
        voxel_sizes=h.voxel_sizes,
        datatype="int16",
        bitpix=16,
        vox_offset=416,  # has a header extension
        data_nbytes=128 * 96 * 24 * 2 * 2,
        expected_nbytes=416 + 128 * 96 * 24 * 2 * 2,
    )
    assert h.voxel_sizes == pytest.approx((2.0, 2.0, 2.2, 2000.0))
    assert h.expected_nbytes == len(gunzipped(sample("example4d.nii.gz")))

    a = check("anatomical.nii", sample("anatomical.nii")).header
    assert (a.nifti_version, a.gzipped, a.byteorder, a.shape) == (1, False, ">", (33, 41, 25))
    assert (a.datatype, a.bitpix, a.vox_offset) == ("int16", 16, 352)
    assert a.voxel_sizes == (2.0, 2.0, 2.0)
    assert a.expected_nbytes == len(sample("anatomical.nii")) == 68002

    n2 = check("example_nifti2.nii.gz", sample("example_nifti2.nii.gz")).header
    assert (n2.nifti_version, n2.shape, n2.datatype) == (2, (32, 20, 12, 2), "int16")
    assert n2.vox_offset == 608


@pytest.mark.parametrize(
    "name",
    sorted(f for f in os.listdir(data_path) if f.endswith((".nii", ".nii.gz"))),
)
def test_nibabel_sample_images_pass_both_checks(name: str) -> None:
    data = sample(name)
    cheap, deep = both(name, data)
    assert cheap.ok, cheap.problems
    assert deep.ok, deep.problems
    assert cheap.header == deep.header
    assert_matches_nibabel(cheap.header, gunzipped(data))
    expected_warnings = 1 if cheap.header.nifti_version == 2 else 0
    assert len(cheap.problems) == len(deep.problems) == expected_warnings


@pytest.mark.parametrize(
    "data",
    [RAW, GZ, RAW4D, GZ4D, nii_bytes((7,), np.uint8), nii_bytes((2, 2, 2, 2, 2, 2, 2), np.float64)],
    ids=["raw3d", "gz3d", "raw4d", "gz4d", "1d", "7d"],
)
def test_tiny_images_are_clean(data: bytes) -> None:
    name = "img.nii.gz" if data[:2] == b"\x1f\x8b" else "img.nii"
    cheap, deep = both(name, data)
    assert cheap.problems == deep.problems == ()
    assert cheap.ok and deep.ok
    assert cheap.header == deep.header
    assert_matches_nibabel(cheap.header, gunzipped(data))


def test_tiny_header_sizes() -> None:
    h = check("x.nii", RAW).header
    assert (h.shape, h.data_nbytes, h.vox_offset, h.expected_nbytes) == ((4, 5, 6), 240, 352, 592)
    assert len(RAW) == 592


def test_big_endian_image() -> None:
    for data in (nii_bytes(endian=">"), gzip.compress(nii_bytes((3, 4, 5, 2), "f4", endian=">"))):
        cheap, deep = both("be.nii.gz" if data[:2] == b"\x1f\x8b" else "be.nii", data)
        assert cheap.ok and deep.ok and cheap.problems == ()
        assert cheap.header.byteorder == ">"
        assert_matches_nibabel(cheap.header, gunzipped(data))


def test_header_extension_moves_vox_offset() -> None:
    raw = nii_bytes(extension=b"some JSON sidecar or AFNI attributes " * 20)
    for name, data in (("ext.nii", raw), ("ext.nii.gz", gzip.compress(raw))):
        cheap, deep = both(name, data)
        assert cheap.problems == deep.problems == ()
        assert cheap.header == deep.header
        assert cheap.header.vox_offset > 352
        assert cheap.header.expected_nbytes == len(raw)


@pytest.mark.filterwarnings("ignore:Using large vector Freesurfer hack")
def test_freesurfer_long_vector_hack() -> None:
    raw = nii_bytes((70000, 1, 1), np.uint8)  # too long for int16 dim: nibabel stores -1 + glmin
    assert struct.unpack_from("<h", raw, 42)[0] == -1
    cheap, deep = both("lh.thickness.nii", raw)
    assert cheap.ok and deep.ok
    assert cheap.header.shape == (70000, 1, 1)


def test_parse_header_accepts_raw_or_gzip_prefix() -> None:
    assert parse_header(RAW[:348]).shape == (4, 5, 6)  # NIfTI-1 needs only 348 bytes
    g = parse_header(GZ[:200])
    assert g.gzipped and g.shape == (4, 5, 6)
    assert parse_header(RAW) == dataclasses.replace(parse_header(GZ), gzipped=False)
    with pytest.raises(ValueError, match=r"^truncated: the file ends inside .* \(100 of 348"):
        parse_header(RAW[:100])
    with pytest.raises(ValueError, match="no NIfTI-1/NIfTI-2 header"):
        parse_header(b"\x01\x02\x03\x04" * 100)
    raw2 = nii_bytes(version=2)
    assert parse_header(raw2[:540]).nifti_version == 2
    with pytest.raises(ValueError, match="500 of 540"):
        parse_header(raw2[:500])


# --------------------------------------------------------------------------------------------------
# Empty, too large, unreadable


def test_empty_file() -> None:
    cheap, deep = both("x.nii.gz", b"")
    assert errors(cheap) == errors(deep) == ["empty file (0 bytes)"]
    assert cheap.header is None and not cheap.ok


def test_too_large_for_parquet() -> None:
    raw = check("x.nii", RAW, size=MAX_VALUE_BYTES + 1)
    (message,) = errors(raw)
    assert "2 GiB or more" in message and "gzip" in message
    gz = check("x.nii.gz", GZ, size=MAX_VALUE_BYTES + 1)
    (message,) = errors(gz)
    assert "2 GiB or more" in message and "compress it" not in message
    assert check("x.nii", RAW, size=MAX_VALUE_BYTES).ok  # the limit itself is allowed


def test_unreadable_file() -> None:
    def missing() -> io.BytesIO:
        raise FileNotFoundError(2, "No such file or directory", "x.nii.gz")

    result = check_image("x.nii.gz", missing, 1234)
    (message,) = errors(result)
    assert message == "cannot read: no such file or directory"


# --------------------------------------------------------------------------------------------------
# Not NIfTI at all

LFS = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


def test_git_lfs_pointer() -> None:
    for cheap_or_deep in both("sub-01_T1w.nii.gz", LFS):
        (message,) = errors(cheap_or_deep)
        assert message.startswith("Git LFS pointer") and "`git lfs pull`" in message
        assert "12345-byte" in message


@pytest.mark.parametrize(
    "content",
    [
        b"../../.git/annex/objects/Zx/8K/SHA256E-s123--abc.nii.gz/SHA256E-s123--abc.nii.gz",
        b"/annex/objects/SHA256E-s4096--5f2b.nii.gz\n",
        b"SHA256E-s123--0123456789abcdef.nii.gz",
        b"MD5E-s1000--d41d8cd98f00b204e9800998ecf8427e.nii",
    ],
)
def test_git_annex_pointer(content: bytes) -> None:
    for result in both("sub-01/anat/sub-01_T1w.nii.gz", content):
        (message,) = errors(result)
        assert message.startswith("git-annex pointer")
        assert "`datalad get sub-01/anat/sub-01_T1w.nii.gz`" in message


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>", "HTML"),
        (b"\n  <html><head><title>Sign in</title></head></html>", "HTML"),
        (b'{"error": "not found"}', "JSON"),
        (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "XML"),
        (b"hello\nworld\n", "text: 'hello'"),
    ],
)
def test_text_content_is_not_nifti(content: bytes, kind: str) -> None:
    for data in (content, gzip.compress(content)):  # also text that was gzipped and named .nii.gz
        for result in both("x.nii.gz", data):
            assert errors(result) == [f"not a NIfTI file (looks like {kind}" + _kind_tail(kind)]


def _kind_tail(kind: str) -> str:
    return ", e.g. an error or login page saved under this name)" if kind == "HTML" else ")"


def test_binary_junk_and_dicom() -> None:
    junk = struct.pack("<i", 1234) + bytes(range(256)) * 4
    for result in both("x.nii", junk):
        assert errors(result) == [
            "not a NIfTI file (no NIfTI-1/NIfTI-2 header: sizeof_hdr is 1234, expected 348 or 540)"
        ]
    dicom = b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL" + b"\0" * 300
    assert errors(check("x.nii", dicom))[0].startswith("not a NIfTI file (looks like DICOM")
    # nibabel ships a DICOM whose preamble starts like an Analyze header (sizeof_hdr 348).
    assert errors(check("0.nii", sample("0.dcm"))) == errors(check("x.nii", dicom))
    assert errors(check("x.nii", b"\x01\x02"))[0] == (
        "not a NIfTI file (only 2 bytes, too short for a NIfTI header)"
    )


# --------------------------------------------------------------------------------------------------
# Analyze and pair headers, NIfTI-2


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("analyze.hdr", "Analyze 7.5 header"),
        ("nifti1.hdr", "NIfTI-1 pair header"),
        ("nifti2.hdr", "NIfTI-2 pair header"),
    ],
)
def test_pair_headers_are_rejected(name: str, start: str) -> None:
    data = sample(name)
    for result in (*both("x.nii", data), *both("x.nii.gz", gzip.compress(data))):
        (message,) = errors(result)
        assert message.startswith(start)
        assert "single-file Nifti feature cannot hold it" in message and ".nii.gz" in message


def test_analyze_made_from_a_nifti() -> None:
    for order in "<>":
        raw = patched(nii_bytes(endian=order), "4s", 344, b"\0\0\0\0")
        (message,) = errors(check("x.nii", raw))
        assert message.startswith("Analyze 7.5 header")


def test_nifti2_is_a_warning() -> None:
    raw = nii_bytes((4, 5, 6, 2), np.float32, version=2)
    for data in (raw, gzip.compress(raw), sample("example_nifti2.nii.gz")):
        for result in both("x.nii.gz" if data[:2] == b"\x1f\x8b" else "x.nii", data):
            assert result.ok
            (message,) = warnings(result)
            assert message.startswith("NIfTI-2 file: stored as-is")
            assert "Nifti2Image.from_bytes" in message
            assert result.header.nifti_version == 2
    # The reason for the warning: the datasets decode path really fails on NIfTI-2 bytes.
    with pytest.raises(nib.spatialimages.HeaderDataError):
        nib.Nifti1Image.from_bytes(raw)


def test_nifti2_big_endian_and_eol_check() -> None:
    raw = nii_bytes(version=2, endian=">")
    result = check("x.nii", raw)
    assert result.ok and result.header.byteorder == ">" and result.header.nifti_version == 2
    mangled = patched(raw, "4s", 8, b"\r\r\x1a\n")  # what a text-mode copy does
    for r in both("x.nii", mangled):
        assert errors(r)[0].startswith("invalid NIfTI header: the NIfTI-2 end-of-line")


# --------------------------------------------------------------------------------------------------
# Invalid header fields, in both byte orders


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    ("fmt", "offset", "value", "message"),
    [
        ("h", 40, 0, "invalid NIfTI header: dim[0] is 0, must be 1 to 7"),
        ("h", 40, 8, "invalid NIfTI header: dim[0] is 8, must be 1 to 7"),
        ("h", 44, -5, "invalid NIfTI header: negative dimension in shape (4, -5, 6)"),
        ("h", 70, 3, "invalid NIfTI header: unknown datatype code 3"),
        (
            "h",
            70,
            1,
            "invalid NIfTI header: datatype code 1 (binary) is not supported by nibabel",
        ),
        ("h", 72, 8, "invalid NIfTI header: bitpix is 8 but datatype int16 needs 16"),
        (
            "f",
            108,
            0.0,
            "invalid NIfTI header: vox_offset is 0, but a single-file NIfTI-1 needs at least 352",
        ),
        (
            "f",
            108,
            100.0,
            "invalid NIfTI header: vox_offset is 100, but a single-file NIfTI-1 needs at least 352",
        ),
    ],
)
def test_invalid_header_fields(
    order: str, fmt: str, offset: int, value: object, message: str
) -> None:
    raw = patched(nii_bytes(endian=order), order + fmt, offset, value)
    for data in (raw, gzip.compress(raw)):
        for result in both("x.nii.gz", data):
            assert errors(result) == [message]
            assert result.header is None
    with pytest.raises(ValueError, match=r"^invalid NIfTI header"):
        parse_header(raw)


# --------------------------------------------------------------------------------------------------
# Truncation and header-only files


def test_truncated_raw_nii() -> None:
    for result in both("x.nii", RAW[:500]):
        assert errors(result) == ["truncated: header implies 592 bytes, file has 500"]
        assert result.header.shape == (4, 5, 6)


def test_padding_after_the_data_is_fine() -> None:
    padded = RAW + b"\0" * 64
    assert check("x.nii", padded).ok
    assert deep_check("x.nii", padded).ok
    assert check("x.nii.gz", gzip.compress(padded)).ok


@pytest.mark.parametrize("cut", [348, 352])
def test_header_only_nifti(cut: int) -> None:
    expected = "header-only NIfTI: no voxel data (header implies 592 bytes, file has {})"
    for result in both("x.nii", RAW[:cut]):
        assert errors(result) == [expected.format(cut)]
    for result in both("x.nii.gz", gzip.compress(RAW[:cut])):
        assert errors(result) == [expected.format(f"{cut} uncompressed")]


def test_valid_gzip_of_a_truncated_nii() -> None:
    for result in both("x.nii.gz", gzip.compress(RAW[:500])):
        assert errors(result) == ["truncated: header implies 592 bytes, file has 500 uncompressed"]


def test_file_ends_inside_header() -> None:
    for result in both("x.nii", RAW[:200]):
        assert errors(result) == [
            "truncated: the file ends inside the NIfTI header (200 of 348 bytes)"
        ]


def big_gz(seed: int = 1) -> tuple[bytes, bytes]:
    """A gzip whose compressed stream is long enough to cut or damage in the middle."""
    raw = nii_bytes((40, 40, 30), np.int16, seed=seed)  # random values: compresses poorly
    return raw, gzip.compress(raw)


def test_gzip_truncated_in_the_middle() -> None:
    _, gz = big_gz()
    cut = gz[: len(gz) // 2]
    for result in both("x.nii.gz", cut):
        assert errors(result) == [TRUNCATED_GZIP]
        assert result.header is not None and result.header.shape == (40, 40, 30)


def test_gzip_truncated_before_the_header() -> None:
    for data in (GZ[:12], GZ[:25]):
        for result in both("x.nii.gz", data):
            assert errors(result) == [TRUNCATED_GZIP]
            assert result.header is None


def test_gzip_with_one_flipped_byte() -> None:
    """A flipped byte inside the stream leaves the trailer intact, so the cheap check (which
    reads only the header and the trailer) cannot see it: that is what --check deep is for."""
    _, gz = big_gz()
    damaged = bytearray(gz)
    damaged[len(gz) // 2] ^= 0xFF
    cheap, deep = both("x.nii.gz", bytes(damaged))
    assert cheap.ok
    (message,) = errors(deep)
    assert message.startswith("corrupt gzip:")


def test_gzip_bad_crc() -> None:
    raw, gz = big_gz()
    corrupt = gz[:-8] + struct.pack("<I", (zlib.crc32(raw) + 1) % 2**32) + gz[-4:]
    cheap, deep = both("x.nii.gz", corrupt)
    assert cheap.ok  # the trailer's size still matches: only a full decode sees the CRC
    assert errors(deep) == [BAD_CRC]
    assert deep.header == cheap.header  # the header is still reported


def test_small_gzip_bad_crc_is_seen_by_the_cheap_check() -> None:
    """A file small enough to be decompressed whole while looking for the header is verified."""
    corrupt = GZ[:-8] + struct.pack("<I", (zlib.crc32(RAW) + 1) % 2**32) + GZ[-4:]
    for result in both("x.nii.gz", corrupt):
        assert errors(result) == [BAD_CRC]
        assert result.header is not None and result.header.shape == (4, 5, 6)


def test_bad_crc_found_by_the_confirm_path() -> None:
    """In a multi-member gzip the trailer covers only the last member, so the cheap check streams
    the file and reports the real cause: here a bad CRC in the first member."""
    first = bytearray(gzip.compress(RAW[:400]))
    first[-8] ^= 0xFF
    data = bytes(first) + gzip.compress(RAW[400:])
    for result in both("x.nii.gz", data):
        assert errors(result) == [BAD_CRC]


def test_multi_member_gzip_is_ok() -> None:
    raw, _ = big_gz()
    pieces = [raw[:1000], raw[1000:50000], raw[50000:]]
    multi = b"".join(gzip.compress(p) for p in pieces)
    padded = b"".join(gzip.compress(p) + b"\0" * 7 for p in pieces)  # zero padding is legal
    for data in (multi, padded):
        cheap, deep = both("x.nii.gz", data)
        assert cheap.ok and cheap.problems == ()
        assert deep.ok and deep.problems == ()
        assert cheap.header.expected_nbytes == len(raw)


def test_multi_member_gzip_takes_the_confirm_path(tmp_path) -> None:
    raw, _ = big_gz()
    path = tmp_path / "multi.nii.gz"
    path.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    counter = [0]
    assert check_image(str(path), counting_opener(str(path), counter), path.stat().st_size).ok
    assert counter[0] > path.stat().st_size  # head + trailer + one full streaming pass


def gzip_with_file_name(raw: bytes, file_name: bytes) -> bytes:
    """A gzip member with the FNAME field set, as the gzip command line writes it."""
    header = b"\x1f\x8b\x08\x08" + b"\0\0\0\0" + b"\x00\x03" + file_name + b"\0"
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(raw) + deflate.flush()
    return header + body + struct.pack("<II", zlib.crc32(raw), len(raw))


def test_gzip_header_fields() -> None:
    data = gzip_with_file_name(RAW, b"sub-01_T1w.nii")
    assert check("x.nii.gz", data).problems == deep_check("x.nii.gz", data).problems == ()
    # A gzip header so long that the NIfTI header is not within the cheap check's read budget:
    # absurd in practice, and reported as unchecked rather than silently passed.
    odd = gzip_with_file_name(RAW, b"x" * 100_000)
    (message,) = errors(check("x.nii.gz", odd))
    assert message.startswith("cannot check: no NIfTI header in the first 65536 bytes")
    assert deep_check("x.nii.gz", odd).ok


def test_trailing_garbage_after_gzip() -> None:
    for result in both("x.nii.gz", GZ + b"garbage!"):
        assert errors(result) == [
            "corrupt gzip: unexpected non-gzip data after the end of the compressed stream"
        ]


# --------------------------------------------------------------------------------------------------
# Name and content disagree


def test_nii_that_is_gzip() -> None:
    for result in both("sub-01_T1w.nii", GZ):
        assert result.ok
        assert warnings(result) == [
            "named .nii but gzip-compressed; stored as-is, datasets detects gzip by content"
        ]


def test_nii_gz_that_is_not_gzip() -> None:
    for result in both("sub-01_T1w.nii.gz", RAW):
        assert result.ok
        assert warnings(result) == [
            "named .nii.gz but not gzip-compressed; stored as-is, datasets detects gzip by content"
        ]


def test_uppercase_extensions() -> None:
    assert check("SUB-01_T1W.NII.GZ", GZ).problems == ()
    assert check("SUB-01_T1W.NII", RAW).problems == ()
    assert warnings(check("SUB-01_T1W.NII", GZ)) == [
        "named .NII but gzip-compressed; stored as-is, datasets detects gzip by content"
    ]
    assert is_nifti_name("SUB-01_T1W.NII.GZ")


def test_problems_name_the_file() -> None:
    result = check("my/input/path.nii.gz", b"")
    assert result.problems == (Problem("my/input/path.nii.gz", "empty file (0 bytes)", "error"),)


# --------------------------------------------------------------------------------------------------
# deep_check: decoding failures are reported in plain words


def test_deep_check_reports_nibabel_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(cls, data):
        raise nib.spatialimages.HeaderDataError("data code 0 not supported\n  (more detail)")

    monkeypatch.setattr(nib.Nifti1Image, "from_bytes", classmethod(boom))
    assert errors(deep_check("x.nii", RAW)) == [
        "nibabel cannot read the image: data code 0 not supported (more detail)"
    ]


def test_deep_check_reports_voxel_read_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    class Proxy:
        def __array__(self, dtype=None, copy=None):
            raise OSError("Expected 240 bytes, got 10 bytes from object")

    def fake(cls, data):
        return types.SimpleNamespace(dataobj=Proxy())

    monkeypatch.setattr(nib.Nifti1Image, "from_bytes", classmethod(fake))
    assert errors(deep_check("x.nii", RAW)) == [
        "cannot read the voxel data: Expected 240 bytes, got 10 bytes from object"
    ]


# --------------------------------------------------------------------------------------------------
# The cheap check is cheap, and works on fsspec files


@pytest.fixture(scope="module")
def big_files(tmp_path_factory) -> tuple[str, str]:
    """A valid ~20 MB .nii.gz (random voxels do not compress) and a valid ~20 MB .nii."""
    folder = tmp_path_factory.mktemp("big")
    raw = np.random.default_rng(3).integers(0, 256, size=(128, 128, 80, 16), dtype=np.uint8)
    raw = nib.Nifti1Image(raw, np.eye(4)).to_bytes()
    gz_path, raw_path = folder / "big.nii.gz", folder / "big.nii"
    gz_path.write_bytes(gzip.compress(raw, compresslevel=1))
    raw_path.write_bytes(raw)
    return str(gz_path), str(raw_path)


def test_check_image_reads_a_bounded_number_of_bytes(big_files: tuple[str, str]) -> None:
    for path in big_files:
        size = os.path.getsize(path)
        assert size > 20_000_000
        counter = [0]
        result = check_image(path, counting_opener(path, counter), size)
        assert result.ok and result.problems == ()
        assert counter[0] < 256 * 1024, (path, counter[0])


def test_check_image_on_an_fsspec_file() -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/ds/sub-01_bold.nii.gz", GZ4D)
    fs.pipe("/ds/sub-01_cut.nii.gz", GZ4D[: len(GZ4D) // 2])
    ok = check_image(
        "memory://ds/sub-01_bold.nii.gz", lambda: fs.open("/ds/sub-01_bold.nii.gz"), len(GZ4D)
    )
    assert ok.ok and ok.header.shape == (3, 4, 5, 6)
    cut = check_image(
        "memory://ds/sub-01_cut.nii.gz", lambda: fs.open("/ds/sub-01_cut.nii.gz"), len(GZ4D) // 2
    )
    assert errors(cut) == [TRUNCATED_GZIP]


# --------------------------------------------------------------------------------------------------
# Property: any image nibabel writes parses to nibabel's own header values


DTYPES = [
    "uint8",
    "int8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=6).map(tuple),
    dtype=st.sampled_from(DTYPES),
    version=st.sampled_from([1, 2]),
    endian=st.sampled_from("<>"),
    compress=st.booleans(),
)
def test_round_trip_property(
    shape: tuple[int, ...], dtype: str, version: int, endian: str, compress: bool
) -> None:
    raw = nii_bytes(shape, dtype, version=version, endian=endian)
    data = gzip.compress(raw, compresslevel=1) if compress else raw
    header = parse_header(data)
    assert header.nifti_version == version
    assert header.gzipped is compress
    assert header.expected_nbytes == len(raw)
    assert_matches_nibabel(header, raw)
    result = check("x.nii.gz" if compress else "x.nii", data)
    assert result.ok and result.header == header


# --------------------------------------------------------------------------------------------------
# deep_check agrees with the real datasets decoder


def _datasets_decodes(data: bytes) -> bool:
    from datasets import Nifti

    try:
        img = Nifti().decode_example({"bytes": data, "path": "x.nii.gz"})
        np.asarray(img.dataobj)
    except Exception:
        return False
    return True


def _cases_for_datasets() -> dict[str, bytes]:
    raw, gz = big_gz()
    flipped = bytearray(gz)
    flipped[len(gz) // 2] ^= 0xFF
    return {
        "raw": RAW,
        "gz": GZ,
        "big-endian": nii_bytes(endian=">"),
        "extension": nii_bytes(extension=b"x" * 100),
        "multi-member": gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]),
        "zero-padded gzip": gzip.compress(raw) + b"\0" * 10,
        "padded raw": RAW + b"\0" * 64,
        "example4d": sample("example4d.nii.gz"),
        "truncated gzip": gz[: len(gz) // 2],
        "flipped byte": bytes(flipped),
        "truncated raw": RAW[:500],
        "header-only": RAW[:352],
        "analyze": sample("analyze.hdr"),
        "trailing garbage": GZ + b"garbage!",
        "lfs pointer": LFS,
    }


def test_deep_check_agrees_with_datasets() -> None:
    pytest.importorskip("datasets")
    for label, data in _cases_for_datasets().items():
        assert deep_check("x.nii.gz", data).ok == _datasets_decodes(data), label
    # The one deliberate difference: NIfTI-2 is stored (with a warning), datasets cannot decode it.
    nifti2 = nii_bytes(version=2)
    assert deep_check("x.nii", nifti2).ok and not _datasets_decodes(nifti2)


@pytest.mark.parametrize(
    ("fmt", "offset", "value"),
    [("<h", 72, 8), ("<f", 108, 0.0), ("<h", 40, 0)],
    ids=["bitpix", "vox_offset-0", "dim0-0"],
)
def test_stricter_than_datasets(fmt: str, offset: int, value: object) -> None:
    """Headers nibabel still decodes, but wrongly or emptily (bitpix is silently 'fixed'; offset 0
    reads the header as voxels; dim[0]=0 gives no voxels): rejected on purpose."""
    pytest.importorskip("datasets")
    data = patched(RAW, fmt, offset, value)
    assert _datasets_decodes(data)
    assert not deep_check("x.nii", data).ok


def test_deep_check_keeps_nibabel_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    # vox_offset 360 is legal but not a multiple of 16: nibabel would log a line on stderr.
    raw = patched(RAW[:352] + b"\0" * 8 + RAW[352:], "<f", 108, 360.0)
    result = deep_check("x.nii", raw)
    assert result.ok and result.header.vox_offset == 360
    assert capfd.readouterr().err == ""
    assert not nib.imageglobals.logger.disabled


def test_deep_check_in_threads_restores_the_nibabel_logger() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda d: deep_check("x.nii.gz", d), [GZ, GZ4D, RAW] * 20))
    assert all(r.ok for r in results)
    assert not nib.imageglobals.logger.disabled


@pytest.mark.parametrize("fast", [False, True])
def test_inflate_fast_or_not_gives_gzips_bytes_and_its_crc_message(fast: bool) -> None:
    raw = np.random.default_rng(1).integers(0, 50, 3_000_000, np.int16).tobytes()
    members = gzip.compress(raw[:1_000_000], 6) + b"\0\0" + gzip.compress(raw[1_000_000:], 1)
    chunks = [members[i : i + 65536] for i in range(0, len(members), 65536)]
    assert b"".join(inflate(chunks, fast=fast)) == gzip.decompress(members) == raw
    bad = bytearray(gzip.compress(raw, 6))
    bad[-6] ^= 1  # the CRC
    with pytest.raises(ValueError, match=r"^corrupt gzip: CRC check failed$"):
        b"".join(inflate([bytes(bad)], fast=fast))


def _header_bytes(zooms: tuple[float, ...]) -> bytes:
    header = nib.Nifti1Header()
    header.set_data_shape((4, 4, 4))
    header.set_zooms(zooms)
    header["vox_offset"] = 352
    header["magic"] = b"n+1"
    return header.binaryblock + b"\0" * 4


def test_equal_headers_are_one_object_but_a_signed_zero_is_not_shared() -> None:
    from nifti2parquet.common.nifti.header import parse_uncompressed

    first = parse_uncompressed(_header_bytes((2.0, 2.0, 2.0)), False, "a.nii")
    again = parse_uncompressed(_header_bytes((2.0, 2.0, 2.0)), False, "b.nii")
    other = parse_uncompressed(_header_bytes((1.0, 2.0, 2.0)), False, "c.nii")
    assert first is again and other is not first and other.voxel_sizes == (1.0, 2.0, 2.0)
    zero = parse_uncompressed(_header_bytes((0.0, 2.0, 2.0)), False, "d.nii")
    negative = parse_uncompressed(_header_bytes((-0.0, 2.0, 2.0)), False, "e.nii")
    assert math.copysign(1, zero.voxel_sizes[0]) == 1
    assert math.copysign(1, negative.voxel_sizes[0]) == -1
