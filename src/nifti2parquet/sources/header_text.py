"""The free text a NIfTI header carries: its text fields and its extensions.

The header's four text fields (``descrip``, ``aux_file``, ``intent_name`` and, in NIfTI-1,
``db_name``) and the extensions after it are where scanners, converters and labs leave words. The
offsets come from nibabel's own header layouts, so they are not written out here. The same
places are read by the privacy scan and blanked by ``--blank-nifti-headers``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .nifti import HeaderBlock

TEXT_FIELDS = ("descrip", "aux_file", "intent_name", "db_name")
DICOM_CODE = 2  # NIFTI_ECODE_DICOM: the extension holds a DICOM header
_HEADER_SIZE = {1: 348, 2: 540}


@functools.cache
def text_field_spans(version: int) -> tuple[tuple[str, int, int], ...]:
    """(name, start, end) of each text field in a NIfTI-``version`` header, from nibabel."""
    from nibabel import nifti1, nifti2

    dtype = nifti1.header_dtype if version == 1 else nifti2.header_dtype
    spans = []
    for name in TEXT_FIELDS:
        if name in dtype.fields:
            field_type, offset = dtype.fields[name][:2]
            spans.append((name, offset, offset + field_type.itemsize))
    return tuple(spans)


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
    count = sum(1 for _ in extensions(block))
    at = _HEADER_SIZE[block.header.nifti_version]
    if len(data) >= at + 4 and (data[at] or any(data[at + 4 :])):
        data[at:] = bytes(len(data) - at)
        changed.append(f"{count} extension{'s' if count != 1 else ''}")
    return bytes(data), tuple(changed)
