"""The free text a NIfTI header carries: its text fields and its extensions.

The header's four text fields (``descrip``, ``aux_file``, ``intent_name`` and, in NIfTI-1,
``db_name``) and the extensions after it are where scanners, converters and labs leave words. The
same places are read by the privacy scan and blanked by ``--blank-nifti-headers``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..units import count
from .header import NIFTI1_SIZE, NIFTI2_SIZE
from .header_block import HeaderBlock

TEXT_FIELDS = ("descrip", "aux_file", "intent_name", "db_name")
DICOM_CODE = 2  # NIFTI_ECODE_DICOM: the extension holds a DICOM header
_HEADER_SIZE = {1: NIFTI1_SIZE, 2: NIFTI2_SIZE}


# (name, start, end) of each text field, by NIfTI version: the standard's fixed layouts. Written
# out rather than read from nibabel's header dtypes so that scanning a header does not import
# nibabel (a third of a second, on every build); a test checks them against nibabel's layouts.
_TEXT_SPANS: dict[int, tuple[tuple[str, int, int], ...]] = {
    1: (
        ("descrip", 148, 228),
        ("aux_file", 228, 252),
        ("intent_name", 328, 344),
        ("db_name", 14, 32),
    ),
    2: (("descrip", 240, 320), ("aux_file", 320, 344), ("intent_name", 508, 524)),
}


def text_field_spans(version: int) -> tuple[tuple[str, int, int], ...]:
    """(name, start, end) of each text field in a NIfTI-``version`` header."""
    return _TEXT_SPANS[version]


def text_fields(block: HeaderBlock) -> Iterator[tuple[str, str]]:
    """Each non-empty text field as (name, text): bytes up to the first NUL, decoded leniently."""
    for name, start, end in text_field_spans(block.header.nifti_version):
        raw = block.data[start:end].split(b"\0", 1)[0].strip()
        if raw:
            yield name, raw.decode("utf-8", "replace")


@dataclass(frozen=True)
class Extension:
    """One header extension: its number in the file (from 1), its code and its content."""

    number: int
    code: int
    content: bytes


def extensions(block: HeaderBlock) -> Iterator[Extension]:
    """The header extensions, as the NIfTI standard lays them out (esize, ecode, content).

    Stops quietly at an extension that does not fit, as nibabel does when it loads the file.
    """
    order = block.header.byteorder
    at = _HEADER_SIZE[block.header.nifti_version]
    if len(block.data) < at + 4 or block.data[at] == 0:
        return
    at += 4
    number = 0
    while at + 8 <= len(block.data):
        size, code = struct.unpack_from(order + "ii", block.data, at)
        if size < 8 or at + size > len(block.data):
            return
        number += 1
        yield Extension(number, code, block.data[at + 8 : at + size])
        at += size


def blanked_block(block: HeaderBlock) -> tuple[bytes, tuple[str, ...]]:
    """The header block with every text field zeroed and the extensions dropped.

    The block keeps its length, so ``vox_offset`` and the voxels stay where they are: the
    extension flag is cleared and the extension bytes are zeroed. Returns the new bytes and what
    was changed (the text fields that held text; ``N extensions``).
    """
    data = bytearray(block.data)
    changed = []
    for name, start, end in text_field_spans(block.header.nifti_version):
        if any(data[start:end]):
            data[start:end] = bytes(end - start)
            changed.append(name)
    dropped = sum(1 for _ in extensions(block))
    at = _HEADER_SIZE[block.header.nifti_version]
    if len(data) >= at + 4 and (data[at] or any(data[at + 4 :])):
        data[at:] = bytes(len(data) - at)
        changed.append(count(dropped, "extension"))
    return bytes(data), tuple(changed)
