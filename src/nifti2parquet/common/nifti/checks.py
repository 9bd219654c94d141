"""Check one NIfTI file from its bytes: the cheap check, the decoding check, quiet nibabel.

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
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO, NamedTuple

from nifti2parquet.common.batched import map_batched
from nifti2parquet.common.errors import Problem, cannot_read
from nifti2parquet.common.storage import CHECK_BLOCK, Storage

from .gunzip import (
    GZIP_MAGIC,
    HEAD_BUDGET,
    HEAD_CHUNK,
    GzipError,
    gunzip_head,
    gunzip_size,
    gzip_exception_message,
    peek_gzip,
    read_chunks,
    read_up_to,
    within_head_budget,
)
from .header import NiftiHeader, parse_uncompressed
from .names import nifti_suffix

MAX_VALUE_BYTES: int = 2_147_483_646  # largest value Arrow/Parquet binary can hold
_STREAM_CHUNK = 1024 * 1024  # read size when streaming a whole gzip file

EMPTY_MESSAGE = "empty file (0 bytes)"
NIFTI2_WARNING = (
    "NIfTI-2 file: stored as-is, but datasets' Nifti feature cannot decode NIfTI-2 from bytes "
    "(it calls Nifti1Image.from_bytes); decode it with nibabel.Nifti2Image.from_bytes"
)


@dataclass(frozen=True)
class ImageCheck:
    """The result of checking one file: errors make it unusable, warnings are stored-but-noted."""

    header: NiftiHeader | None  # None when the header could not be read
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


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
        header = parse_uncompressed(content, gzipped, name)
    except ValueError as exc:
        return None, [Problem(name, str(exc))]
    problems = []
    if header.nifti_version == 2:
        problems.append(Problem(name, NIFTI2_WARNING, "warning"))
    problems.extend(_name_problems(name, gzipped))
    return header, problems


def _name_problems(name: str, gzipped: bool) -> list[Problem]:
    """A .nii that is gzip or a .nii.gz that is not: harmless, since datasets looks at the bytes."""
    ext = nifti_suffix(name)
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


def check_stored(name: str, url: str, size: int, storage: Storage) -> ImageCheck:
    """``check_image`` of the file at ``url`` in ``storage``, shown as ``name``: it opens the
    file itself, so a failure to read it is reported as a problem."""
    return check_image(name, lambda: storage.open(url, CHECK_BLOCK), size)


def check_files(
    files: Sequence[tuple[str, str, int]], storage: Storage, threads: int
) -> list[ImageCheck]:
    """``check_image`` of each (name, url, size), reading with ``storage``: a chunk of a
    source's images (module level, so the helper process can run it; a segmentation source
    calls it in its own process). Equal headers (a protocol's
    images) come back as one object, so a chunk sent back holds each once."""
    shared: dict[NiftiHeader, NiftiHeader] = {}

    def one(file: tuple[str, str, int]) -> ImageCheck:
        rel, url, size = file
        check = check_stored(rel, url, size, storage)
        if check.header is None or check.problems:
            return check
        return ImageCheck(shared.setdefault(check.header, check.header), ())

    return map_batched(one, files, threads, "n2p-check")


class SortedChecks(NamedTuple):
    """A source's checks sorted: what its rows are built from, and what the user is told."""

    headers: dict[str, NiftiHeader]  # by name, for the files that passed
    errors: list[Problem]  # one per file that failed
    warnings: list[Problem]


def sort_checks(
    names: Iterable[str], checks: Iterable[ImageCheck], unreadable: str
) -> SortedChecks:
    """Each file's check (``names`` and ``checks`` in the same order) sorted into headers, one
    error per failed file (its errors joined, or ``unreadable`` when it has none), and warnings:
    every source sorts them alike, only the words for a header it could not read differ."""
    done = SortedChecks({}, [], [])
    for name, check in zip(names, checks):
        if check.ok and check.header is not None:
            done.headers[name] = check.header
        else:
            messages = [p.message for p in check.problems if p.severity == "error"]
            done.errors.append(Problem(name, "; ".join(messages) or unreadable))
        done.warnings.extend(p for p in check.problems if p.severity == "warning")
    return done


def _check_file(name: str, f: BinaryIO, size: int) -> tuple[NiftiHeader | None, list[Problem]]:
    head = read_up_to(f, HEAD_CHUNK)
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
    content, gzip_error = gunzip_head(within_head_budget(chain([head], read_chunks(f, HEAD_CHUNK))))
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
    trailer = read_up_to(f, 8)
    if len(trailer) == 8 and struct.unpack("<I", trailer[4:])[0] == header.expected_nbytes % 2**32:
        return []
    f.seek(0)
    try:
        total = gunzip_size(read_chunks(f, _STREAM_CHUNK))
    except GzipError as exc:
        return [Problem(name, exc.args[0])]
    return _size_problems(name, header, total, gzipped=True)


def _quiet_parse(compressed_head: bytes) -> NiftiHeader | None:
    """The header of a damaged gzip file if its start holds one, to report with the problem."""
    try:
        return parse_uncompressed(peek_gzip(compressed_head), True, "<file>")
    except ValueError:
        return None


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
            header = _quiet_parse(data[:HEAD_BUDGET])
            return ImageCheck(header, (*problems, Problem(name, gzip_exception_message(exc))))
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
