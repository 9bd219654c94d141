"""The finished build a push sends: its shards and previews as the manifests record them, and the
card to push (the build's card re-rendered for the repo id, or a hand-edited one as it is).
What a build publishes is :func:`card.published.publication`'s list; this is push's reading of it.

Only sizes are checked against the manifests (a ``stat``, no read): each sha256 was recorded when
the file was written, and the Hub checks it again on upload.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..card.prose import PROSE, CardRecord, read_card_record, read_prose
from ..card.published import PublishedFile, publication
from ..card.readme import README, render_card
from ..common.errors import OptionError, OutputError, Problem
from ..preflight.privacy_record import PrivacyRecord
from ..shards.manifest import Manifest, read_manifests
from ..shards.output import OutputFolder
from .remote import LocalFile, RemoteFile, git_blob_id


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
    privacy: tuple[PrivacyRecord, ...] = ()  # each split's privacy scan, values masked
    card_license: str = ""  # the license the card is rendered with ("": the build's own)

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
    published = publication(manifests)
    shards = _matching(
        output,
        "shards",
        [_shard(output, f) for f in published.shards],
        "run nifti2parquet build again, or verify to see what changed",
    )
    previews = _matching(
        output,
        "previews",
        [_preview(output, f) for f in published.previews],
        "run nifti2parquet build again",
    )
    card = card_to_push(output, manifests, repo_id)
    return LocalBuild(
        output.url,
        published.splits,
        published.data_globs,
        shards,
        card.data,
        card.on_disk,
        card.warnings,
        previews,
        tuple(m.privacy for m in manifests),
        card.license,
    )


def _shard(output: OutputFolder, shard: PublishedFile) -> PushFile | Problem:
    """A shard as the manifest records it, if it still has the recorded size (a ``stat``)."""
    local = output.full(shard.path)
    try:
        size = os.stat(local).st_size
    except FileNotFoundError:
        return Problem(shard.path, "missing (listed in the build manifest)")
    if size != shard.size:
        return Problem(shard.path, f"{size:,} bytes on disk, the build recorded {shard.size:,}")
    return PushFile(shard.path, local, shard.size, shard.sha256)


def _preview(output: OutputFolder, preview: PublishedFile) -> PushFile | Problem:
    """A card's PNG preview, if it is the one the build drew (small: read whole)."""
    local = output.full(preview.path)
    try:
        with open(local, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return Problem(preview.path, "missing (listed in the build manifest)")
    if hashlib.sha256(data).hexdigest() != preview.sha256:
        return Problem(preview.path, "differs from the preview the build drew")
    return PushFile(preview.path, local, len(data), preview.sha256, git_blob_id(data))


def _matching(
    output: OutputFolder, what: str, found: list[PushFile | Problem], hint: str
) -> tuple[PushFile, ...]:
    """The files found, or every problem at once: nothing is pushed from a changed build."""
    problems = [p for p in found if isinstance(p, Problem)]
    if problems:
        raise OutputError(
            f"{output.url}: the {what} do not match the build manifest; nothing was pushed "
            f"({hint}):",
            problems,
        )
    return tuple(f for f in found if isinstance(f, PushFile))


def _manifests(output: OutputFolder) -> list[Manifest]:
    manifests = read_manifests(output)
    if not manifests:
        raise OutputError(
            f"{output.url}: no finished nifti2parquet build here; run nifti2parquet build first"
        )
    return manifests


# the card ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardToPush:
    """The README a push sends (and writes back here when it differs from ``on_disk``)."""

    data: bytes
    on_disk: bytes | None
    license: str = ""  # what it is rendered with, for the record ("": the build's own)
    warnings: tuple[Problem, ...] = ()


def card_to_push(output: OutputFolder, manifests: Sequence[Manifest], repo_id: str) -> CardToPush:
    """The build's card re-rendered for ``repo_id``, with the license it was written with.

    A card that is no longer what nifti2parquet wrote (edited by hand) is pushed as it is, with a
    warning: push never overwrites someone's words.
    """
    prose = read_prose(output)
    on_disk = _card_on_disk(output)
    if on_disk is None:
        return CardToPush(render_card(manifests, repo_id, prose=prose).encode("utf-8"), None)
    record = read_card_record(output)
    license = record.license if record is not None else ""
    if _edited(on_disk, record, manifests, repo_id, prose):
        note = Problem(
            README,
            f"edited since nifti2parquet wrote it: pushed as it is (to keep your words in the "
            f"card the build renders, put them in {PROSE})",
            "warning",
        )
        return CardToPush(on_disk, on_disk, license, (note,))
    card = render_card(manifests, repo_id, license, prose).encode("utf-8")
    return CardToPush(card, on_disk, license)


def _card_on_disk(output: OutputFolder) -> bytes | None:
    if not output.exists(README):
        return None
    with open(output.full(README), "rb") as f:
        return f.read()


def _edited(
    on_disk: bytes,
    record: CardRecord | None,
    manifests: Sequence[Manifest],
    repo_id: str,
    prose: str,
) -> bool:
    """Not the README nifti2parquet last wrote, by the sha256 it recorded. A folder built before
    that record existed has only the text: unedited when it is a card this build renders (for no
    repo id, or for this one)."""
    if record is not None:
        return not record.written(on_disk)
    text = on_disk.decode("utf-8", "replace")
    return all(render_card(manifests, r, prose=prose) != text for r in (None, repo_id))
