"""``push``: commit a built OUTPUT_DIR to a Hub dataset repo: planned, batched, resumable, verified.

Two stages with a frozen :class:`PushPlan` between them:

1. **Plan** (:func:`plan_push`, a pure function): the local build (each shard's size and sha256
   from the build manifest, the README card re-rendered for the real repo id) against the remote
   listing (the Hub's own size and LFS sha256 per file, git blob id for the README). A file that
   is already there is skipped without being read; a complete re-run uploads nothing, opens no
   shard and makes no commit. Remote ``data/{split}-*`` files of the pushed splits that the build
   does not have are deleted — in the final commit, with the README, never before: a visitor
   never sees a card promising shards that are not there, and a failed push never removes data.
2. **Execute** (:class:`_Pusher`): batches of ``files_per_commit`` shards, each uploaded with
   ``preupload_lfs_files`` (the sha256 comes from the manifest: nothing is re-hashed) and
   committed with ``parent_commit`` = the head we planned against. ``huggingface_hub`` retries
   uploads but never the commit POST, which may land even when the client saw a timeout; so on
   a timeout, a dropped connection, 408/412/5xx or 429 the pusher re-reads the remote head and
   listing and re-sends only what is really missing: a commit that landed is never made twice.

Then the remote is verified (every shard and the README with the right size and sha256, no
stray data file, via :func:`remote.compare_files`) and the dataset URL is returned. Local files
are never deleted. The token is never printed or written: errors are scrubbed of it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..card.prose import CARD_RECORD, PROSE, card_edited, read_prose, write_card
from ..card.readme import README, card_repo_id, render_card
from ..common.errors import N2PError, OptionError, OutputError, Problem, VerifyError
from ..common.progress import Bar, Reporter
from ..shards.manifest import Manifest, built_splits, read_manifest
from ..shards.output import OutputFolder
from ..preflight.privacy_record import identifying
from ..common.units import count, format_size
from .client import (
    ClientSettings,
    RetryPolicy,
    UploadMeter,
    check_hub_access,
    exception_chain,
    http_status,
    hub_session,
    read_timeout_from_env,
    retry_delay,
    scrub,
    xet_error,
)
from ..preflight.publication import check_publication
from .remote import LocalFile, RemoteFile, card_header, compare_files, git_blob_id, hub_files

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, HfApi

DEFAULT_MESSAGE = "Upload NIfTI dataset with nifti2parquet"
DEFAULT_FILES_PER_COMMIT = 50
REPO_TYPE = "dataset"
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


class PushError(N2PError):
    """The Hub refused the push or kept failing. Every commit made stays; a re-run continues."""

    exit_code = 4


@dataclass(frozen=True)
class PushOptions:
    """Everything ``push`` takes besides OUTPUT_DIR and REPO_ID (see docs/reference/push.md)."""

    private: bool = False
    revision: str | None = None  # branch (created from main when missing) or refs/pr/N
    create_pr: bool = False
    token: str | None = None  # default: HF_TOKEN or the saved login
    message: str | None = None
    files_per_commit: int = DEFAULT_FILES_PER_COMMIT
    dry_run: bool = False
    no_xet: bool = False
    read_timeout: float | None = None  # default: NIFTI2PARQUET_HUB_TIMEOUT, else 600 s
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    upload_threads: int = 5
    publish_identifying_data: bool = False  # push to a public repo despite identifying findings

    def check(self) -> None:
        if self.files_per_commit < 1:
            raise OptionError("--files-per-commit must be at least 1")
        if self.create_pr and self.revision and self.revision.startswith("refs/pr/"):
            raise OptionError(
                "--create-pr opens a new pull request; to add to an open one, pass only "
                f"--revision {self.revision}"
            )


# the local build ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushFile:
    """A file the remote must hold: its path in the repo, where it is here, size and sha256."""

    path: str
    local_path: str
    size: int
    sha256: str
    blob_id: str | None = None  # git blob id, for files the Hub stores in git (the README)

    def same_as(self, remote: RemoteFile | None) -> bool:
        """On the Hub already, by the Hub's own records (nothing is read or downloaded)."""
        if remote is None or remote.size != self.size:
            return False
        if remote.sha256 is not None:
            return remote.sha256 == self.sha256
        return self.blob_id is not None and remote.blob_id == self.blob_id


@dataclass(frozen=True)
class LocalBuild:
    """A finished build: its splits, shards (from the manifests) and the card to push."""

    folder: str
    splits: tuple[str, ...]
    globs: tuple[tuple[str, str], ...]  # (split, pattern) of the data files the card declares
    shards: tuple[PushFile, ...]
    card: bytes  # README.md for this repo id: what is pushed and written back locally
    card_on_disk: bytes | None
    warnings: tuple[Problem, ...] = ()
    previews: tuple[PushFile, ...] = ()  # the card's pictures (``previews/{split}/*.png``)
    privacy: tuple[dict[str, Any], ...] = ()  # each split's privacy scan, values masked

    @property
    def card_file(self) -> PushFile:
        return PushFile(
            README,
            os.path.join(self.folder, README),
            len(self.card),
            hashlib.sha256(self.card).hexdigest(),
            git_blob_id(self.card),
        )

    def expected(self) -> list[LocalFile]:
        """What the remote must hold exactly, for :func:`remote.compare_files`."""
        card = self.card_file
        files = [LocalFile(s.path, s.size, s.sha256) for s in self.shards]
        files += [LocalFile(p.path, p.size, p.sha256, p.blob_id) for p in self.previews]
        return [*files, LocalFile(README, card.size, card.sha256, card.blob_id)]

    def data_globs(self) -> list[tuple[str, str]]:
        return list(self.globs)


def read_local_build(output: OutputFolder, repo_id: str) -> LocalBuild:
    """The finished build in ``output``; refuses one that is missing or no longer matches.

    Only sizes are checked against the manifest (a ``stat``, no read): the sha256 was recorded
    when the shard was written, and the Hub checks it again on upload.
    """
    if output.remote:
        raise OptionError(f"{output.url}: push needs OUTPUT_DIR on a local disk")
    manifests = _manifests(output)
    problems: list[Problem] = []
    shards: list[PushFile] = []
    for manifest in manifests:
        for record in manifest.all_shards:
            local = output.full(record.path)
            try:
                size = os.stat(local).st_size
            except FileNotFoundError:
                problems.append(Problem(record.path, "missing (listed in the build manifest)"))
                continue
            if size != record.size:
                message = f"{size:,} bytes on disk, the build recorded {record.size:,}"
                problems.append(Problem(record.path, message))
                continue
            shards.append(PushFile(record.path, local, record.size, record.sha256))
    if problems:
        raise OutputError(
            f"{output.url}: the shards do not match the build manifest; nothing was pushed "
            f"(run nifti2parquet build again, or verify to see what changed):",
            problems,
        )
    previews = _previews(output, manifests, problems)
    if problems:
        raise OutputError(
            f"{output.url}: the previews do not match the build manifest; nothing was pushed "
            f"(run nifti2parquet build again):",
            problems,
        )
    card, on_disk, warnings = _card(output, manifests, repo_id)
    splits = tuple(m.split for m in manifests)
    globs = tuple(g for m in manifests for g in m.data_globs())
    privacy = tuple(m.privacy for m in manifests)
    return LocalBuild(
        output.url, splits, globs, tuple(shards), card, on_disk, warnings, previews, privacy
    )


def _previews(
    output: OutputFolder, manifests: Sequence[Manifest], problems: list[Problem]
) -> tuple[PushFile, ...]:
    """The card's PNG previews, as the manifests record them (small: read whole)."""
    files = []
    for record in (r for m in manifests for r in m.previews if r.get("path")):
        try:
            with open(output.full(record["path"]), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            problems.append(Problem(record["path"], "missing (listed in the build manifest)"))
            continue
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            problems.append(Problem(record["path"], "differs from the preview the build drew"))
            continue
        path = output.full(record["path"])
        files.append(PushFile(record["path"], path, len(data), record["sha256"], git_blob_id(data)))
    return tuple(files)


def _manifests(output: OutputFolder) -> list[Manifest]:
    manifests = [m for s in built_splits(output) if (m := read_manifest(output, s)) is not None]
    if not manifests:
        raise OutputError(
            f"{output.url}: no finished nifti2parquet build here; run nifti2parquet build first"
        )
    return sorted(manifests, key=lambda m: (m.split != "train", m.split))  # as build orders them


def _card(
    output: OutputFolder, manifests: Sequence[Manifest], repo_id: str
) -> tuple[bytes, bytes | None, tuple[Problem, ...]]:
    """The README to push: the build's card re-rendered for ``repo_id``.

    A card that is no longer what the build rendered (edited by hand) is pushed as it is, with a
    warning: push never overwrites someone's words.
    """
    on_disk = None
    if output.exists(README):
        with open(output.full(README), "rb") as f:
            on_disk = f.read()
    prose = read_prose(output)
    if on_disk is None:
        return render_card(manifests, repo_id, prose=prose).encode("utf-8"), None, ()
    text = on_disk.decode("utf-8", "replace")
    license = card_header(text).get("license") or ""
    license = "" if license in ("unknown", "other") else str(license)
    rendered = render_card(manifests, card_repo_id(text), license, prose)
    if card_edited(output) or (not output.exists(CARD_RECORD) and rendered != text):
        note = Problem(
            README,
            f"edited since nifti2parquet wrote it: pushed as it is (to keep your words in the "
            f"card the build renders, put them in {PROSE})",
            "warning",
        )
        return on_disk, on_disk, (note,)
    return render_card(manifests, repo_id, license, prose).encode("utf-8"), on_disk, ()


# the remote -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteState:
    """The target as it was when we planned: the head we build on and its files."""

    exists: bool
    revision: str  # where the commits go (a branch, or refs/pr/N)
    head: str | None  # commit id of ``revision`` (of its base when it is still to be created)
    files: Mapping[str, RemoteFile]
    create_branch: bool = False
    known_prs: frozenset[str] = frozenset()


# the plan -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommitBatch:
    """One commit: shards to add, and in the final one the README and the deletions."""

    uploads: tuple[PushFile, ...]
    deletions: tuple[str, ...] = ()
    card: PushFile | None = None
    previews: tuple[PushFile, ...] = ()  # with the card: its pictures

    @property
    def files(self) -> tuple[PushFile, ...]:
        return self.uploads + self.previews + ((self.card,) if self.card else ())

    @property
    def num_operations(self) -> int:
        return len(self.files) + len(self.deletions)

    def describe(self) -> str:
        """``3 shards``, ``1 shard, README.md, 2 deletions``, ``README.md``."""
        n = len(self.uploads)
        parts = [f"{n:,} shard{'s' if n != 1 else ''}"] if n else []
        parts += [count(len(self.previews), "preview")] if self.previews else []
        parts += [README] if self.card else []
        d = len(self.deletions)
        parts += [f"{d:,} deletion{'s' if d != 1 else ''}"] if d else []
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class PushPlan:
    """What a push will do, decided before any byte is sent (``--dry-run`` prints it)."""

    repo_id: str
    revision: str
    base_head: str | None
    create_repo: bool
    create_branch: bool
    create_pr: bool
    uploads: tuple[PushFile, ...]
    skipped: tuple[PushFile, ...]
    deletions: tuple[str, ...]
    card: PushFile | None  # the README, when it differs from the remote one
    batches: tuple[CommitBatch, ...]
    previews: tuple[PushFile, ...] = ()  # the card's pictures that differ from the remote ones

    @property
    def upload_bytes(self) -> int:
        extras = sum(f.size for f in self.previews) + (self.card.size if self.card else 0)
        return sum(f.size for f in self.uploads) + extras

    @property
    def empty(self) -> bool:
        return not self.batches

    def headline(self) -> str:
        n, k = len(self.uploads), len(self.batches)
        return (
            f"{n:,} shard{'s' if n != 1 else ''} to upload ({format_size(self.upload_bytes)})"
            f"{', ' + count(len(self.previews), 'preview') if self.previews else ''}"
            f"{', README.md' if self.card else ''}, {len(self.skipped):,} already on the Hub, "
            f"{len(self.deletions):,} to delete, in {k:,} commit{'s' if k != 1 else ''}"
        )

    def lines(self) -> list[str]:
        """The plan, one line per file and per commit, for ``--dry-run``."""
        where = f"{self.repo_id}@{self.revision}"
        lines = [f"plan for {where}:"]
        if self.create_repo:
            lines.append("  create the dataset repo")
        if self.create_branch:
            lines.append(f"  create branch {self.revision} from main")
        if self.create_pr:
            lines.append(f"  open a pull request against {self.revision}")
        lines += [f"  upload  {f.path}  {format_size(f.size)}" for f in self.uploads]
        lines += [f"  upload  {f.path}  {format_size(f.size)}" for f in self.previews]
        if self.card:
            lines.append(f"  upload  {README}  {format_size(self.card.size)}")
        lines += [f"  skip    {f.path}  (on the Hub, same size and sha256)" for f in self.skipped]
        lines += [f"  delete  {p}  (not in this build)" for p in self.deletions]
        for i, batch in enumerate(self.batches, 1):
            lines.append(f"  commit {i}/{len(self.batches)}: {batch.describe()}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "create_repo": self.create_repo,
            "create_branch": self.create_branch,
            "create_pr": self.create_pr,
            "upload": [f.path for f in self.uploads + self.previews]
            + ([README] if self.card else []),
            "upload_bytes": self.upload_bytes,
            "skip": [f.path for f in self.skipped],
            "delete": list(self.deletions),
            "commits": [
                {"files": [f.path for f in b.files], "delete": list(b.deletions)}
                for b in self.batches
            ],
        }


def plan_push(
    local: LocalBuild, remote: RemoteState, repo_id: str, options: PushOptions
) -> PushPlan:
    """Compare the build with the remote listing and cut the work into commits (pure)."""
    uploads = tuple(s for s in local.shards if not s.same_as(remote.files.get(s.path)))
    skipped = tuple(s for s in local.shards if s.same_as(remote.files.get(s.path)))
    card = local.card_file
    card_upload = None if card.same_as(remote.files.get(README)) else card
    previews = tuple(p for p in local.previews if not p.same_as(remote.files.get(p.path)))
    deletions = stale_shards(remote.files, local)
    return PushPlan(
        repo_id=repo_id,
        revision=remote.revision,
        base_head=remote.head,
        create_repo=not remote.exists,
        create_branch=remote.create_branch,
        create_pr=options.create_pr,
        uploads=uploads,
        skipped=skipped,
        deletions=deletions,
        card=card_upload,
        batches=commit_batches(uploads, deletions, card_upload, options.files_per_commit, previews),
        previews=previews,
    )


def stale_shards(remote: Mapping[str, RemoteFile], local: LocalBuild) -> tuple[str, ...]:
    """Remote files that ``datasets`` would load into a pushed split (``data/{split}-*``) but
    that this build does not have: an earlier build's shards; and an earlier build's previews
    of a pushed split (``previews/{split}/*.png``)."""
    ours = {s.path for s in local.shards} | {p.path for p in local.previews}
    globs = [g for _, g in local.data_globs()]
    globs += [f"previews/{split}/*.png" for split in local.splits]
    return tuple(
        path
        for path in sorted(remote)
        if path not in ours and any(fnmatch.fnmatchcase(path, g) for g in globs)
    )


def commit_batches(
    uploads: Sequence[PushFile],
    deletions: Sequence[str],
    card: PushFile | None,
    files_per_commit: int,
    previews: Sequence[PushFile] = (),
) -> tuple[CommitBatch, ...]:
    """``files_per_commit`` shards per commit; the README, its previews and the deletions go in
    the last one (in the last shard commit when it has room, else in one more commit)."""
    chunks = [
        tuple(uploads[i : i + files_per_commit]) for i in range(0, len(uploads), files_per_commit)
    ]
    batches = [CommitBatch(chunk) for chunk in chunks]
    finishing = len(deletions) + len(previews) + (1 if card else 0)
    if not finishing:
        return tuple(batches)
    if batches and len(batches[-1].uploads) + finishing <= files_per_commit:
        batches[-1] = CommitBatch(batches[-1].uploads, tuple(deletions), card, tuple(previews))
    else:
        batches.append(CommitBatch((), tuple(deletions), card, tuple(previews)))
    return tuple(batches)


# the result -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushResult:
    """What a push did (or, with ``dry_run``, would do) and what the remote holds now."""

    repo_id: str
    revision: str
    url: str
    plan: PushPlan
    dry_run: bool
    commits: tuple[str, ...] = ()
    pr_url: str | None = None
    pr_revision: str | None = None
    verified_files: int = 0
    verified_bytes: int = 0
    warnings: tuple[Problem, ...] = ()
    seconds: float = 0.0
    sent_bytes: int = 0  # what went over the wire: Xet after deduplication, or LFS bodies

    def summary(self) -> str:
        where = f"{self.repo_id}@{self.pr_revision or self.revision}"
        if self.dry_run:
            return f"dry run for {where}: {self.plan.headline()}; nothing was written"
        plan = self.plan
        if self.commits:
            n = len(self.commits)
            shards = f"{len(plan.uploads):,} shard{'s' if len(plan.uploads) != 1 else ''}"
            done = (
                f"pushed {shards} ({format_size(plan.upload_bytes)})"
                f"{' and ' + count(len(plan.previews), 'preview') if plan.previews else ''}"
                f"{' and README.md' if plan.card else ''}, "
                f"{format_size(self.sent_bytes)} sent after deduplication, "
                f"deleted {len(plan.deletions):,}, "
                f"skipped {len(plan.skipped):,}, in {n:,} commit{'s' if n != 1 else ''}"
            )
        else:
            done = "nothing to push: everything was already there"
        checked = (
            f"verified {self.verified_files:,} files ({format_size(self.verified_bytes)}) "
            f"on {where}"
        )
        return f"{done}; {checked}: {self.pr_url or self.url}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "url": self.url,
            "pr_url": self.pr_url,
            "pr_revision": self.pr_revision,
            "dry_run": self.dry_run,
            "commits": list(self.commits),
            "uploaded_files": len(self.plan.uploads)
            + len(self.plan.previews)
            + (1 if self.plan.card else 0),
            "uploaded_bytes": self.plan.upload_bytes,
            "sent_bytes": self.sent_bytes,
            "skipped_files": len(self.plan.skipped),
            "deleted_files": len(self.plan.deletions),
            "verified_files": self.verified_files,
            "verified_bytes": self.verified_bytes,
            "plan": self.plan.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
        }


# the API --------------------------------------------------------------------------------------
def check_repo_id(repo_id: str) -> str:
    """``namespace/name`` as the Hub accepts it; anything else is refused before any request."""
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or repo_id.endswith((".", ".git")):
        raise OptionError(
            f"{repo_id!r} is not a Hub repo id: write NAMESPACE/NAME, e.g. my-user/my-dataset "
            f"(letters, digits, '-', '_', '.')"
        )
    return repo_id


def push(
    output_dir: str,
    repo_id: str,
    options: PushOptions | None = None,
    reporter: Reporter | None = None,
) -> PushResult:
    """Push the build in ``output_dir`` to the Hub dataset repo ``repo_id``; see the module doc."""
    options = options or PushOptions()
    reporter = reporter or Reporter()
    started = time.monotonic()
    options.check()
    check_repo_id(repo_id)
    output = OutputFolder(output_dir)
    local = read_local_build(output, repo_id)
    check_hub_access(options.token, need_token=True, what="push")
    secrets = _secrets(options.token)
    settings = ClientSettings(read_timeout=options.read_timeout or read_timeout_from_env())
    meter = UploadMeter()
    try:
        locked = _push_lock(output, local.splits, options.dry_run)
        with locked, hub_session(settings, meter, options.no_xet):
            return _Session(output, local, repo_id, options, reporter, meter, started).run()
    except N2PError as exc:
        raise _scrubbed(exc, secrets) from None


def _secrets(token: str | None) -> tuple[str | None, ...]:
    from huggingface_hub import get_token

    try:
        saved = get_token()
    except Exception:  # a broken token file must not stop us from scrubbing the other one
        saved = None
    return (token, saved)


def _scrubbed(exc: N2PError, secrets: tuple[str | None, ...]) -> N2PError:
    problems = [Problem(p.path, scrub(p.message, secrets), p.severity) for p in exc.problems]
    clean = type(exc)(scrub(exc.message, secrets), problems)
    return clean


@contextlib.contextmanager
def _push_lock(output: OutputFolder, splits: Sequence[str], dry_run: bool) -> Iterator[None]:
    """Hold the folder's push lock and its splits' build locks: the shards must not change under
    a push, and two pushes from one folder would race. A dry run writes nothing, not even a lock
    file."""
    if dry_run:
        yield
        return
    with contextlib.ExitStack() as locks:
        for name in ["push", *(f"build-{split}" for split in splits)]:
            try:
                locks.enter_context(output.lock(name))
            except OutputError:
                busy = "push" if name == "push" else "build"
                raise OutputError(
                    f"{output.url}: another nifti2parquet {busy} is using this folder; "
                    f"push when it has finished"
                ) from None
        yield


class _Session:
    """One push: read the remote, plan, (write the card,) execute, verify."""

    def __init__(
        self,
        output: OutputFolder,
        local: LocalBuild,
        repo_id: str,
        options: PushOptions,
        reporter: Reporter,
        meter: UploadMeter,
        started: float,
    ) -> None:
        from huggingface_hub import HfApi

        self.output, self.local, self.repo_id = output, local, repo_id
        self.options, self.reporter, self.meter, self.started = options, reporter, meter, started
        self.api: HfApi = HfApi(token=options.token)
        self.calls = _Calls(options.retry, reporter)
        self.privacy_warnings: tuple[Problem, ...] = ()

    def run(self) -> PushResult:
        self.reporter.step(f"reading {self.repo_id} on the Hub")
        self.privacy_warnings = self._check_publication()
        remote = read_remote(self.api, self.repo_id, self.options, self.calls)
        plan = plan_push(self.local, remote, self.repo_id, self.options)
        url = dataset_url(self.api.endpoint, self.repo_id, plan.revision)
        if self.options.dry_run:
            return self._result(plan, url, dry_run=True)
        if self.local.card != self.local.card_on_disk:
            write_card(self.output, self.local.card)  # the same bytes here and there
        self.reporter.step(plan.headline())
        pusher = _Pusher(self.api, self.repo_id, plan, remote, self.options, self.calls)
        with self._bars(plan) as (bytes_bar, commit_bar):
            self.meter.progress = pusher.track_bytes(bytes_bar)
            pusher.run(commit_bar)
        counts, warnings = self._verify(pusher, remote)
        return self._result(
            plan,
            dataset_url(self.api.endpoint, self.repo_id, pusher.revision),
            commits=tuple(pusher.commits),
            pr_url=pusher.pr_url,
            pr_revision=pusher.revision if pusher.pr_url else None,
            verified_files=counts.get("remote_files", 0),
            verified_bytes=counts.get("remote_bytes", 0),
            warnings=warnings,
            sent_bytes=self.meter.sent,
        )

    def _check_publication(self) -> tuple[Problem, ...]:
        """Before anything is created or sent: refuse a public push of identifying values."""
        if not identifying(self.local.privacy):
            return check_publication(self.local.privacy, self.repo_id, False, False)
        info = self.calls.read(lambda: _repo_info(self.api, self.repo_id))
        public = not (info.private if info is not None else self.options.private)
        accepted = self.options.publish_identifying_data
        return check_publication(self.local.privacy, self.repo_id, public, accepted)

    @contextlib.contextmanager
    def _bars(self, plan: PushPlan) -> Iterator[tuple[Bar, Bar]]:
        """Bytes uploaded (throughput, ETA) and commits made."""
        label = f"uploading {format_size(plan.upload_bytes)}"
        with (
            self.reporter.bar(plan.upload_bytes, label) as bytes_bar,
            self.reporter.bar(len(plan.batches), "commits", unit="commits") as commit_bar,
        ):
            yield bytes_bar, commit_bar

    def _verify(
        self, pusher: _Pusher, remote: RemoteState
    ) -> tuple[dict[str, int], tuple[Problem, ...]]:
        """Every shard and the README on the remote with the right size and sha256."""
        self.reporter.step("verifying the remote")
        if pusher.commits:
            head = self.calls.read(lambda: _head(self.api, self.repo_id, pusher.revision))
            files = self.calls.read(lambda: hub_files(self.api, self.repo_id, head))
        else:
            files = remote.files  # nothing changed since the listing we planned with
        where = f"{self.repo_id}@{pusher.revision}"
        found, counts = compare_files(where, self.local.expected(), files, self.local.data_globs())
        errors = [p for p in found if p.severity == "error"]
        if errors:
            raise VerifyError(
                f"pushed, but the remote does not match the build ({len(errors):,} "
                f"problem{'s' if len(errors) != 1 else ''}); run the same push again:",
                errors,
            )
        warnings = tuple(p for p in found if p.severity != "error")
        return dict(counts), warnings

    def _result(self, plan: PushPlan, url: str, dry_run: bool = False, **kw: Any) -> PushResult:
        warnings = self.local.warnings + self.privacy_warnings + tuple(kw.pop("warnings", ()))
        return PushResult(
            repo_id=self.repo_id,
            revision=plan.revision,
            url=url,
            plan=plan,
            dry_run=dry_run,
            warnings=warnings,
            seconds=time.monotonic() - self.started,
            **kw,
        )


def dataset_url(endpoint: str, repo_id: str, revision: str) -> str:
    base = f"{endpoint.rstrip('/')}/datasets/{repo_id}"
    if revision.startswith("refs/pr/"):
        return f"{base}/discussions/{revision.rsplit('/', 1)[1]}"
    return base if revision == "main" else f"{base}/tree/{quote(revision, safe='')}"


# reading the remote ---------------------------------------------------------------------------
class _Calls:
    """Hub calls with the push's retry policy (reads here; commits in :class:`_Pusher`)."""

    def __init__(self, policy: RetryPolicy, reporter: Reporter) -> None:
        self.policy, self.reporter = policy, reporter
        self.committed = 0  # commits this push made: what a failure may tell the user stays

    def read(self, fn: Callable[[], Any], what: str = "reading the remote") -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                self.wait_or_raise(exc, attempt, what)

    def wait_or_raise(self, exc: Exception, attempt: int, what: str) -> None:
        if isinstance(exc, N2PError):
            raise exc
        wait = retry_delay(exc, attempt, self.policy)
        if wait is None:
            raise hub_error(exc, what, self.committed) from None
        self.reporter.note(
            f"{what}: {_short(exc)}; retrying in {wait:.0f} s "
            f"(attempt {attempt + 1} of {self.policy.attempts})"
        )
        time.sleep(wait)


def read_remote(api: HfApi, repo_id: str, options: PushOptions, calls: _Calls) -> RemoteState:
    """The target repo, branch and files; creates the repo and branch unless ``dry_run``."""
    info = calls.read(lambda: _repo_info(api, repo_id))
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
        calls.read(
            lambda: api.create_repo(
                repo_id, repo_type=REPO_TYPE, private=options.private or None, exist_ok=True
            ),
            "creating the repo",
        )
    refs = calls.read(
        lambda: api.list_repo_refs(repo_id, repo_type=REPO_TYPE, include_pull_requests=True)
    )
    head, create_branch = _target_head(api, repo_id, revision, refs, options.dry_run, calls)
    files = calls.read(lambda: hub_files(api, repo_id, head)) if head else {}
    prs = frozenset(p.ref for p in refs.pull_requests or [])
    return RemoteState(True, revision, head, files, create_branch, prs)


def _target_head(
    api: HfApi, repo_id: str, revision: str, refs: Any, dry_run: bool, calls: _Calls
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
    calls.read(
        lambda: api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True),
        f"creating branch {revision}",
    )
    return calls.read(lambda: _head(api, repo_id, revision)), True


def _repo_info(api: HfApi, repo_id: str) -> Any:
    """The repo's info, or None when it does not exist (or is not visible with this token)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return api.dataset_info(repo_id)
    except RepositoryNotFoundError:
        return None


def _head(api: HfApi, repo_id: str, revision: str) -> str:
    refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE, include_pull_requests=True)
    for ref in [*refs.branches, *(refs.pull_requests or [])]:
        if revision in (ref.name, ref.ref):
            return ref.target_commit
    info = api.dataset_info(repo_id, revision=revision)
    return str(info.sha)


# executing ------------------------------------------------------------------------------------
class _Pusher:
    """Runs the plan's commits in order; owns the commit retry (see the module docstring)."""

    def __init__(
        self,
        api: HfApi,
        repo_id: str,
        plan: PushPlan,
        remote: RemoteState,
        options: PushOptions,
        calls: _Calls,
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
        pending: CommitBatch | None = batch
        attempt = 0
        while pending is not None:
            attempt += 1
            try:
                self._commit(pending, message)
                return
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                self.calls.wait_or_raise(exc, attempt, f"commit ({batch.describe()})")
            pending = self._still_missing(batch)

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
        self.calls.committed += 1
        if self.opening_pr and pr_revision:
            self.revision, self.pr_url, self.opening_pr = pr_revision, pr_url, False

    def _still_missing(self, batch: CommitBatch) -> CommitBatch | None:
        """After a failed commit: what of ``batch`` the remote still lacks (None: it landed)."""
        if self.opening_pr and self._adopt_pr(batch):
            return None
        head = self.calls.read(lambda: _head(self.api, self.repo_id, self.revision))
        files = self.calls.read(lambda: hub_files(self.api, self.repo_id, head))
        if not self.opening_pr:
            self.head = head  # build on whatever is there now (our lost commit, or someone's)
        missing = _missing(batch, files)
        if missing is None and not self.opening_pr and head not in self.commits:
            self.commits.append(head)  # our commit landed though its answer was lost
            self.calls.committed += 1
        return missing

    def _adopt_pr(self, batch: CommitBatch) -> bool:
        """A PR-opening commit whose answer was lost: find the PR it opened, if any."""
        refs = self.calls.read(
            lambda: self.api.list_repo_refs(
                self.repo_id, repo_type=REPO_TYPE, include_pull_requests=True
            )
        )
        new = [p for p in refs.pull_requests or [] if p.ref not in self.known_prs]
        for pr in sorted(new, key=lambda p: -int(p.ref.rsplit("/", 1)[1])):
            files = self.calls.read(
                lambda head=pr.target_commit: hub_files(self.api, self.repo_id, head)
            )
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


# errors ---------------------------------------------------------------------------------------
def _message(exc: BaseException) -> str:
    """What the Hub said (its own message when it sent one), on one line."""
    for error in exception_chain(exc):
        server = getattr(error, "server_message", None)
        if server:
            text = " ".join(str(server).split())
            return f"{exc} ({text})" if error is not exc else text
    text = " ".join(str(exc).split()).split(" (Request ID")[0]
    return text[:400] or type(exc).__name__


def _short(exc: BaseException) -> str:
    status = http_status(exc)
    text = " ".join(str(exc).split()).split(" (Request ID")[0]
    name = type(exc).__name__
    if status is not None:
        return f"HTTP {status}"
    return f"{name}: {text[:160]}" if text else name


def hub_error(exc: BaseException, what: str, committed: int = 0) -> PushError:
    """One clear line for a failure that retrying did not (or cannot) fix; ``committed``: the
    commits this push made before it (only then is there anything that "stays")."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    status = http_status(exc)
    again = (
        f"the {count(committed, 'commit')} already made stay{'s' if committed == 1 else ''}; "
        f"run the same command again to continue"
        if committed
        else "nothing was committed; run the same command again"
    )
    text = _message(exc)
    if isinstance(exc, RevisionNotFoundError):
        return PushError(f"{what}: revision not found on the Hub")
    if isinstance(exc, RepositoryNotFoundError):
        return PushError(
            f"{what}: dataset repo not found (or no access: log in with `hf auth login`, set "
            f"HF_TOKEN or pass --token)"
        )
    if status in (401, 403) and xet_error(exc) is not None and "xet-write-token" not in text:
        return PushError(
            f"{what}: the Xet storage refused its token (HTTP {status}: {text}); check that your "
            f"Hub token has write access to the repo, or push with --no-xet if this network "
            f"blocks Xet storage"
        )
    if status in (401, 403):
        return PushError(
            f"{what}: the Hub refused the credentials (HTTP {status}: {text}); log in with "
            f"`hf auth login`, "
            f"set HF_TOKEN or pass --token with write access"
        )
    detail = f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"
    if status in (400, 422) and "sha256" in text.lower():
        again = (
            "a local file no longer has the sha256 its build recorded: check it with "
            "`nifti2parquet verify OUTPUT_DIR` and build again"
        )
    if xet_error(exc) is not None or "xet" in text.lower():
        again += " (if this network blocks Xet storage, add --no-xet)"
    return PushError(f"{what} failed: {detail}; {again}")
