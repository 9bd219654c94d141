"""What a push will do, decided before any byte is sent: a pure function of two listings.

The local build (each shard's size and sha256 from the build manifest, the card to push) is
compared with the remote listing (the Hub's own size and LFS sha256 per file, git blob id for the
README). A file already there is skipped without being read; remote ``data/{split}-*`` files of
the pushed splits that the build does not have are deleted in the final commit, with the README,
never before: a visitor never sees a card promising shards that are not there, and a failed push
never removes data. ``--dry-run`` prints the plan; :mod:`.commits` runs it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..card.readme import README
from ..common.units import count, format_size
from .local_build import LocalBuild, PushFile
from .push_options import PushOptions
from .remote import RemoteFile


@dataclass(frozen=True)
class RemoteState:
    """The target as it was when we planned: the head we build on and its files."""

    exists: bool
    revision: str  # where the commits go (a branch, or refs/pr/N)
    head: str | None  # commit id of ``revision`` (of its base when it is still to be created)
    files: Mapping[str, RemoteFile]
    create_branch: bool = False
    known_prs: frozenset[str] = frozenset()


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
        parts = [count(n, "shard")] if n else []
        parts += [count(len(self.previews), "preview")] if self.previews else []
        parts += [README] if self.card else []
        d = len(self.deletions)
        parts += [count(d, "deletion")] if d else []
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
    def upload_paths(self) -> tuple[str, ...]:
        """Every file the plan sends: shards, previews, and the README when it changed."""
        return (*(f.path for f in self.uploads + self.previews), *([README] if self.card else []))

    @property
    def empty(self) -> bool:
        return not self.batches

    def headline(self) -> str:
        n, k = len(self.uploads), len(self.batches)
        return (
            f"{count(n, 'shard')} to upload ({format_size(self.upload_bytes)})"
            f"{', ' + count(len(self.previews), 'preview') if self.previews else ''}"
            f"{', README.md' if self.card else ''}, {len(self.skipped):,} already on the Hub, "
            f"{len(self.deletions):,} to delete, in {count(k, 'commit')}"
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
            "upload": list(self.upload_paths),
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
