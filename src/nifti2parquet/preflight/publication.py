"""The privacy gate of ``push``: no identifying value goes to a public repo unnoticed.

The findings come from what the build recorded in its manifests (masked: kind and length only),
so ``push`` never re-reads the sources. A push to a repo that is or would be public refuses
while identifying findings exist, before any request that changes anything: nothing is created,
uploaded or committed. It says how to proceed: fix the source, leave the fields out and build
again, push ``--private``, or accept with ``--publish-identifying-data``. A private push, or an
accepted public one, goes ahead with a warning naming how many identifying values it carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..common.errors import N2PError, Problem
from .privacy_record import MAX_LISTED, finding_line, identifying

HOW_TO_PROCEED = (
    "fix the source files and build again; or leave the values out and build again "
    "(--exclude-field, --exclude-column, --blank-nifti-headers, --exclude-dicom-tags; "
    "--subject/--session leave participants out); or push with --private; or, "
    "if you have checked them and may publish them, push with --publish-identifying-data "
    "(see docs/how-to/clean-public-release.md)"
)


class PublicationRefused(N2PError):
    """A public push of identifying values that was not accepted explicitly."""

    exit_code = 2


def check_publication(
    records: Sequence[Mapping[str, Any]], repo_id: str, public: bool, accepted: bool
) -> tuple[Problem, ...]:
    """Raise for a public push of identifying findings; otherwise the warnings to show."""
    found = identifying(records)
    unscanned = [r for r in records if not r.get("scanned")]
    warnings = []
    if unscanned:
        warnings.append(
            Problem(
                repo_id,
                "the build has no privacy scan on record (built before it existed, or with the "
                "scan off); build again to check for identifying values",
                "warning",
            )
        )
    if not found:
        return tuple(warnings)
    if public and not accepted:
        shown = [_problem(f) for f in found[:MAX_LISTED]]
        if len(found) > MAX_LISTED:
            more = f"{len(found) - MAX_LISTED:,} more; inspect SOURCE --json lists them all"
            shown.append(Problem("...", more))
        raise PublicationRefused(
            f"{repo_id} is or would be public, and the build found {len(found):,} identifying "
            f"value{'s' if len(found) != 1 else ''} (masked below); nothing was pushed. To "
            f"proceed: {HOW_TO_PROCEED}:",
            shown,
        )
    where = (
        "a public repo (accepted with --publish-identifying-data)" if public else "a private repo"
    )
    warnings.append(
        Problem(
            repo_id,
            f"pushing {len(found):,} identifying value{'s' if len(found) != 1 else ''} found by "
            f"the build's privacy scan to {where}; keep it private until they are removed",
            "warning",
        )
    )
    return tuple(warnings)


def _problem(finding: Mapping[str, Any]) -> Problem:
    """A finding as ``file (describes ...): field: kind <masked>``, its file first."""
    line = finding_line(finding)
    where, _, rest = line[len("[identifying] ") :].partition(f": {finding['field']}: ")
    return Problem(where, f"{finding['field']}: {rest}")
