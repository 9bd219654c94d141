"""DICOM attributes that identify a patient, after the standard's own de-identification profile.

DICOM PS3.15 Annex E (the Basic Application Level Confidentiality Profile, Table E.1-1) lists every
attribute that de-identification must remove, empty or replace, and says to remove all private
attributes (:mod:`nifti2parquet.common.dicom_profile` reads the table). Every attribute of the
profile that holds a value, and every private attribute, is a finding. The patient's identity (the
Patient module, group 0010, but sex, age, size and weight; the accession number) is identifying;
everything else (dates and times, institution, staff names, device serials, UIDs, descriptions,
private attributes) is review. Any attribute holding a name or ID from the user's list is
identifying; a rules-file field is what the file says. Text values are read by the free-text rules
too (a birth date written into ``ImageComments``...).

The same rules read a code-2 NIfTI header extension (an embedded DICOM header) and a DICOM file
(Part 10, read header-only: ``stop_before_pixels``). A file rewritten by ``--exclude-dicom-tags``
says so in ``DeidentificationMethod``: its replaced UIDs are not findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..common.dicom_profile import METHOD, elements, profile
from .privacy_rules import (
    DATE,
    DEMOGRAPHIC,
    DICOM_TAG,
    LISTED,
    LISTED_FIELD,
    NAME,
    STAFF,
    UID,
    PrivacyRules,
    Severity,
    field_rule,
)
from .privacy_text import HEADER_TEXT, find_in_text

PRIVATE = "DICOM private attribute"
PATIENT_GROUP = 0x0010
_DEMOGRAPHICS = {"PatientSex", "PatientAge", "PatientSize", "PatientWeight", "PatientSexNeutered"}
_IDENTITY = {"AccessionNumber", "IssuerOfAccessionNumberSequence"}
_TEXT_VRS = {"LO", "LT", "SH", "ST", "UT", "UC", "AE", "CS"}


@dataclass(frozen=True)
class Attribute:
    """One finding in a DICOM data set (the value is masked by the caller and kept nowhere)."""

    keyword: str
    kind: str
    value: str
    severity: Severity


def dicom_attributes(dataset: Any, rules: PrivacyRules, excluded: bool = False) -> list[Attribute]:
    """The findings of a parsed data set (and its file meta), each attribute once.

    ``excluded``: ``--exclude-dicom-tags`` will rewrite the published copy, so the profile's
    attributes are not findings (the user's list and rules still are).
    """
    table = profile()
    ours = _ours(dataset)
    found = []
    for element in elements(dataset):
        value = _text(element)
        if not value:
            continue
        keyword = element.keyword or str(element.tag)
        tag = int(element.tag)
        listed = rules.listed_field(keyword)
        classified = None
        if not excluded and not (ours and element.VR == "UI"):
            if element.tag.is_private:
                classified = Attribute(keyword, PRIVATE, value, "review")
            elif table.action(tag):
                classified = _classified(element, keyword, value, rules)
        if listed:
            found.append(Attribute(keyword, LISTED_FIELD, value, listed))
        elif classified and classified.severity == "identifying":
            found.append(classified)
        elif rules.known_in(value):
            found.append(Attribute(keyword, LISTED, value, "identifying"))
        elif classified:
            found.append(classified)
    return found


def _classified(element: Any, keyword: str, value: str, rules: PrivacyRules) -> Attribute:
    rule = field_rule(keyword)
    if element.tag.group == PATIENT_GROUP or keyword in _IDENTITY:
        if keyword in _DEMOGRAPHICS:
            return Attribute(keyword, DEMOGRAPHIC, value, "review")
        kind = rule[0] if rule else (NAME if element.VR == "PN" else DICOM_TAG)
        return Attribute(keyword, kind, value, "identifying")
    if rule:
        return Attribute(keyword, rule[0], value, rule[1])
    kind = {"PN": STAFF, "UI": UID, "DA": DATE, "DT": DATE, "TM": DATE}.get(element.VR, DICOM_TAG)
    if element.VR in _TEXT_VRS:
        worst = [m for m in find_in_text(value, rules, HEADER_TEXT) if m.severity == "identifying"]
        if worst:
            return Attribute(keyword, worst[0].kind, value, "identifying")
    return Attribute(keyword, kind, value, "review")


def _ours(dataset: Any) -> bool:
    """Rewritten by ``--exclude-dicom-tags``: its UIDs are the ones we made."""
    method = dataset.get("DeidentificationMethod")
    return method is not None and METHOD in str(method)


def _text(element: Any) -> str:
    if element.VR == "SQ" or element.value is None:
        return ""
    try:
        return str(element.value).strip()
    except Exception:  # a value pydicom cannot convert: still present, counted by its bytes
        return "?" * len(bytes(element.value or b""))
