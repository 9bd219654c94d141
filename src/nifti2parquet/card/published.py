"""The files a build publishes, whatever it is published to: every split's shards (the image rows'
and the ``files`` config's), the card's preview pictures, and the card itself.

Push sends exactly these and ``verify --repo`` checks exactly these; a second publish target (an
S3 bucket) would start from the same list. The paths are the same in OUTPUT_DIR and in the
published dataset; sizes and sha256 are the ones the build recorded (the card has none: it is
rendered for its target when it is published).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..shards.manifest import Manifest
from .readme import README


@dataclass(frozen=True)
class PublishedFile:
    """A file a build publishes, with the size and sha256 the build recorded for it."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Publication:
    """Everything a build publishes, and the patterns ``datasets`` loads into each split."""

    splits: tuple[str, ...]
    shards: tuple[PublishedFile, ...]
    previews: tuple[PublishedFile, ...]
    data_globs: tuple[tuple[str, str], ...]  # (split, pattern), as the card declares them
    card: str = README

    @property
    def paths(self) -> tuple[str, ...]:
        return (*(f.path for f in self.shards + self.previews), self.card)


def publication(manifests: Sequence[Manifest]) -> Publication:
    """What the finished splits in ``manifests`` publish, in manifest order."""
    shards = tuple(PublishedFile(s.path, s.size, s.sha256) for m in manifests for s in m.all_shards)
    previews = tuple(
        PublishedFile(r.path, r.size, r.sha256)
        for m in manifests
        for r in m.previews
        if r.path  # a column none of whose images could be drawn has no picture
    )
    return Publication(
        splits=tuple(m.split for m in manifests),
        shards=shards,
        previews=previews,
        data_globs=tuple(g for m in manifests for g in m.data_globs()),
    )
