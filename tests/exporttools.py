"""Helpers shared by the export tests: a BIDS tree with every kind of file export must bring
back, a small build of it, and the trees a user compares (source minus what the build left out,
and what the export wrote)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bids_factory import BidsTree, sessions_tree
from factories import build_options, tree_bytes

from nifti2parquet.commands.build import BuildResult, build
from nifti2parquet.common.dataset_folder import VERSION_CONTROL
from nifti2parquet.common.storage import readable_name

LAYOUTS = ("session", "subject", "file")
EVENTS = "onset\tduration\ttrial_type\n0.0\t2.0\tpicture\n4.0\t2.0\trest\n"
LATIN1_NAME = b"derivatives/lesion_masks/notes-caf\xe9.txt"  # not UTF-8 on disk


def export_tree(root: Path) -> BidsTree:
    """The sessions tree plus what export must bring back beyond images: events, physio, a
    non-BIDS-named NIfTI under derivatives (as FreeSurfer writes), a non-UTF-8 file name."""
    t = sessions_tree(root)
    func = "sub-01/ses-1/func"
    t.text(f"{func}/sub-01_ses-1_task-naming40_run-01_events.tsv", EVENTS)
    t.text(f"{func}/sub-01_ses-1_task-rest_events.tsv", EVENTS)
    t.raw(f"{func}/sub-01_ses-1_task-rest_physio.tsv.gz", b"\x1f\x8b\x08physio", other=True)
    t.text("CHANGES", "1.0.0 2024-01-01\n  - initial release\n")
    t.json(
        "derivatives/freesurfer/dataset_description.json",
        {"Name": "fs", "DatasetType": "derivative", "GeneratedBy": [{"Name": "FreeSurfer"}]},
    )
    t.raw(
        "derivatives/freesurfer/sub-01/mri/brainmask.nii.gz", b"\x1f\x8bnot-bids-named", other=True
    )
    t.raw("derivatives/freesurfer/fsaverage/surf/lh.white", b"surface", other=True)
    with open(os.fsencode(str(root)) + b"/" + LATIN1_NAME, "wb") as f:
        f.write(b"legacy notes\n")
    return t


def run_build(source: Path | str, out: Path, **options: Any) -> BuildResult:
    defaults = {
        "on_error": "skip",
        "workers": 1,
        "max_shard_size": 60_000,
        "row_group_size": 20_000,
    }
    return build(str(source), str(out), build_options(**{**defaults, **options}))


def source_files(root: Path, left_out: set[str]) -> dict[str, bytes]:
    """Every regular file of a source tree by its published (readable) relative path, minus the
    files the build reported as left out, and minus version-control folders, which a BIDS crawl
    never reads (``.git`` of a DataLad dataset: its annexed content is not the dataset's files)."""
    found = {}
    base = os.fsencode(str(root))
    for folder, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if os.fsdecode(d) not in VERSION_CONTROL]
        for name in names:
            full = os.path.join(folder, name)
            if os.path.islink(full) and not os.path.exists(full):
                rel = os.path.relpath(full, base)
                assert readable_name(os.fsdecode(rel))[0] in left_out  # an unfetched annex file
                continue
            rel = readable_name(os.fsdecode(os.path.relpath(full, base)))[0]
            if rel not in left_out:
                with open(full, "rb") as f:
                    found[rel] = f.read()
    return found


def exported_files(dest: Path) -> dict[str, bytes]:
    return {readable_name(k)[0]: v for k, v in tree_bytes(dest).items()}
