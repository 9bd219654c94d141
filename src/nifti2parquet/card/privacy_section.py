"""The card's "Privacy checks" section: what the preflight scanned and found (kinds and counts,
never a value), the defacing statement, and what was left out or changed on purpose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..common.units import count, plural
from ..shards.manifest import Manifest


def privacy_section(manifests: Sequence[Manifest]) -> str:
    """What the privacy preflight scanned and found (kinds and counts, never a value), the
    defacing statement, and what was left out or changed on purpose."""
    records = [m.privacy for m in manifests if m.privacy.get("scanned")]
    lines = ["## Privacy checks\n"]
    if not records:
        lines.append("No privacy scan was recorded for this build.\n")
        return "\n".join(lines)
    images = sum(r.get("images_scanned", 0) for r in records)
    files = sum(r.get("metadata_files_scanned", 0) for r in records)
    scanned = (
        f"Privacy checks: {count(images, 'image')}, {count(files, 'metadata file')} scanned "
        f"(NIfTI header text and extensions, sidecar JSON, tables, paths)"
    )
    kinds: dict[str, dict[str, int]] = {}
    for r in records:
        for kind, counts in r.get("kinds", {}).items():
            for severity, n in counts.items():
                kinds.setdefault(kind, {}).setdefault(severity, 0)
                kinds[kind][severity] += n
    if not kinds:
        lines.append(scanned + "; no identifying fields found.\n")
    else:
        lines += [scanned + "; found (values are not shown):\n", "| kind | identifying | review |"]
        lines.append("|---|---:|---:|")
        lines += [
            f"| {kind} | {c.get('identifying', 0):,} | {c.get('review', 0):,} |"
            for kind, c in sorted(kinds.items())
        ]
        lines.append("")
    lines += _defacing_lines(records) + _changed_lines(records)
    lines.append(
        "This is a preflight of what the files say, not a guarantee of de-identification: "
        "voxels (faces) and the meaning of free text are not checked.\n"
    )
    return "\n".join(lines)


def _defacing_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    total = {k: sum((r.get("defacing") or {}).get(k, 0) for r in records) for k in _DEFACING}
    if not total["anatomical_images"]:
        return []
    line = (
        f"Defacing of the {count(total['anatomical_images'], 'anatomical image')}, as the dataset "
        f"states it: {total['defaced']:,} defaced, {total['not_defaced']:,} not defaced"
    )
    if total["unknown"]:
        line += f", {total['unknown']:,} unknown (the dataset does not say)"
    return [line + ".\n"]


_DEFACING = ("anatomical_images", "defaced", "not_defaced", "unknown")


def _changed_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    blanked = sum(r.get("blanked_images", 0) for r in records)
    if blanked:
        fields = sorted({f for r in records for f in r.get("blanked_fields", ())})
        lines.append(
            f"{count(blanked, 'image')} {plural(blanked, 'is')} stored with their NIfTI header "
            f"text blanked and header extensions dropped on purpose ({', '.join(fields)}); "
            f"every other byte is the source's, and the sha256 of both is recorded.\n"
        )
    left = sorted({f for r in records for f in r.get("excluded_fields", ())})
    left += sorted({c for r in records for c in r.get("excluded_columns", ())})
    if left:
        names = ", ".join(f"`{n}`" for n in left)
        lines.append(f"Left out of the published metadata on purpose: {names}.\n")
    return lines
