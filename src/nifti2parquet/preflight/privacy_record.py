"""The privacy scan as the build records it: masked findings in each split's manifest.

The scan itself lives in ``checking/``; what it found is kept in the manifest (values masked:
kind and length only) so that later steps that must not re-scan, ``push`` above all, can read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_LISTED = 20  # findings listed in a refusal and in the human summary; --json has them all


def finding_line(finding: Mapping[str, Any]) -> str:
    """One finding as a line: ``[identifying] file (describes image): field: kind <masked>``."""
    about = f" (describes {finding['describes']})" if finding.get("describes") else ""
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
    return lines
