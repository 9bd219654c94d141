"""What ``push --dry-run`` says before anything is sent: the plan, and the privacy decision.

A dry run needs neither a token nor the network. When the Hub cannot be asked (no token, offline
mode, a Hub that does not resolve or refuses connections), the plan is made as for a repo that
does not exist yet, and the privacy decision as for a public one (``--private``: a private one),
and one line says that it is offline and why. Online or not, a dry run states the privacy decision
the push would take, and exits 0 even when that decision is a refusal: it is a preview.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..common.errors import OptionError, Problem
from ..common.units import count
from ..preflight.privacy_record import identifying
from ..preflight.publication import PublicationRefused, check_publication
from .client import HubUnreachableError, check_hub_access
from .local_build import LocalBuild
from .push_options import PushOptions
from .push_plan import PushPlan, RemoteState, plan_push

CLEAN_RELEASE = "docs/how-to/clean-public-release.md"


def offline_reason(options: PushOptions) -> str | None:
    """Why the Hub cannot be asked (for a dry run: then it plans offline); None when it can.
    A real push raises instead: it cannot go ahead."""
    try:
        check_hub_access(options.token, need_token=True, what="push")
    except (OptionError, HubUnreachableError) as exc:
        if not options.dry_run:
            raise
        return exc.message.removesuffix("; nothing was pushed").removesuffix("; nothing was done")
    return None


def offline_plan(local: LocalBuild, repo_id: str, options: PushOptions) -> PushPlan:
    """The plan as for a repo that does not exist yet: create it, upload everything."""
    revision = options.revision or "main"
    remote = RemoteState(False, revision, None, {}, create_branch=revision != "main")
    return plan_push(local, remote, repo_id, options)


def offline_line(reason: str, repo_id: str, private: bool) -> str:
    """The one line that says the plan was made offline, why, and what it assumes."""
    visibility = "private (--private)" if private else "public"
    return (
        f"offline: {reason}; planned as if {repo_id} did not exist yet and would be created "
        f"{visibility}"
    )


def privacy_decision(
    records: Sequence[Mapping[str, Any]], repo_id: str, public: bool, accepted: bool
) -> tuple[str, tuple[Problem, ...]]:
    """The decision a push would take on the build's privacy findings, as one line, and the
    warnings it would give (the same rules as :func:`check_publication`, never raising)."""
    found = len(identifying(records))
    try:
        warnings = check_publication(records, repo_id, public, accepted)
    except PublicationRefused:
        return (
            f"privacy: a push to the public repo {repo_id} would be refused: the build found "
            f"{count(found, 'identifying value')} (push --private, or see {CLEAN_RELEASE})",
            (),
        )
    if not found:
        return (
            f"privacy: a push to {repo_id} would go ahead: the build's privacy scan found no "
            "identifying value",
            warnings,
        )
    where = "public" if public else "private"
    accepted_note = " (accepted with --publish-identifying-data)" if public else ""
    return (
        f"privacy: a push to the {where} repo {repo_id} would go ahead with "
        f"{count(found, 'identifying value')}{accepted_note}",
        warnings,
    )
