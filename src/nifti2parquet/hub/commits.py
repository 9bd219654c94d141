"""The commits of a push: batches of shards, each uploaded then committed on the head we planned
against, the README, its previews and the deletions in the last one.

Each batch is uploaded with ``preupload_lfs_files`` (the sha256 comes from the manifest: nothing is
re-hashed) and committed with ``parent_commit`` = the head the plan (or the previous batch) is
built on. ``huggingface_hub`` retries uploads but never the commit POST, which may land even when
the client saw a timeout; so on a timeout, a dropped connection, 408/412/5xx or 429 the runner
re-reads the remote head and listing and re-sends only what is really missing: a commit that
landed is never made twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..card.readme import README
from ..common.progress import Bar
from .local_build import PushFile
from .push_options import DEFAULT_MESSAGE, PushOptions
from .push_plan import CommitBatch, PushPlan, RemoteState
from .remote import RemoteFile
from .retry import HubCalls
from .target_repo import READING, REPO_TYPE, files_at, head_of

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, HfApi


class CommitRunner:
    """Runs a plan's commits in order; a commit whose answer was lost is never made twice."""

    def __init__(
        self,
        api: HfApi,
        repo_id: str,
        plan: PushPlan,
        remote: RemoteState,
        options: PushOptions,
        calls: HubCalls,
    ) -> None:
        self.api = api
        self.repo_id = repo_id
        self.plan = plan
        self.options = options
        self.calls = calls
        self.revision = plan.revision
        self.head = plan.base_head
        self.known_prs = remote.known_prs
        self.pr_url: str | None = None
        self.opening_pr = options.create_pr
        self.commits: list[str] = []
        self._done_bytes = 0  # bytes of the batches committed so far
        self._shown = 0  # bytes the bar shows
        self._bar: Bar = Bar()

    # progress
    def track_bytes(self, bar: Bar) -> Callable[[int], None]:
        """The meter's callback: live bytes from the HTTP layer (LFS) or from hf_xet (Xet)."""
        self._bar = bar

        def progress(n: int) -> None:
            self._shown += n
            bar.update(n)

        return progress

    def _settle_bytes(self, batch: CommitBatch) -> None:
        """After a commit, the bar shows at least the bytes committed (objects the Hub already
        had are not seen by the meter)."""
        self._done_bytes += sum(f.size for f in batch.files)
        if self._shown < self._done_bytes:
            self._bar.update(self._done_bytes - self._shown)
            self._shown = self._done_bytes

    # commits
    def run(self, commit_bar: Bar) -> None:
        total = len(self.plan.batches)
        for i, batch in enumerate(self.plan.batches, 1):
            message = self.options.message or DEFAULT_MESSAGE
            if total > 1:
                message = f"{message} (part {i} of {total})"
            self._push_batch(batch, message)
            self._settle_bytes(batch)
            commit_bar.update(1)

    def _push_batch(self, batch: CommitBatch, message: str) -> None:
        pending = batch

        def commit() -> None:
            self._commit(pending, message)

        def still_needed() -> bool:
            nonlocal pending
            missing = self._still_missing(batch)
            if missing is not None:
                pending = missing
            return missing is not None

        self.calls.call_until_landed(commit, f"commit ({batch.describe()})", still_needed)

    def _commit(self, batch: CommitBatch, message: str) -> None:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        adds = [_operation(f) for f in batch.files]
        deletes = [CommitOperationDelete(p) for p in batch.deletions]
        create_pr = self.opening_pr or None
        self.api.preupload_lfs_files(
            self.repo_id,
            adds,
            repo_type=REPO_TYPE,
            revision=self.revision,
            create_pr=create_pr,
            num_threads=self.options.upload_threads,
            free_memory=False,
        )
        operations: list[CommitOperationAdd | CommitOperationDelete] = [*adds, *deletes]
        info: CommitInfo = self.api.create_commit(
            self.repo_id,
            operations,
            commit_message=message,
            commit_description=_description(batch),
            repo_type=REPO_TYPE,
            revision=self.revision,
            create_pr=create_pr,
            parent_commit=self.head,
            num_threads=self.options.upload_threads,
        )
        self._landed(info.oid, info.pr_revision, info.pr_url)

    def _landed(self, oid: str, pr_revision: str | None = None, pr_url: str | None = None) -> None:
        self.head = oid
        self.commits.append(oid)
        if self.opening_pr and pr_revision:
            self.revision, self.pr_url, self.opening_pr = pr_revision, pr_url, False

    def _still_missing(self, batch: CommitBatch) -> CommitBatch | None:
        """After a failed commit: what of ``batch`` the remote still lacks (None: it landed)."""
        if self.opening_pr and self._adopt_pr(batch):
            return None
        head = head_of(self.api, self.repo_id, self.revision, self.calls)
        files = files_at(self.api, self.repo_id, head, self.calls)
        if not self.opening_pr:
            self.head = head  # build on whatever is there now (our lost commit, or someone's)
        missing = _missing(batch, files)
        if missing is None and not self.opening_pr and head not in self.commits:
            self.commits.append(head)  # our commit landed though its answer was lost
        return missing

    def _adopt_pr(self, batch: CommitBatch) -> bool:
        """A PR-opening commit whose answer was lost: find the PR it opened, if any."""
        refs = self.calls.call(
            lambda: self.api.list_repo_refs(
                self.repo_id, repo_type=REPO_TYPE, include_pull_requests=True
            ),
            READING,
        )
        new = [p for p in refs.pull_requests or [] if p.ref not in self.known_prs]
        for pr in sorted(new, key=lambda p: -int(p.ref.rsplit("/", 1)[1])):
            files = files_at(self.api, self.repo_id, pr.target_commit, self.calls)
            if _missing(batch, files) is None:
                number = pr.ref.rsplit("/", 1)[1]
                url = (
                    f"{self.api.endpoint.rstrip('/')}/datasets/{self.repo_id}/discussions/{number}"
                )
                self._landed(pr.target_commit, pr.ref, url)
                return True
        return False


def _operation(file: PushFile) -> Any:
    """An add of a local file by path; the sha256 comes from the build, so nothing re-hashes it
    (the client reads only a 512-byte sample and the size)."""
    from huggingface_hub import CommitOperationAdd

    operation = CommitOperationAdd(file.path, path_or_fileobj=file.local_path)
    if file.blob_id is None:
        operation.upload_info.sha256 = bytes.fromhex(file.sha256)
    return operation


def _missing(batch: CommitBatch, files: Mapping[str, RemoteFile]) -> CommitBatch | None:
    uploads = tuple(f for f in batch.uploads if not f.same_as(files.get(f.path)))
    deletions = tuple(p for p in batch.deletions if p in files)
    card = batch.card if batch.card and not batch.card.same_as(files.get(README)) else None
    previews = tuple(f for f in batch.previews if not f.same_as(files.get(f.path)))
    if not uploads and not deletions and card is None and not previews:
        return None
    return CommitBatch(uploads, deletions, card, previews)


def _description(batch: CommitBatch) -> str:
    lines = [f"Pushed with nifti2parquet: {batch.describe()}."]
    if batch.deletions:
        lines.append("Deleted shards of an earlier build: " + ", ".join(batch.deletions))
    return "\n".join(lines)
