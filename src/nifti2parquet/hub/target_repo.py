"""The repo a push goes to, read before planning: whether it exists, the head of the target
branch (or pull request), its files. A missing repo or branch is created here (never on a dry run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..common.errors import OptionError
from .push_options import PushOptions
from .push_plan import RemoteState
from .remote import RemoteFile, hub_files
from .retry import HubCalls

if TYPE_CHECKING:
    from huggingface_hub import HfApi

REPO_TYPE = "dataset"
READING = "reading the remote"  # what a failed read is said to have been doing


def read_remote(api: HfApi, repo_id: str, options: PushOptions, calls: HubCalls) -> RemoteState:
    """The target repo, branch and files; creates the repo and branch unless ``dry_run``."""
    info = calls.call(lambda: repo_info(api, repo_id), READING)
    exists = info is not None
    if exists and options.private and not info.private:
        raise OptionError(
            f"{repo_id} already exists and is public; --private only applies when the repo is "
            f"created (make it private in its settings on the Hub, or push without --private)"
        )
    revision = options.revision or "main"
    if not exists:
        if options.dry_run:
            return RemoteState(False, revision, None, {}, create_branch=revision != "main")
        calls.call(
            lambda: api.create_repo(
                repo_id, repo_type=REPO_TYPE, private=options.private or None, exist_ok=True
            ),
            "creating the repo",
        )
    refs = calls.call(
        lambda: api.list_repo_refs(repo_id, repo_type=REPO_TYPE, include_pull_requests=True),
        READING,
    )
    head, create_branch = _target_head(api, repo_id, revision, refs, options.dry_run, calls)
    files = files_at(api, repo_id, head, calls) if head else {}
    prs = frozenset(p.ref for p in refs.pull_requests or [])
    return RemoteState(True, revision, head, files, create_branch, prs)


def _target_head(
    api: HfApi, repo_id: str, revision: str, refs: Any, dry_run: bool, calls: HubCalls
) -> tuple[str | None, bool]:
    """The head commit of ``revision`` and whether the branch had to be created (from main)."""
    branches = {b.name: b.target_commit for b in refs.branches}
    prs = {p.ref: p.target_commit for p in refs.pull_requests or []}
    if revision in branches:
        return branches[revision], False
    if revision in prs:
        return prs[revision], False
    if revision in {t.name for t in refs.tags}:
        raise OptionError(f"--revision {revision}: is a tag on {repo_id}; push to a branch")
    if revision.startswith("refs/pr/"):
        raise OptionError(f"--revision {revision}: no such pull request on {repo_id}")
    if dry_run:
        return branches.get("main"), True
    calls.call(
        lambda: api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True),
        f"creating branch {revision}",
    )
    return head_of(api, repo_id, revision, calls), True


def repo_info(api: HfApi, repo_id: str) -> Any:
    """The repo's info, or None when it does not exist (or is not visible with this token)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return api.dataset_info(repo_id)
    except RepositoryNotFoundError:
        return None


def head_of(api: HfApi, repo_id: str, revision: str, calls: HubCalls) -> str:
    """The commit ``revision`` (a branch or ``refs/pr/N``) points at now."""
    return calls.call(lambda: _head(api, repo_id, revision), READING)


def files_at(api: HfApi, repo_id: str, commit: str, calls: HubCalls) -> dict[str, RemoteFile]:
    """Every file of the repo at ``commit``, as the Hub describes it."""
    return calls.call(lambda: hub_files(api, repo_id, commit), READING)


def _head(api: HfApi, repo_id: str, revision: str) -> str:
    refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE, include_pull_requests=True)
    for ref in [*refs.branches, *(refs.pull_requests or [])]:
        if revision in (ref.name, ref.ref):
            return ref.target_commit
    info = api.dataset_info(repo_id, revision=revision)
    return str(info.sha)
