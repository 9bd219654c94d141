"""The privacy scan as the build records it: masked findings in each split's manifest.

The scan itself lives in ``checking/``; what it found is kept in the manifest (values masked:
kind and length only) so that later steps that must not re-scan, ``push`` above all, can read it.
The same record gives the lines a person reads (terminal, ``inspect``) and the card's sentences.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..common.units import count

MAX_LISTED = 20  # findings listed in a refusal and in the human summary; --json has them all


def finding_line(finding: Mapping[str, Any]) -> str:
    """One finding as a line: ``[identifying] file (describes image): field: kind <masked>``."""
    about = f" (describes {finding['describes']})" if finding.get("describes") else ""
    files = finding.get("files", 1)
    about += f" ({files:,} DICOM files)" if files > 1 else ""
    cells = finding.get("cells", 1)
    many = f" in {cells:,} cells" if cells > 1 else ""
    where = f"{finding['file']}{about}: {finding['field']}"
    return f"[{finding['severity']}] {where}: {finding['kind']} {finding['masked']}{many}"


def listed_lines(findings: Iterable[Mapping[str, Any]], indent: str = "  ") -> list[str]:
    """The first MAX_LISTED findings (identifying first), then how many more there are."""
    ordered = sorted(findings, key=lambda f: f["severity"] != "identifying")
    lines = [indent + finding_line(f) for f in ordered[:MAX_LISTED]]
    if len(ordered) > MAX_LISTED:
        lines.append(f"{indent}... and {len(ordered) - MAX_LISTED:,} more (--json lists them all)")
    return lines


def identifying(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The identifying findings of several manifests' privacy records, each listed once."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        for finding in record.get("findings", ()):
            if finding.get("severity") == "identifying":
                seen.setdefault(finding_line(finding), finding)
    return list(seen.values())


def defacing_line(defacing: Mapping[str, Any]) -> str:
    """``defacing: 3 anatomical images: 1 defaced, 1 not defaced, 1 cannot tell (...)``."""
    cannot = defacing.get("cannot_tell", 0) + defacing.get("unknown", 0)
    line = (
        f"defacing: {count(defacing['anatomical_images'], 'anatomical image')}: "
        f"{defacing.get('defaced', 0):,} defaced, {defacing.get('not_defaced', 0):,} not "
        f"defaced, {cannot:,} cannot tell"
    )
    if defacing.get("not_defaced") or cannot:
        line += " (check those before a public release: --json lists each with the reason)"
    return line


def record_lines(record: Mapping[str, Any]) -> list[str]:
    """A privacy record as a person reads it: summary, findings, defacing, what was changed."""
    if not record.get("scanned"):
        return ["privacy: not scanned"]
    lines = [record["summary"], *listed_lines(record.get("findings", ()))]
    defacing = record.get("defacing") or {}
    if defacing.get("anatomical_images"):
        lines.append(defacing["summary"])
    if record.get("blanked_images"):
        fields = ", ".join(record.get("blanked_fields", ()))
        lines.append(
            f"privacy: {record['blanked_images']:,} images stored with header text blanked and "
            f"extensions dropped ({fields}); their sources are unchanged"
        )
    left = [*record.get("excluded_fields", ()), *record.get("excluded_columns", ())]
    if left:
        lines.append(f"privacy: left out of the published metadata: {', '.join(left)}")
    if record.get("dicom_tags_excluded"):
        lines.append(
            "privacy: DICOM files published without the attributes PS3.15's Basic Profile "
            "marks (--exclude-dicom-tags)"
        )
    consent = left_out_phrase(record)
    if consent:
        lines.append(f"privacy: {consent}")
    return lines


def left_out_phrase(record: Mapping[str, Any]) -> str:
    """``2 participants left out by the subject filter: ...``: how many, never who."""
    subjects = record.get("participants_left_out", 0)
    sessions = record.get("sessions_left_out", 0)
    if not subjects and not sessions:
        return ""
    who = [count(subjects, "participant")] if subjects else []
    who += [count(sessions, "session")] if sessions else []
    return (
        f"{' and '.join(who)} left out by the subject/session filter: their rows are not in the "
        f"published participants, sessions, scans and phenotype tables"
    )


# the card's sentences ---------------------------------------------------------------------------
def card_scanned(records: Sequence[Mapping[str, Any]]) -> str:
    """``Privacy checks: 3 images, 5 metadata files, 1 text file scanned (...)``."""
    total = {
        key: sum(r.get(key, 0) for r in records)
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


def card_defacing(records: Sequence[Mapping[str, Any]]) -> list[str]:
    keys = ("anatomical_images", "defaced", "not_defaced", "cannot_tell", "unknown")
    total = {k: sum((r.get("defacing") or {}).get(k, 0) for r in records) for k in keys}
    if not total["anatomical_images"]:
        return []
    cannot = total["cannot_tell"] + total["unknown"]
    line = (
        f"Defacing of {count(total['anatomical_images'], 'anatomical image')}, from what the "
        f"dataset says and what the images show: {total['defaced']:,} defaced, "
        f"{total['not_defaced']:,} not defaced"
    )
    if cannot:
        line += f", {cannot:,} cannot tell"
    return [line + ".\n"]


def card_changes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """What was left out or changed on purpose, as the card says it."""
    lines = []
    blanked = sum(r.get("blanked_images", 0) for r in records)
    if blanked:
        fields = sorted({f for r in records for f in r.get("blanked_fields", ())})
        lines.append(
            f"{blanked:,} images are stored with their NIfTI header text blanked and header "
            f"extensions dropped on purpose ({', '.join(fields)}); every other byte is the "
            f"source's, and the sha256 of both is recorded.\n"
        )
    left = sorted({f for r in records for f in r.get("excluded_fields", ())})
    left += sorted({c for r in records for c in r.get("excluded_columns", ())})
    if left:
        names = ", ".join(f"`{n}`" for n in left)
        lines.append(f"Left out of the published metadata on purpose: {names}.\n")
    if any(r.get("dicom_tags_excluded") for r in records):
        lines.append(
            "DICOM files are published without the attributes that DICOM PS3.15's Basic "
            "Application Level Confidentiality Profile removes or replaces (patient, dates, "
            "institution, staff, UIDs replaced, private attributes).\n"
        )
    subjects = max((r.get("participants_left_out", 0) for r in records), default=0)
    sessions = max((r.get("sessions_left_out", 0) for r in records), default=0)
    if subjects or sessions:
        who = [count(subjects, "participant")] if subjects else []
        who += [count(sessions, "session")] if sessions else []
        verb = "was" if subjects + sessions == 1 else "were"
        lines.append(
            f"{' and '.join(who)} {verb} left out of this publication: their rows are not in "
            f"the published participant, session, scan and phenotype tables.\n"
        )
    return lines
