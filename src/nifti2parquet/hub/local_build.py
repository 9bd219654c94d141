"""The finished build a push sends: its shards and previews as the manifests record them, and the
card to push (the build's card re-rendered for the repo id, or a hand-edited one as it is).

Only sizes are checked against the manifests (a ``stat``, no read): each sha256 was recorded when
the file was written, and the Hub checks it again on upload.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..card.prose import CARD_RECORD, PROSE, card_edited, read_prose
from ..card.readme import README, card_repo_id, render_card
from ..common.errors import OptionError, OutputError, Problem
from ..shards.manifest import Manifest, read_manifests
from ..shards.output import OutputFolder
from .remote import LocalFile, RemoteFile, card_header, git_blob_id


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
    manifests = read_manifests(output)
    if not manifests:
        raise OutputError(
            f"{output.url}: no finished nifti2parquet build here; run nifti2parquet build first"
        )
    return manifests


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
