"""What the privacy scan reports: masked findings, what was scanned, and the defacing of each image.

A :class:`Finding` names the file that holds a value (and, for a sidecar, the image it describes;
for a folder of DICOM files, how many of them hold it), the field, column or line, the kind, a
masked value (kind and length, never a part of the value) and a severity, ``identifying`` or
``review``. The :class:`PrivacyReport` is recorded in the manifest (``privacy``), printed by
``build`` and ``inspect``, and read by ``push``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..common.rows import DatasetInfo
from ..common.units import count
from .defacing import Defacing
from .privacy_record import (
    DefacingRecord,
    Finding,
    PrivacyRecord,
    defacing_line,
    record_lines,
)


@dataclass(frozen=True)
class Scanned:
    """How many things of each sort the scan read."""

    images: int = 0
    metadata_files: int = 0  # JSON and tables
    text_files: int = 0  # README, CHANGES, notes, scripts under code/
    dicom_files: int = 0
    paths: int = 0

    def phrase(self) -> str:
        parts = [count(self.images, "image"), count(self.metadata_files, "metadata file")]
        if self.text_files:
            parts.append(count(self.text_files, "text file"))
        if self.dicom_files:
            parts.append(count(self.dicom_files, "DICOM file"))
        return ", ".join(parts)


@dataclass(frozen=True)
class PrivacyReport:
    """What was scanned and found: counts, masked findings, defacing per anatomical image."""

    scanned: Scanned
    findings: tuple[Finding, ...]
    defacing: tuple[Defacing, ...] = ()
    excluded_fields: tuple[str, ...] = ()
    excluded_columns: tuple[str, ...] = ()
    dicom_tags_excluded: bool = False
    known_identifiers: int = 0  # how many the user's list held (the list itself is not kept)
    left_out: dict[str, int] | None = None  # participants/sessions the filter leaves out
    seconds: float = 0.0  # how long the scan took

    @property
    def images(self) -> int:
        return self.scanned.images

    @property
    def metadata_files(self) -> int:
        return self.scanned.metadata_files

    @property
    def identifying(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "identifying")

    def summary(self) -> str:
        scanned = f"{self.scanned.phrase()} scanned"
        review = len(self.findings) - len(self.identifying)
        if not self.identifying:
            more = f", {review:,} to review" if review else ""
            return f"privacy: {scanned}; no identifying fields found{more}"
        return (
            f"privacy: {scanned}; {len(self.identifying):,} identifying, {review:,} to review "
            f"(values masked; see docs/how-to/clean-public-release.md)"
        )

    def lines(self) -> list[str]:
        """The summary, the findings (the first MAX_LISTED) and the defacing line."""
        return record_lines(self.record())

    def record(self) -> PrivacyRecord:
        """The report as the manifest, ``--json`` and ``push`` read it (values masked)."""
        kinds: dict[str, Counter[str]] = {}
        for f in self.findings:
            kinds.setdefault(f.kind, Counter())[f.severity] += 1
        return PrivacyRecord(
            scanned=True,
            images_scanned=self.scanned.images,
            metadata_files_scanned=self.scanned.metadata_files,
            text_files_scanned=self.scanned.text_files,
            dicom_files_scanned=self.scanned.dicom_files,
            paths_scanned=self.scanned.paths,
            identifying=len(self.identifying),
            review=len(self.findings) - len(self.identifying),
            kinds={k: dict(c) for k, c in sorted(kinds.items())},
            findings=self.findings,
            defacing=defacing_record(self.defacing),
            excluded_fields=self.excluded_fields,
            excluded_columns=self.excluded_columns,
            dicom_tags_excluded=self.dicom_tags_excluded,
            known_identifiers_searched=self.known_identifiers,
            participants_left_out=(self.left_out or {}).get("participants_left_out", 0),
            sessions_left_out=(self.left_out or {}).get("sessions_left_out", 0),
            seconds=round(self.seconds, 4),
            summary=self.summary(),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.record().to_dict()


def defacing_record(defacing: Sequence[Defacing]) -> DefacingRecord:
    counts = Counter(d.status for d in defacing)
    record = DefacingRecord(
        anatomical_images=len(defacing),
        defaced=counts["defaced"],
        not_defaced=counts["not defaced"],
        cannot_tell=counts["cannot tell"],
        images=tuple({"path": d.path, "status": d.status, "why": d.why} for d in defacing),
    )
    return dataclasses.replace(record, summary=defacing_line(record) if defacing else "")


WITHHELD = (
    "(not shown: the privacy scan found identifying values in the dataset's {what}; see the "
    "Privacy checks below)"
)
_INFO_FIELDS = {  # dataset_description.json key -> the DatasetInfo field the card shows
    "Name": "title",
    "Authors": "authors",
    "HowToAcknowledge": "citation",
    "Acknowledgements": "acknowledgements",
    "ReferencesAndLinks": "references",
}


def withheld(info: DatasetInfo, report: PrivacyReport | None) -> DatasetInfo:
    """The dataset's own words for the card and the manifest, without those that hold an
    identifying finding (a README that names a participant is not copied onto the card)."""
    if report is None:
        return info
    changes: dict[str, Any] = {}
    for f in report.identifying:
        name = f.file.rsplit("/", 1)[-1]
        if "/" not in f.file and name.lower().startswith("readme"):
            changes["description"] = WITHHELD.format(what="README")
        elif f.file == "dataset_description.json":
            key = _INFO_FIELDS.get(f.field.split(".", 1)[0].split("[", 1)[0])
            if key:
                empty = () if isinstance(getattr(info, key), tuple) else ""
                changes[key] = WITHHELD.format(what=f.field) if empty == "" else empty
    return dataclasses.replace(info, **changes) if changes else info
