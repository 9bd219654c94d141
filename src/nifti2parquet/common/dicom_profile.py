"""DICOM PS3.15's de-identification profile, and reading DICOM data sets leniently.

DICOM PS3.15 Annex E (the Basic Application Level Confidentiality Profile, Table E.1-1) lists every
attribute that de-identification must remove (X), empty (Z), replace with a dummy value (D) or a
new UID (U), alone or as a choice (X/Z, X/D, Z/D, X/Z/D, X/Z/U*), and says to remove all private
attributes. The table is read from ``dicom-anonymizer`` (Kitware's maintained transcription of
it, one module per edition of the standard; the newest installed edition is used), so a new
edition is a new package release, not a code change here. The privacy scan reads it to find the
attributes that hold a value; ``--exclude-dicom-tags`` to rewrite the published copies.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, BinaryIO

METHOD = "PS3.15 Basic Profile (nifti2parquet --exclude-dicom-tags)"  # at most 64: LO

_ACTIONS = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


@dataclass(frozen=True)
class Profile:
    """PS3.15 Table E.1-1 as tag → action, and the masked entries (curves, overlays)."""

    edition: str
    actions: dict[int, str]
    masked: tuple[tuple[int, int, str], ...]  # (value, mask, action) over the 32-bit tag

    def action(self, tag: int) -> str | None:
        found = self.actions.get(tag)
        if found:
            return found
        for value, mask, action in self.masked:
            if tag & mask == value:
                return action
        return None


@cache
def profile() -> Profile:
    """The newest edition of the profile that ``dicom-anonymizer`` ships."""
    import dicomanonymizer.dicom_anonymization_databases as databases

    editions = sorted(m.name for m in pkgutil.iter_modules(databases.__path__))
    edition = editions[-1]
    module = importlib.import_module(f"{databases.__name__}.{edition}")
    actions: dict[int, str] = {}
    masked = []
    for name, action in _ACTIONS.items():
        for entry in getattr(module, name):
            if len(entry) == 2:
                actions[(entry[0] << 16) | entry[1]] = action
            else:
                group, element, group_mask, element_mask = entry
                value = (group << 16) | element
                masked.append((value, (group_mask << 16) | element_mask, action))
    return Profile(edition.replace("dicomfields_", ""), actions, tuple(masked))


def elements(dataset: Any) -> Iterator[Any]:
    """Every element of a data set, its file meta first, nested sequences included."""
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        yield from meta.iterall()
    yield from dataset.iterall()


def read_dicom(data: bytes | BinaryIO, header_only: bool = True) -> Any:
    """A DICOM data set parsed leniently by pydicom (Part 10, or a bare data set as dcm2niix
    embeds it). Its warnings are silenced: they would garble the output, and some quote values."""
    import pydicom

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(source, force=True, stop_before_pixels=header_only)
        list(elements(dataset))  # parse now, while warnings are silenced
    return dataset


def is_dicom_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith((".dcm", ".ima", ".dcm.gz", ".ima.gz")) or lower == "dicomdir"


def may_be_dicom(name: str) -> bool:
    """A name a DICOM file may have: a DICOM name, no extension (``IM0001``), or a UID
    (``1.3.12.2.1107.5.2``): its first bytes say whether it is one."""
    base = name.rsplit("/", 1)[-1]
    extension = base.rpartition(".")[2] if "." in base.lstrip(".") else ""
    return is_dicom_name(base) or not extension or extension.isdigit()


def has_dicom_preamble(head: bytes) -> bool:
    """A DICOM Part-10 file: 128 bytes of preamble, then ``DICM``."""
    return len(head) >= 132 and head[128:132] == b"DICM"
