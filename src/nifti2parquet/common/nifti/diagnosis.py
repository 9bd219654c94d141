"""What a file is when it is not NIfTI: DICOM, text (HTML, JSON...), Git LFS or git-annex pointers.

One message names what the content looks like and what to do about it.
"""

from __future__ import annotations

import re
import struct

DICOM_MESSAGE = "not a NIfTI file (looks like DICOM; convert it to NIfTI first, e.g. with dcm2niix)"
_LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_ANNEX_KEY = re.compile(rb"annex/objects/|\b[A-Z][A-Z0-9]*-s\d+(?:-[a-zA-Z]\d+)*--")
_POINTER_MAX = 1024  # LFS and annex pointers are tiny


def not_nifti_message(content: bytes, name: str) -> str:
    """One message saying what the (non-NIfTI) content is, and what to do about it."""
    if _looks_like_text(content):
        return _text_message(content, name)
    if is_dicom(content):
        return DICOM_MESSAGE
    if len(content) < 4:
        return f"not a NIfTI file (only {len(content)} bytes, too short for a NIfTI header)"
    sizeof_hdr = struct.unpack("<i", content[:4])[0]
    return (
        f"not a NIfTI file (no NIfTI-1/NIfTI-2 header: sizeof_hdr is {sizeof_hdr}, "
        "expected 348 or 540)"
    )


def is_dicom(content: bytes) -> bool:
    """True when the content has the DICOM preamble's ``DICM`` marker at byte 128."""
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
