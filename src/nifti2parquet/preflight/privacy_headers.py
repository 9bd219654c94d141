"""The privacy scan of image headers: text fields and extensions (an embedded DICOM header parsed
with pydicom, a CIFTI-2 XML read for its words).

A module of its own, importing only what reading a header needs, so the helper process that
shares the scan (:mod:`..common.helper_process`) starts small.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from functools import partial

from ..common.batched import map_batched
from ..common.dicom_profile import read_dicom
from ..common.nifti import HEADER_BLOCK_LIMIT, read_header_block
from ..common.nifti.header_text import DICOM_CODE, Extension, extensions, text_fields
from ..common.storage import CHECK_BLOCK, Storage
from .privacy_dicom import dicom_attributes
from .privacy_record import Finding, finding
from .privacy_rules import DICOM_TAG, NOT_SCANNED, PrivacyRules, mask
from .privacy_text import HEADER_TEXT, find_in_text

CIFTI_CODE = 32  # NIFTI_ECODE_CIFTI: the CIFTI-2 XML (brain models, label tables, metadata)
_CIFTI_WORDS = re.compile(r"<(Value|Label)\b[^>]*>(.*?)</\1>", re.S)


def header_findings(
    images: Sequence[tuple[str, str]],
    storage: Storage,
    rules: PrivacyRules,
    threads: int,
    pool: Executor | None = None,
) -> list[Finding]:
    """The findings of a chunk of headers, given as (display, url), in one list (module level:
    the helper process runs it, without the modules of the rest of the scan)."""
    found = map_batched(
        partial(_header, storage=storage, rules=rules), images, threads, "n2p-privacy", pool
    )
    return [f for image in found for f in image]


def _header(image: tuple[str, str], storage: Storage, rules: PrivacyRules) -> list[Finding]:
    display, url = image
    try:
        with storage.open(url, CHECK_BLOCK) as f:
            block = read_header_block(f)
    except (OSError, ValueError):
        return []  # the image checks report unreadable files; nothing to scan here
    found = []
    for name, text in text_fields(block):
        found += _text_findings(display, name, text, rules)
    for ext in extensions(block):
        found += _extension_findings(display, ext, rules)
    if not block.complete:
        limit = f"<beyond {HEADER_BLOCK_LIMIT >> 20} MiB of {block.header.vox_offset:,}>"
        found.append(Finding(display, "extensions", NOT_SCANNED, limit, "review"))
    return found


def _text_findings(file: str, where: str, text: str, rules: PrivacyRules) -> list[Finding]:
    """Header text: the free-text rules, with ID-like numbers (converters write IDs there)."""
    return [
        finding(file, where, m.kind, m.text, m.severity)
        for m in find_in_text(text, rules, HEADER_TEXT)
    ]


def _extension_findings(file: str, ext: Extension, rules: PrivacyRules) -> list[Finding]:
    where = f"extension {ext.number} (code {ext.code})"
    if ext.code == DICOM_CODE:
        return _embedded_dicom(file, where + " DICOM", ext.content, rules)
    text = ext.content.split(b"\0", 1)[0]
    if not text or not _looks_like_text(text):
        return []
    decoded = text.decode("utf-8", "replace")
    if ext.code == CIFTI_CODE:
        decoded = _cifti_text(decoded)
    return _text_findings(file, where, decoded, rules)


def _cifti_text(xml: str) -> str:
    """The words of a CIFTI-2 XML that a person may have written: its metadata values and label
    names. Its vertex and voxel index lists and matrices are runs of numbers a converter wrote
    (``982 983 1017`` is no phone number), and its attributes are counts and names of the
    format."""
    return "\n".join(html.unescape(m.group(2)) for m in _CIFTI_WORDS.finditer(xml))


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13) or b >= 0xC0)
    return printable >= len(sample) * 0.9


def _embedded_dicom(file: str, where: str, content: bytes, rules: PrivacyRules) -> list[Finding]:
    """Each identifying attribute of an embedded DICOM header is its own finding."""
    try:
        dataset = read_dicom(content)
        attributes = dicom_attributes(dataset, rules)
    except Exception:  # any failure of a parser fed untrusted bytes: report, never crash
        unparsed = mask("unparsed DICOM", content.decode("latin-1"))
        return [Finding(file, where, DICOM_TAG, unparsed, "review")]
    return [finding(file, f"{where} {a.keyword}", a.kind, a.value, a.severity) for a in attributes]
