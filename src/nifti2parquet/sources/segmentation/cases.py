"""Sorting a segmentation dataset's files into the cases of one split, and everything else.

Every file found is in exactly one place: an image or label of a case (a row), another file of
the dataset (``dataset.json``, ``splits_final.json``, a README, a licence: the ``files`` config),
a file of the other split (built with ``--split``), or left out with its reason (a ``._`` macOS
resource fork; a case ``--case`` does not select). An MSD ``dataset.json``'s ``training`` and
``test`` lists are the truth for their split; without them a split's cases are the images its
folder holds. A file that is named but missing, and a case with a channel or its training label
missing, is an error naming the file; a file in a case folder that fits no case is published in
the ``files`` config with a warning saying why it is not in a row.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...common.errors import Problem
from ...common.segmentation import MSD, NNUNET_V1, NNUNET_V2
from ...common.units import count
from ..bids.crawl import Entry
from .description import DESCRIPTION, Description
from .names import (
    RESOURCE_FORK,
    SPLITS,
    case_matches,
    channel_name,
    channel_of,
    filtered_reason,
    is_resource_fork,
    nifti_stem,
    split_of,
)

NOT_IN_A_ROW = "published in the files config, not in a row"


@dataclass(frozen=True)
class Case:
    """One case: its images (one per image column, None where missing) and its label."""

    case_id: str
    images: tuple[Entry | None, ...]
    label: Entry | None


@dataclass(frozen=True)
class Layout:
    """How the folder stores a case's channels: one file per channel, or all in one file."""

    name: str  # MSD, NNUNET_V1 or NNUNET_V2
    per_channel: bool
    channels: tuple[int, ...]  # per channel: the channel indices, one image column each
    names: tuple[str, ...] = ()  # their names in dataset.json ("" when it names none)


@dataclass
class CaseFiles:
    """The files of one split, sorted."""

    layout: Layout
    cases: list[Case] = field(default_factory=list)
    others: list[Entry] = field(default_factory=list)
    left_out: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    cases_found: int = 0  # before --case


def find_layout(description: Description, entries: Sequence[Entry]) -> Layout:
    """One file per channel (nnU-Net) or the channels in one file (MSD), decided from
    ``dataset.json`` and the files of both splits, so that both splits get the same columns."""
    stems = [
        stem
        for e in entries
        if split_of(e.rel) and "/images" in f"/{e.rel}" and not is_resource_fork(e.rel)
        if (stem := nifti_stem(e.rel)) is not None
    ]
    listed = [image for split in SPLITS for image, _ in description.listed(split) or ()]
    present = {e.rel for e in entries}
    if description.nnunet_v2:
        per_channel = True
    elif listed:  # the lists name each case's one file; nnU-Net v1's name the case only
        per_channel = not any(image in present for image in listed) and any(
            channel_of(s) for s in stems
        )
    else:
        per_channel = bool(stems) and all(channel_of(s) for s in stems)
    name = NNUNET_V2 if description.nnunet_v2 else NNUNET_V1 if per_channel else MSD
    if not per_channel:
        return Layout(name, False, ())
    described = tuple(i for i, _ in description.channels)
    seen = sorted({c[1] for s in stems if (c := channel_of(s))})
    channels = described or tuple(seen)
    names = dict(description.channels)
    return Layout(name, True, channels, tuple(names.get(i, "") for i in channels))


def sort_cases(
    entries: Sequence[Entry],
    description: Description,
    layout: Layout,
    split: str,
    patterns: tuple[str, ...],
) -> CaseFiles:
    """The cases of ``split`` (those ``patterns`` select), every other file, what is left out."""
    folders = SPLITS[split]
    files = CaseFiles(layout)
    mine: dict[str, Entry] = {}
    other_split = 0
    for entry in entries:
        if split_of(entry.rel) not in (None, split):
            other_split += 1
        elif is_resource_fork(entry.rel):
            files.left_out.append(Problem(entry.rel, RESOURCE_FORK, "info"))
        else:
            mine[entry.rel] = entry
    in_folders = {
        rel
        for rel in mine
        if posixpath.dirname(rel) in (folders.images, folders.labels) and nifti_stem(rel)
    }
    candidates = _candidates(description, layout, split, in_folders, files.notes)
    files.cases_found = len(candidates)
    claimed: set[str] = set()
    for case_id, images, label in candidates:
        claimed |= {p for p in (*images, label) if p in mine}
        _add_case(files, case_id, images, label, mine, split, patterns)
    for rel, entry in mine.items():
        if rel not in claimed:
            files.others.append(entry)
            if posixpath.dirname(rel) in (folders.images, folders.labels):
                why = _why_not_a_case(rel, description, layout, split)
                files.notes.append(Problem(rel, why, "warning"))
    files.notes += _count_notes(description, split, files.cases_found, other_split)
    files.cases.sort(key=lambda c: c.case_id)
    return files


Candidate = tuple[str, tuple[str, ...], str]  # case id, image paths (one per column), label path


def _candidates(
    description: Description,
    layout: Layout,
    split: str,
    in_folders: set[str],
    notes: list[Problem],
) -> list[Candidate]:
    """Every case of the split with the paths its files have (or must have)."""
    folders = SPLITS[split]
    listed = description.listed(split)
    ending = description.file_ending
    if listed is not None:
        which = "training" if split == "train" else "test"
        found: dict[str, Candidate] = {}
        for image, label in listed:
            stem, ext = _stem_ext(image)
            if stem is None or stem in found:
                what = "not a NIfTI image: not read" if stem is None else "named twice: read once"
                notes.append(Problem(DESCRIPTION, f"{which} list: {image}: {what}", "warning"))
                continue
            paths = _image_paths(layout, posixpath.dirname(image), stem, image, ext)
            found[stem] = (stem, paths, label or f"{folders.labels}/{stem}{ext}")
        return list(found.values())
    groups: dict[str, str] = {}  # case id -> ending
    for rel in sorted(r for r in in_folders if posixpath.dirname(r) == folders.images):
        stem, ext = _stem_ext(rel)
        if stem is None or (ending and ext != ending):
            continue
        if layout.per_channel:
            channel = channel_of(stem)
            if channel is None or channel[1] not in layout.channels:
                continue
            stem = channel[0]
        groups.setdefault(stem, ext)
    return [
        (
            case_id,
            _image_paths(layout, folders.images, case_id, f"{folders.images}/{case_id}{ext}", ext),
            f"{folders.labels}/{case_id}{ext}",
        )
        for case_id, ext in groups.items()
    ]


def _stem_ext(path: str) -> tuple[str | None, str]:
    stem = nifti_stem(path)
    name = posixpath.basename(path)
    return stem, name[len(stem) :] if stem is not None else ""


def _image_paths(
    layout: Layout, folder: str, case_id: str, image: str, ext: str
) -> tuple[str, ...]:
    if not layout.per_channel:
        return (image,)
    prefix = f"{folder}/" if folder else ""
    return tuple(prefix + channel_name(case_id, i, ext) for i in layout.channels)


def _add_case(
    files: CaseFiles,
    case_id: str,
    images: tuple[str, ...],
    label: str,
    mine: dict[str, Entry],
    split: str,
    patterns: tuple[str, ...],
) -> None:
    present = [p for p in (*images, label) if p in mine]
    if not case_matches(case_id, patterns):
        files.left_out += [Problem(p, filtered_reason(case_id, patterns), "info") for p in present]
        return
    for k, path in enumerate(images):
        if path not in mine:
            what = _channel_words(files.layout, k) + f"of case {case_id}"
            files.left_out.append(Problem(path, f"missing: {what}"))
    if label not in mine and split == "train":
        files.left_out.append(Problem(label, f"missing: the label of training case {case_id}"))
    if present:
        files.cases.append(Case(case_id, tuple(mine.get(p) for p in images), mine.get(label)))


def _channel_words(layout: Layout, k: int) -> str:
    if not layout.per_channel:
        return "the image "
    name = f"({layout.names[k]}) " if layout.names[k] else ""
    return f"channel {layout.channels[k]:04d} {name}"


def _why_not_a_case(rel: str, description: Description, layout: Layout, split: str) -> str:
    listed = description.listed(split)
    folder = posixpath.dirname(rel)
    if listed is not None:
        which = "training" if split == "train" else "test"
        return f"not named in dataset.json's {which} list: {NOT_IN_A_ROW}"
    if folder == SPLITS[split].labels:
        return f"the label of no case in {SPLITS[split].images}/: {NOT_IN_A_ROW}"
    if description.file_ending and not rel.endswith(description.file_ending):
        return f"not a {description.file_ending} image (dataset.json's file_ending): {NOT_IN_A_ROW}"
    channels = ", ".join(f"{i:04d}" for i in layout.channels)
    return f"not named {{case}}_{{channel}} (channels {channels}): {NOT_IN_A_ROW}"


def _count_notes(
    description: Description, split: str, found: int, other_split: int
) -> list[Problem]:
    notes = []
    stated = description.num_training if split == "train" else description.num_test
    key = "numTraining" if split == "train" else "numTest"
    if stated is not None and stated != found:
        notes.append(
            Problem(
                "dataset.json",
                f"{key} is {stated:,}, but the {split} split has {count(found, 'case')}",
                "warning",
            )
        )
    if other_split:
        other = next(name for name in SPLITS if name != split)
        notes.append(
            Problem(
                f"{SPLITS[other].images}/",
                f"{count(other_split, 'file')} of the {other} split, not in this build: build "
                f"them with --split {other} into the same OUTPUT_DIR",
                "warning",
            )
        )
    return notes
