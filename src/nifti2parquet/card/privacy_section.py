"""The card's "Privacy checks" section: what the preflight scanned and found (kinds and counts,
never a value), the defacing statement, and what was left out or changed on purpose."""

from __future__ import annotations

from collections.abc import Sequence

from ..preflight.privacy_record import card_changes, card_defacing, card_scanned
from ..shards.manifest import Manifest


def privacy_section(manifests: Sequence[Manifest]) -> str:
    """What the privacy preflight scanned and found (kinds and counts, never a value), the
    defacing statement, and what was left out or changed on purpose."""
    records = [m.privacy for m in manifests if m.privacy.get("scanned")]
    lines = ["## Privacy checks\n"]
    if not records:
        lines.append("No privacy scan was recorded for this build.\n")
        return "\n".join(lines)
    scanned = card_scanned(records)
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
    lines += card_defacing(records) + card_changes(records)
    lines.append(
        "This is a preflight of what the files say, not a guarantee of de-identification: "
        "it looks for the shapes of identifiers, not for the meaning of free text, and it "
        "judges faces from a few voxels.\n"
    )
    return "\n".join(lines)
