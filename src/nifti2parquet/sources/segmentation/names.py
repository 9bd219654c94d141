"""The names of a segmentation dataset's files: which folder is which split, which file is which
case and channel, and ``--case`` read from a path alone.

``imagesTr/`` and ``labelsTr/`` hold the ``train`` split, ``imagesTs/`` (and, when a dataset has
test labels, ``labelsTs/``) the ``test`` split. An image is ``{case}.nii.gz`` when its channels
are in one file (MSD: along the 4th dimension), or ``{case}_{XXXX}.nii.gz`` with one file per
channel (nnU-Net: ``_0000`` is channel 0); a label is ``{case}.nii.gz``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ...common.errors import FILTERED
from ...common.nifti import is_nifti_name, nifti_stem_and_ext
from ...common.selection import FLAGS, Selection


@dataclass(frozen=True)
class SplitFolders:
    """The folders of one split."""

    images: str
    labels: str


SPLITS = {
    "train": SplitFolders("imagesTr", "labelsTr"),
    "test": SplitFolders("imagesTs", "labelsTs"),
}
CASE_FOLDERS = {f for folders in SPLITS.values() for f in (folders.images, folders.labels)}
RESOURCE_FORK = "macOS resource fork"  # ``._name``: the metadata a Mac copies beside a file
CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def is_resource_fork(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("._")


def split_of(path: str) -> str | None:
    """The split whose folders hold ``path`` (``imagesTs/x.nii.gz`` → test), or None."""
    folder = path.split("/", 1)[0]
    return next((name for name, f in SPLITS.items() if folder in (f.images, f.labels)), None)


def nifti_stem(name: str) -> str | None:
    """``x_0000.nii.gz`` → ``x_0000``; None for a name that is not NIfTI."""
    return nifti_stem_and_ext(name)[0] if is_nifti_name(name) else None


def channel_of(stem: str) -> tuple[str, int] | None:
    """``BRATS_001_0002`` → (``BRATS_001``, 2); None without a 4-digit channel suffix."""
    match = CHANNEL.match(stem)
    return (match["case"], int(match["channel"])) if match else None


def channel_name(case_id: str, index: int, ending: str) -> str:
    return f"{case_id}_{index:04d}{ending}"


def case_matches(case_id: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatchcase(case_id, p) for p in patterns)


def filtered_reason(case_id: str, patterns: tuple[str, ...]) -> str:
    return f"{FILTERED}: case {case_id!r} does not match {FLAGS['cases']} {' '.join(patterns)}"


def case_path_reason(selection: Selection) -> Callable[[str], str]:
    """Why the file at a path of a built dataset is not in ``--case`` ("" when it is). A file in
    a split's folders belongs to the case its name says (the channel suffix is not part of a
    case id: ``imagesTr/BRATS_001_0000.nii.gz`` is case ``BRATS_001``, as is an MSD image
    ``imagesTr/BRATS_001.nii.gz``); every other file (``dataset.json``...) belongs to the whole
    dataset and is always kept."""
    patterns = selection.cases

    def reason(path: str) -> str:
        folder, _, name = path.rpartition("/")
        stem = nifti_stem(name)
        if not patterns or folder not in CASE_FOLDERS or stem is None:
            return ""
        channel = channel_of(stem)
        ids = [stem] + ([channel[0]] if channel else [])
        if any(case_matches(case_id, patterns) for case_id in ids):
            return ""
        return filtered_reason(ids[-1], patterns)

    return reason
