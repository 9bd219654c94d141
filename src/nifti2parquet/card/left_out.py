"""The card's "Files left out" section: what of the source folder is not in the dataset, and why.

Three lists, each grouped by folder with counts in at most a screenful of lines
(:mod:`nifti2parquet.common.file_groups`): files the build's selection filtered out, files the
publisher excluded (each ``--exclude`` pattern with its count), and files left out for a problem
(each with its reason). The folders that were not read at all (version control, a nifti2parquet
build inside the source) are named once. The manifest lists every file.

The page is public, and a subject's label can name a person: in the lists of files filtered out
or excluded (often whole subjects who are not published), every ``sub-<label>`` is shown as
``sub-*``, and the groups that then look alike are counted together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..common.dataset_folder import NOT_READ
from ..common.file_groups import Group, LeftOutLists, group_by_folder
from ..common.units import count, plural
from ..shards.manifest import Manifest


def left_out_section(manifests: Sequence[Manifest]) -> str:
    lists = LeftOutLists.of([p for m in manifests for p in m.left_out])
    source = manifests[0].settings.source
    lines = ["## Files left out\n"]
    if lists.filtered:
        selection = " ".join(source.selection.flags()) or "filters"
        n = len(lists.filtered)
        lines += [
            f"{count(n, 'file')} of the source {plural(n, 'was')} filtered out by the build's "
            f"selection (`{selection}`):\n",
            *_folder_table(_masked(group_by_folder(lists.filtered))),
            "",
        ]
    if lists.excluded or source.exclude:
        n = len(lists.excluded)
        lines += [
            f"{count(n, 'file')} {plural(n, 'was')} excluded by the publisher (`--exclude`):\n",
            "| pattern | files |",
            "|---|---:|",
            *(f"| `{p}` | {k:,} |" for p, k in lists.by_pattern(source.exclude).items()),
            "",
        ]
        if lists.excluded:
            lines += [*_folder_table(_masked(group_by_folder(lists.excluded))), ""]
    if lists.other:
        n = len(lists.other)
        lines += [
            f"{count(n, 'file')} {plural(n, 'was')} found but {plural(n, 'is')} not in this "
            "dataset (bad files left out with `--on-error skip`, derivatives left out with "
            "`--no-derivatives`), with the reason:\n",
            *_reason_table(group_by_folder(lists.other)),
            "",
        ]
    skipped = [p for m in manifests for p in m.skipped]
    if skipped:
        shown = ", ".join(f"`{p.path}` ({_why(p.message)})" for p in dict.fromkeys(skipped))
        lines.append(f"Folders not read: {shown}.\n")
    return "\n".join(lines).rstrip("\n") + "\n"


SUBJECT = re.compile(r"(?<![^/_])sub-[^/_.]+")


def _masked(groups: list[Group]) -> list[Group]:
    """Subject labels as ``sub-*``; groups whose labels are then the same, counted together."""
    merged: dict[str, int] = {}
    for group in groups:
        label = SUBJECT.sub("sub-*", group.label)
        merged[label] = merged.get(label, 0) + group.files
    return [Group(label, files) for label, files in merged.items()]


def _folder_table(groups: list[Group]) -> list[str]:
    rows = [f"| `{g.label}` | {g.files:,} |" for g in groups]
    return ["| folder | files |", "|---|---:|", *rows]


def _reason_table(groups: list[Group]) -> list[str]:
    """Each file with its reason, or (a long list) each folder with its count and reason."""
    if all(g.files == 1 and not g.label.endswith("/") for g in groups):
        return [
            "| file | reason |",
            "|---|---|",
            *(f"| `{g.label}` | {g.reason} |" for g in groups),
        ]
    rows = [f"| `{g.label}` | {g.files:,} | {g.reason} |" for g in groups]
    return ["| folder | files | reason |", "|---|---:|---|", *rows]


def _why(message: str) -> str:
    return message.removeprefix(f"{NOT_READ}: ").split(" (")[0]


def has_left_out(manifests: Sequence[Manifest]) -> bool:
    return any(m.left_out or m.skipped or m.settings.source.exclude for m in manifests)
