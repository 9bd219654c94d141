"""The privacy scan as the build records it: masked findings in each split's manifest.

The scan itself is :mod:`.privacy`; what it found is kept in the manifest as a
:class:`PrivacyRecord` (values masked: kind and length only) so that later steps that must not
re-scan, ``push`` above all, can read it. The same record gives the lines a person reads
(terminal, ``inspect``) and the card's sentences.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..common.units import count, plural
from .privacy_rules import Severity, mask

MAX_LISTED = 20  # findings listed in a refusal and in the human summary; --json has them all


@dataclass(frozen=True)
class Finding:
    """One value that may identify a participant, masked."""

    file: str  # the file that holds the value (a folder, for a path or DICOM folder finding)
    field: str  # header field, extension and tag, JSON key, table column, "line N", or "path"
    kind: str
    masked: str  # "<date of birth, 10 chars>": kind and length only
    severity: Severity
    describes: str = ""  # for a sidecar: the image it describes (and how many more)
    cells: int = 1  # table columns: how many cells hold such a value
    files: int = 1  # a folder of DICOM files: how many of them hold it

    def line(self) -> str:
        return finding_line(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.files == 1:
            del data["files"]
        return data


def finding(
    file: str,
    where: str,
    kind: str,
    value: str,
    severity: Severity,
    describes: str = "",
    cells: int = 1,
) -> Finding:
    """A finding of ``value``, which is masked here and kept nowhere."""
    return Finding(file, where, kind, mask(kind, value), severity, describes, cells)


@dataclass(frozen=True)
class DefacingRecord:
    """How many anatomical images are defaced, and each one's status with the reason."""

    anatomical_images: int = 0
    defaced: int = 0
    not_defaced: int = 0
    cannot_tell: int = 0
    images: tuple[dict[str, str], ...] = ()  # path, status, why
    summary: str = ""


@dataclass(frozen=True)
class PrivacyRecord:
    """What the privacy scan read and found, and what the build changed on purpose."""

    scanned: bool = False
    images_scanned: int = 0
    metadata_files_scanned: int = 0
    text_files_scanned: int = 0
    dicom_files_scanned: int = 0
    paths_scanned: int = 0
    identifying: int = 0
    review: int = 0
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> severity -> n
    findings: tuple[Finding, ...] = ()
    defacing: DefacingRecord = field(default_factory=DefacingRecord)
    excluded_fields: tuple[str, ...] = ()
    excluded_columns: tuple[str, ...] = ()
    dicom_tags_excluded: bool = False
    known_identifiers_searched: int = 0
    participants_left_out: int = 0
    sessions_left_out: int = 0
    blanked_images: int = 0
    blanked_fields: tuple[str, ...] = ()
    rewritten_files: int = 0
    seconds: float = 0.0  # how long the scan took (not kept in the manifest)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings"] = [f.to_dict() for f in self.findings]
        return _lists(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyRecord:
        known = {f.name for f in fields(cls)}
        values = {k: _tuples(v) for k, v in data.items() if k in known}
        values["kinds"] = data.get("kinds") or {}
        values["findings"] = tuple(Finding(**f) for f in data.get("findings") or ())
        defacing = data.get("defacing") or {}
        values["defacing"] = DefacingRecord(
            **{k: _tuples(v) for k, v in defacing.items() if k != "unknown"}
        )
        return cls(**values)


def _tuples(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def finding_line(finding: Finding) -> str:
    """One finding as a line: ``[identifying] file (describes image): field: kind <masked>``."""
    about = f" (describes {finding.describes})" if finding.describes else ""
    about += f" ({finding.files:,} DICOM files)" if finding.files > 1 else ""
    many = f" in {finding.cells:,} cells" if finding.cells > 1 else ""
    where = f"{finding.file}{about}: {finding.field}"
    return f"[{finding.severity}] {where}: {finding.kind} {finding.masked}{many}"


def listed_lines(findings: Iterable[Finding], indent: str = "  ") -> list[str]:
    """The first MAX_LISTED findings (identifying first), then how many more there are."""
    ordered = sorted(findings, key=lambda f: f.severity != "identifying")
    lines = [indent + finding_line(f) for f in ordered[:MAX_LISTED]]
    if len(ordered) > MAX_LISTED:
        lines.append(f"{indent}... and {len(ordered) - MAX_LISTED:,} more (--json lists them all)")
    return lines


def identifying(records: Iterable[PrivacyRecord]) -> list[Finding]:
    """The identifying findings of several manifests' privacy records, each listed once."""
    seen: dict[str, Finding] = {}
    for record in records:
        for finding in record.findings:
            if finding.severity == "identifying":
                seen.setdefault(finding_line(finding), finding)
    return list(seen.values())


def defacing_line(defacing: DefacingRecord) -> str:
    """``defacing: 3 anatomical images: 1 defaced, 1 not defaced, 1 cannot tell (...)``."""
    cannot = defacing.cannot_tell
    line = (
        f"defacing: {count(defacing.anatomical_images, 'anatomical image')}: "
        f"{defacing.defaced:,} defaced, {defacing.not_defaced:,} not "
        f"defaced, {cannot:,} cannot tell"
    )
    if defacing.not_defaced or cannot:
        line += " (check those before a public release: --json lists each with the reason)"
    return line


def record_lines(record: PrivacyRecord) -> list[str]:
    """A privacy record as a person reads it: summary, findings, defacing, what was changed."""
    if not record.scanned:
        return ["privacy: not scanned"]
    lines = [record.summary, *listed_lines(record.findings)]
    if record.defacing.anatomical_images:
        lines.append(record.defacing.summary)
    if record.blanked_images:
        fields = ", ".join(record.blanked_fields)
        lines.append(
            f"privacy: {count(record.blanked_images, 'image')} stored with header text "
            f"blanked and extensions dropped ({fields}); their sources are unchanged"
        )
    left = [*record.excluded_fields, *record.excluded_columns]
    if left:
        lines.append(f"privacy: left out of the published metadata: {', '.join(left)}")
    if record.dicom_tags_excluded:
        lines.append(
            "privacy: DICOM files published without the attributes PS3.15's Basic Profile "
            "marks (--exclude-dicom-tags)"
        )
    consent = left_out_phrase(record)
    if consent:
        lines.append(f"privacy: {consent}")
    return lines


def left_out_phrase(record: PrivacyRecord) -> str:
    """``2 participants left out by the subject filter: ...``: how many, never who."""
    subjects = record.participants_left_out
    sessions = record.sessions_left_out
    if not subjects and not sessions:
        return ""
    who = [count(subjects, "participant")] if subjects else []
    who += [count(sessions, "session")] if sessions else []
    return (
        f"{' and '.join(who)} left out by the subject/session filter: their rows are not in the "
        f"published participants, sessions, scans and phenotype tables"
    )


# the card's sentences ---------------------------------------------------------------------------
def card_scanned(records: Sequence[PrivacyRecord]) -> str:
    """``Privacy checks: 3 images, 5 metadata files, 1 text file scanned (...)``."""
    total = {
        key: sum(getattr(r, key) for r in records)
        for key in (
            "images_scanned",
            "metadata_files_scanned",
            "text_files_scanned",
            "dicom_files_scanned",
        )
    }
    parts = [
        count(total["images_scanned"], "image"),
        count(total["metadata_files_scanned"], "metadata file"),
    ]
    if total["text_files_scanned"]:
        parts.append(count(total["text_files_scanned"], "text file"))
    if total["dicom_files_scanned"]:
        parts.append(count(total["dicom_files_scanned"], "DICOM file"))
    return (
        f"Privacy checks: {', '.join(parts)} scanned (NIfTI header text and extensions, sidecar "
        f"JSON, tables, text files, DICOM files, paths)"
    )


def card_defacing(records: Sequence[PrivacyRecord]) -> list[str]:
    keys = ("anatomical_images", "defaced", "not_defaced", "cannot_tell")
    total = {k: sum(getattr(r.defacing, k) for r in records) for k in keys}
    if not total["anatomical_images"]:
        return []
    cannot = total["cannot_tell"]
    line = (
        f"Defacing of {count(total['anatomical_images'], 'anatomical image')}, from what the "
        f"dataset says and what the images show: {total['defaced']:,} defaced, "
        f"{total['not_defaced']:,} not defaced"
    )
    if cannot:
        line += f", {cannot:,} cannot tell"
    return [line + ".\n"]


def card_changes(records: Sequence[PrivacyRecord]) -> list[str]:
    """What was left out or changed on purpose, as the card says it."""
    lines = []
    blanked = sum(r.blanked_images for r in records)
    if blanked:
        fields = sorted({f for r in records for f in r.blanked_fields})
        lines.append(
            f"{blanked:,} images are stored with their NIfTI header text blanked and header "
            f"extensions dropped on purpose ({', '.join(fields)}); every other byte is the "
            f"source's, and the sha256 of both is recorded.\n"
        )
    left = sorted({f for r in records for f in r.excluded_fields})
    left += sorted({c for r in records for c in r.excluded_columns})
    if left:
        names = ", ".join(f"`{n}`" for n in left)
        lines.append(f"Left out of the published metadata on purpose: {names}.\n")
    if any(r.dicom_tags_excluded for r in records):
        lines.append(
            "DICOM files are published without the attributes that DICOM PS3.15's Basic "
            "Application Level Confidentiality Profile removes or replaces (patient, dates, "
            "institution, staff, UIDs replaced, private attributes).\n"
        )
    subjects = max((r.participants_left_out for r in records), default=0)
    sessions = max((r.sessions_left_out for r in records), default=0)
    if subjects or sessions:
        who = [count(subjects, "participant")] if subjects else []
        who += [count(sessions, "session")] if sessions else []
        verb = plural(subjects + sessions, "was")
        lines.append(
            f"{' and '.join(who)} {verb} left out of this publication: their rows are not in "
            f"the published participant, session, scan and phenotype tables.\n"
        )
    return lines
