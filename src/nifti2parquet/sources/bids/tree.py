"""Sorting the files of a BIDS listing: images for the rows, every other file, what is left out.

Every file found is in exactly one of three places. A NIfTI file (``.nii``, ``.nii.gz``) with a
valid BIDS name and place, in a part of the tree BIDS indexes, is an image of the rows. Every
other file of the dataset folder is an *other file*, published byte for byte in the ``files``
config: events, sidecars as written, tables, README, dot files, physio, NIfTI files that fit no
row, and everything BIDS does not index (``sourcedata/``, ``stimuli/``, ``code/``, what
``.bidsignore`` lists: :mod:`.ignore` decides what is indexed, never what is published). The rest
is left out with one reason: ``--exclude`` (the publisher's own patterns), a derivative with
``--no-derivatives``, filtered out by ``--subject/--session/--datatype/--suffix/--task`` (all
"info"), or content that cannot be read, such as an unfetched git-annex file ("error").
"""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...common.errors import Problem
from ...common.nifti import is_nifti_name
from ...common.path_patterns import ExcludePatterns
from .crawl import Entry
from .filenames import BidsName, parse_name
from .filters import Filters
from .ignore import IgnoreRules

METADATA_EXTENSIONS = (".json", ".tsv", ".bval", ".bvec")  # ours: the small files we read
NO_DERIVATIVES = "derivative left out (--no-derivatives)"


def wanted_name(name: str) -> bool:
    """A BIDS crawl lists every file: each is published, or left out with its reason."""
    return True


@dataclass(frozen=True, slots=True)
class ImageFile:
    """A NIfTI file that is part of the dataset: where it is and what its name says."""

    entry: Entry
    pipeline: str  # "" for raw data, else the folder under derivatives/
    datatype: str  # the folder under sub-X[/ses-Y]/ ("" for a derivative directly in it)
    name: BidsName

    @property
    def rel(self) -> str:
        return self.entry.rel

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.entry.rel)

    @property
    def root(self) -> str:
        """The dataset this file belongs to: "" (raw) or ``derivatives/<pipeline>``."""
        return f"derivatives/{self.pipeline}" if self.pipeline else ""

    @property
    def subject(self) -> str:
        return self.name.get("sub") or ""

    @property
    def session(self) -> str | None:
        return self.name.get("ses")


@dataclass(frozen=True, slots=True)
class MetaFile:
    """A metadata file with a BIDS name (sidecar JSON, bval/bvec, participants/sessions/scans)."""

    entry: Entry
    root: str
    name: BidsName

    @property
    def rel(self) -> str:
        return self.entry.rel

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.entry.rel)


@dataclass(frozen=True)
class Tree:
    images: tuple[ImageFile, ...]
    metadata: tuple[MetaFile, ...]  # the metadata files that images inherit from, as parsed
    others: tuple[Entry, ...]  # every other file published (the ``files`` config)
    left_out: tuple[Problem, ...]
    notes: tuple[Problem, ...]  # NIfTI files that fit no row: published in ``files``, said why
    files_found: int  # every file listed: images + others + left out


@dataclass(frozen=True)
class Choices:
    """What decides where each file goes, besides the BIDS rules: the user's options."""

    filters: Filters = field(default_factory=Filters)
    derivatives: bool = True
    exclude: ExcludePatterns = field(default_factory=ExcludePatterns)


def classify(entries: Sequence[Entry], rules: IgnoreRules, choices: Choices) -> Tree:
    """Images of the rows, metadata files, other files, and what is left out with its reason."""
    images: list[ImageFile] = []
    metadata: list[MetaFile] = []
    others: list[Entry] = []
    left_out: list[Problem] = []
    notes: list[Problem] = []
    shared: dict = {}  # entity tuples, one per distinct set: a session's files share theirs
    for entry in entries:
        image, problem = _place(entry, rules, choices, shared)
        if image is not None:
            images.append(image)
        elif problem is None or problem.severity == "warning":
            others.append(entry)
            notes += [problem] if problem else []
        else:
            left_out.append(problem)
        if entry.rel.endswith(METADATA_EXTENSIONS) and not _left_out(entry.rel, choices):
            meta = _metadata(entry, rules, shared)
            if meta is not None:
                metadata.append(meta)
    found = len(entries)
    return Tree(tuple(images), tuple(metadata), tuple(others), tuple(left_out), tuple(notes), found)


def _place(
    entry: Entry, rules: IgnoreRules, choices: Choices, shared: dict | None = None
) -> tuple[ImageFile | None, Problem | None]:
    """Where one file goes: an image of the rows; an other file (no problem, or a warning that
    says why a NIfTI file fits no row); or left out ("info": excluded or filtered out; "error":
    it cannot be read)."""
    rel = entry.rel
    reason = _left_out(rel, choices)
    if reason:
        return None, Problem(rel, reason, "info")
    filters = choices.filters
    image, note = None, None
    if is_nifti_name(posixpath.basename(rel)) and _indexed(rel, rules):
        try:
            image = locate(entry, shared)
        except ValueError as exc:  # fits no row: published as an other file, byte for byte
            message = (
                f"not a valid BIDS file ({exc}): stored in the 'files' config, not as an image"
            )
            note = Problem(rel, message, "warning")
    reason = filters.reason(image) if image else filters.other_reason(rel)
    if reason:
        return None, Problem(rel, reason, "info")
    if entry.problem:
        return None, Problem(rel, entry.problem, "error")
    return image, note


def _left_out(rel: str, choices: Choices) -> str:
    """Why the user leaves a file out (``--exclude``, ``--no-derivatives``), or ""."""
    reason = choices.exclude.reason(rel)
    if not reason and rel.startswith("derivatives/") and not choices.derivatives:
        reason = NO_DERIVATIVES
    return reason


def _indexed(rel: str, rules: IgnoreRules) -> bool:
    """Whether BIDS indexes the file (its images can be rows, its sidecars are read); a file it
    does not index is published all the same."""
    return rel == ".bidsignore" or not rules.reason(rel)


def locate(entry: Entry, shared: dict | None = None) -> ImageFile:
    """Parse an image's place and name: ``[derivatives/<p>/]sub-X/[ses-Y/]<datatype>/<name>``."""
    parts = entry.rel.split("/")
    pipeline = ""
    if parts[0] == "derivatives":
        if len(parts) < 3:
            raise ValueError("not inside a derivatives/<pipeline>/ folder")
        pipeline, parts = parts[1], parts[2:]
    name = parse_name(parts[-1], shared)
    folders = parts[:-1]
    subject = name.get("sub")
    if subject is None:
        raise ValueError("the name has no sub-<label> entity")
    if not folders or folders[0] != f"sub-{subject}":
        raise ValueError(f"sub-{subject} in the name but not in a sub-{subject}/ folder")
    folders = folders[1:]
    session = name.get("ses")
    if folders and folders[0].startswith("ses-"):
        if session is None or folders[0] != f"ses-{session}":
            raise ValueError(f"in folder {folders[0]}/ but the name has ses-{session or ''}")
        folders = folders[1:]
    elif session is not None:
        raise ValueError(f"ses-{session} in the name but not in a ses-{session}/ folder")
    if len(folders) > 1:
        raise ValueError(f"too deep: expected sub-{subject}/[ses-<label>/]<datatype>/<file>")
    if not folders and not pipeline:
        raise ValueError("not in a datatype folder (anat/, func/, dwi/, ...)")
    datatype = sys.intern(folders[0]) if folders else ""  # one "anat" for every image
    return ImageFile(entry, sys.intern(pipeline), datatype, name)


def _metadata(entry: Entry, rules: IgnoreRules, shared: dict | None = None) -> MetaFile | None:
    rel = entry.rel
    if not _indexed(rel, rules):
        return None
    parts = rel.split("/")
    root = ""
    if parts[0] == "derivatives":
        if len(parts) < 3:
            return None
        root = f"derivatives/{parts[1]}"
    try:
        name = parse_name(parts[-1], shared)
    except ValueError:
        return None
    return MetaFile(entry, root, name)
