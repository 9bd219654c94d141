"""Sorting the files of a BIDS listing: images to build, metadata files, and what is left out.

Every NIfTI file found (``.nii``, ``.nii.gz``, and the ``.hdr`` of an Analyze pair) is either an
image to build or left out with one reason, checked in this order: ignored (default ignores,
``.bidsignore``), a derivative with ``--no-derivatives``, an Analyze pair, not a valid BIDS name or
place, filtered out by ``--subject/--session/--datatype/--suffix/--task`` (all "info"), and
finally content that cannot be read, such as an unfetched git-annex file ("error").
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ...errors import FILTERED, Problem
from ..nifti import is_nifti_name
from .crawl import Entry
from .ignore import IgnoreRules
from .names import BidsName, parse_name

METADATA_EXTENSIONS = (".json", ".tsv", ".bval", ".bvec")
README_NAMES = ("README", "README.md", "README.txt", "README.rst")
ANALYZE_MESSAGE = (
    "Analyze/NIfTI pair (.hdr + .img): a Nifti column holds single-file images only; convert it "
    "to .nii.gz (nibabel.save(nibabel.load('x.hdr'), 'x.nii.gz')) to include it"
)
NO_DERIVATIVES = "derivative left out (--no-derivatives)"


def is_image_name(name: str) -> bool:
    return is_nifti_name(name) or name.lower().endswith(".hdr")


def wanted_name(name: str) -> bool:
    """The files a BIDS crawl keeps in its listing: images, metadata, and the root's text files."""
    return (
        is_image_name(name)
        or name.endswith(METADATA_EXTENSIONS)
        or name in README_NAMES
        or name == ".bidsignore"
    )


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
class Filters:
    """``--subject/--session/--datatype/--suffix/--task`` globs (labels without ``sub-``...)."""

    subjects: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    datatypes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()

    def reason(self, image: ImageFile) -> str:
        """Why ``image`` is filtered out, or "" when every filter lets it through."""
        checks = [
            ("subject", "--subject", image.subject, _labels(self.subjects, "sub-")),
            ("session", "--session", image.session, _labels(self.sessions, "ses-")),
            ("datatype", "--datatype", image.datatype, self.datatypes),
            ("suffix", "--suffix", image.name.suffix, self.suffixes),
        ]
        task = image.name.get("task")
        if task is not None:  # files without a task (anatomicals) are kept by --task
            checks.append(("task", "--task", task, self.tasks))
        for what, option, value, patterns in checks:
            if patterns and not any(fnmatchcase(value or "", p) for p in patterns):
                shown = "none" if value is None else repr(value)
                return f"{FILTERED}: {what} {shown} does not match {option} {' '.join(patterns)}"
        return ""


def _labels(patterns: Sequence[str], prefix: str) -> tuple[str, ...]:
    return tuple(p[len(prefix) :] if p.startswith(prefix) else p for p in patterns)


@dataclass(frozen=True)
class Tree:
    images: tuple[ImageFile, ...]
    metadata: tuple[MetaFile, ...]
    left_out: tuple[Problem, ...]
    files_found: int


def classify(
    entries: Sequence[Entry], rules: IgnoreRules, filters: Filters, derivatives: bool
) -> Tree:
    """Images to build, metadata files, and every other image file found with its reason."""
    images: list[ImageFile] = []
    metadata: list[MetaFile] = []
    left_out: list[Problem] = []
    found = 0
    for entry in entries:
        name = posixpath.basename(entry.rel)
        if is_image_name(name):
            found += 1
            image, problem = _image(entry, rules, filters, derivatives)
            if image is not None:
                images.append(image)
            else:
                left_out.append(problem)  # type: ignore[arg-type]
        elif name.endswith(METADATA_EXTENSIONS):
            meta = _metadata(entry, rules, derivatives)
            if meta is not None:
                metadata.append(meta)
    return Tree(tuple(images), tuple(metadata), tuple(left_out), found)


def _image(
    entry: Entry, rules: IgnoreRules, filters: Filters, derivatives: bool
) -> tuple[ImageFile | None, Problem | None]:
    rel = entry.rel
    reason = rules.reason(rel)
    if not reason and rel.startswith("derivatives/") and not derivatives:
        reason = NO_DERIVATIVES
    if not reason and rel.lower().endswith(".hdr"):
        reason = ANALYZE_MESSAGE
    if reason:
        return None, Problem(rel, reason, "info")
    try:
        image = locate(entry)
    except ValueError as exc:
        return None, Problem(rel, f"not a valid BIDS file: {exc}", "info")
    reason = filters.reason(image)
    if reason:
        return None, Problem(rel, reason, "info")
    if entry.problem:
        return None, Problem(rel, entry.problem, "error")
    return image, None


def locate(entry: Entry) -> ImageFile:
    """Parse an image's place and name: ``[derivatives/<p>/]sub-X/[ses-Y/]<datatype>/<name>``."""
    parts = entry.rel.split("/")
    pipeline = ""
    if parts[0] == "derivatives":
        if len(parts) < 3:
            raise ValueError("not inside a derivatives/<pipeline>/ folder")
        pipeline, parts = parts[1], parts[2:]
    name = parse_name(parts[-1])
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
    return ImageFile(entry, pipeline, folders[0] if folders else "", name)


def _metadata(entry: Entry, rules: IgnoreRules, derivatives: bool) -> MetaFile | None:
    rel = entry.rel
    if rules.reason(rel) or (rel.startswith("derivatives/") and not derivatives):
        return None
    parts = rel.split("/")
    root = ""
    if parts[0] == "derivatives":
        if len(parts) < 3:
            return None
        root = f"derivatives/{parts[1]}"
    try:
        name = parse_name(parts[-1])
    except ValueError:
        return None
    return MetaFile(entry, root, name)
