"""``--exclude-dicom-tags``: publish DICOM files with the profile's attributes removed.

Without it, every DICOM file under the dataset (``sourcedata/`` of a scanner's export...) is
published byte for byte, and the privacy scan reports what PS3.15's Basic Application Level
Confidentiality Profile marks in it. With it, each DICOM file that holds such an attribute is
rewritten once, before planning, like the other files an exclusion changes
(:mod:`.excluded`): the whole file is read with pydicom and, following the profile's table
(:mod:`nifti2parquet.common.dicom_profile`):

* an attribute the profile says to remove (X, and the choices X/Z, X/D, X/Z/D, X/Z/U*) is removed;
* one it says to empty or to replace with a dummy (Z, D, Z/D) is kept with an empty value, so the
  file keeps its structure (PS3.15 would put a dummy value in place of a D attribute: an empty one
  holds nothing either, and is what the scan can prove);
* a UID (U) is replaced by one derived from it (pydicom's ``generate_uid`` over the old UID), so
  the files of a series still refer to each other and the same input always gives the same bytes;
* every private attribute is removed;
* ``PatientIdentityRemoved`` is set to ``YES`` and ``DeidentificationMethod`` says how.

The pixel data, the transfer syntax and the preamble stay as they are. A ``.dcm.gz`` is inflated,
rewritten and compressed again (gzip, no name, time 0: deterministic). A DICOMDIR is not rewritten
(its records point at byte offsets): leave it out instead.
"""

from __future__ import annotations

import gzip
import io
from typing import Any

from ..common.dicom_profile import METHOD, profile, read_dicom

_REMOVE = ("X", "X/Z", "X/D", "X/Z/D", "X/Z/U*")
_EMPTY = ("Z", "D", "Z/D")


def without_dicom_tags(data: bytes) -> tuple[bytes, int] | None:
    """The file's bytes with the profile applied, and how many attributes it changed; None when
    there is nothing to change (or it is not a DICOM data set pydicom can read)."""
    gzipped = data[:2] == b"\x1f\x8b"
    raw = gzip.decompress(data) if gzipped else data
    try:
        dataset = read_dicom(raw, header_only=False)
    except Exception:  # not DICOM after all, or damaged: published as it is, the scan reports it
        return None
    if getattr(dataset, "DirectoryRecordSequence", None) is not None:
        return None
    changed = _apply(dataset)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = _new_uid(str(meta.MediaStorageSOPInstanceUID))
    if not changed:
        return None
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    out = io.BytesIO()
    dataset.save_as(out)
    stored = out.getvalue()
    if gzipped:
        stored = gzip.compress(stored, compresslevel=6, mtime=0)
    return stored, changed


def _apply(dataset: Any) -> int:
    """Apply the profile to a data set and its sequences' items; the number of changes."""
    table = profile()
    changed = 0
    for element in list(dataset):
        tag = int(element.tag)
        if element.tag.is_private:
            del dataset[element.tag]
            changed += 1
            continue
        action = table.action(tag)
        if action in _REMOVE:
            del dataset[element.tag]
            changed += 1
        elif action in _EMPTY and not _empty(element):
            element.value = [] if element.VR == "SQ" else None
            changed += 1
        elif action == "U" and not _empty(element):
            element.value = _new_uids(element.value)
            changed += 1
        elif element.VR == "SQ":
            changed += sum(_apply(item) for item in element.value or ())
    return changed


def _empty(element: Any) -> bool:
    return element.value is None or element.value == "" or element.value == []


def _new_uids(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_new_uid(str(v)) for v in value]
    return _new_uid(str(value))


def _new_uid(old: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["nifti2parquet", old]))
