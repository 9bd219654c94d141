"""Comparing a dataset folder with what comes back from a build and an export.

``compare_trees(source, exported)`` lists, file for file and byte for byte, what is missing from
the exported tree, what it has that the source has not, and what differs (version-control
folders aside: a build does not publish them). ``why_missing`` sorts a
missing file by the reason a publisher would recognise; ``subject_files`` is what an export of one
subject should hold: that subject's files and every file not under any subject's folder.

Paths are relative POSIX paths; a file name that is not UTF-8 is kept as os.fsdecode gives it.
Links are followed (a link's content is what a reader of the folder sees).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

VCS_FOLDERS = (".git", ".datalad", ".svn", ".hg")  # the only folders a build does not publish
TOP_FOLDERS = ("sourcedata", "stimuli", "code")  # BIDS does not index them; a build publishes them


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links followed) but version control: relative path -> sha256."""
    found = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in VCS_FOLDERS)
        for name in files:
            path = Path(folder) / name
            if path.is_file():
                found[path.relative_to(root).as_posix()] = _sha256(path)
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TreeDiff:
    missing: tuple[str, ...]  # in the source, not exported
    extra: tuple[str, ...]  # exported, not in the source
    mismatched: tuple[str, ...]  # in both, different bytes
    compared: int  # files in both

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.mismatched)


def compare(expected: Mapping[str, str], exported: Mapping[str, str]) -> TreeDiff:
    both = expected.keys() & exported.keys()
    return TreeDiff(
        missing=tuple(sorted(expected.keys() - exported.keys())),
        extra=tuple(sorted(exported.keys() - expected.keys())),
        mismatched=tuple(sorted(p for p in both if expected[p] != exported[p])),
        compared=len(both),
    )


def compare_trees(source: Path, exported: Path) -> TreeDiff:
    return compare(tree_hashes(source), tree_hashes(exported))


def why_missing(path: str, bidsignored: Iterable[str] = ()) -> str:
    """The reason a publisher would give for ``path`` not coming back: a version-control
    folder, a top-level ``sourcedata/``, ``stimuli/`` or ``code/``, a dot file or folder, a
    ``.bidsignore`` pattern (``bidsignored``: the paths the build said it matched), or other."""
    parts = path.split("/")
    if any(p in VCS_FOLDERS for p in parts[:-1]):
        return "version control"
    if parts[0] in TOP_FOLDERS and len(parts) > 1:
        return f"{parts[0]}/"
    if any(p.startswith(".") for p in parts):
        return "dot file"
    if path in set(bidsignored):
        return ".bidsignore"
    return "other"


def subject_of(path: str) -> str | None:
    """The subject whose folder holds ``path`` (``sub-01/...``, ``derivatives/x/sub-01/...``),
    or, for a file outside any subject's folder, the one its name names (a derivative's report:
    ``derivatives/fmriprep/sub-01.html``, or ``sub-01.html`` at the root of a derivative
    dataset)."""
    parts = path.split("/")
    for part in parts[:-1]:
        if part.startswith("sub-"):
            return part[4:]
    for chunk in parts[-1].split("_"):
        if chunk.startswith("sub-"):
            return chunk[4:].split(".")[0]
    return None


def subject_files(files: Iterable[str], label: str) -> set[str]:
    """What an export of subject ``label`` should hold, before what those files name: the files
    under its ``sub-<label>/`` folders, the (derivative) files naming it, and every file of no
    subject."""
    return {f for f in files if subject_of(f) in (label, None)}
