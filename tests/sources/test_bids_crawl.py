"""Crawling a BIDS tree: listing (local and remote), ignore rules, and what is left out and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bids_factory import BidsTree, CountingMemoryFS, copy_to_memory, sessions_tree

from nifti2parquet.common.path_patterns import ExcludePatterns
from nifti2parquet.common.selection import Selection
from nifti2parquet.common.storage import Storage
from nifti2parquet.sources.bids.crawl import Entry, list_tree, read_small_files
from nifti2parquet.sources.bids.ignore import IgnoreRules
from nifti2parquet.sources.bids.rules import bids_rules
from nifti2parquet.sources.bids.tree import Choices, Filters, classify, locate, wanted_name


# .bidsignore and default ignores -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        ("extra/", "extra/a.nii.gz", True),
        ("extra/", "sub-01/extra/a.nii.gz", True),  # no inner '/': matches at any depth
        ("/extra/", "sub-01/extra/a.nii.gz", False),  # anchored to the root
        ("extra/", "extra.nii.gz", False),  # folders only
        ("*_defacemask.nii.gz", "sub-01/anat/sub-01_defacemask.nii.gz", True),
        ("*_defacemask.nii.gz", "sub-01/anat/sub-01_T1w.nii.gz", False),
        ("sub-*/anat/*_T2w.nii", "sub-01/anat/sub-01_T2w.nii", True),
        ("sub-*/anat/*_T2w.nii", "x/sub-01/anat/sub-01_T2w.nii", False),
        ("**/func", "a/b/func/x.nii", True),
        ("derivatives/**/*_mask.nii.gz", "derivatives/p/sub-1/anat/sub-1_mask.nii.gz", True),
        ("sub-0?_T1w.nii", "sub-01/anat/sub-01_T1w.nii", True),
        ("sub-0[12]_T1w.nii", "sub-03/anat/sub-03_T1w.nii", False),
        ("*.nii\n!keep.nii", "a/keep.nii", False),  # the last matching pattern wins
        ("# a comment\n\n*.nii", "a/b.nii", True),
        ("models/\n!models/keep.nii", "models/keep.nii", True),  # inside an ignored folder
    ],
)
def test_bidsignore_patterns(patterns: str, path: str, ignored: bool) -> None:
    assert bool(IgnoreRules(patterns).reason(path)) is ignored


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("sourcedata/sub-01/anat/a.nii.gz", "ignored: under sourcedata/"),
        ("code/a.nii", "ignored: under code/"),
        ("stimuli/a.nii", "ignored: under stimuli/"),
        (
            "derivatives/fmriprep/sourcedata/a.nii.gz",
            "ignored: under derivatives/fmriprep/sourcedata/",
        ),
        ("sub-01/anat/._sub-01_T1w.nii.gz", "ignored: hidden file or folder '._sub-01_T1w.nii.gz'"),
        ("sub-01/code/sub-01_T1w.nii", ""),  # only at the top of a dataset
        ("sub-01/anat/sub-01_T1w.nii", ""),
    ],
)
def test_default_ignores(path: str, reason: str) -> None:
    got = IgnoreRules().reason(path)
    assert got.startswith(reason) if reason else got == ""


def test_every_folder_the_bids_schema_marks_opaque_is_ignored() -> None:
    """At the top of the dataset and of each pipeline; the raw dataset's derivatives/ is read."""
    rules = bids_rules()
    reasons = {
        f"{folder}/sub-01/anat/sub-01_T1w.nii.gz": f"ignored: under {folder}/"
        for folder in rules.ignored_folders
    }
    reasons.update(
        {
            f"derivatives/p/{folder}/sub-01/anat/sub-01_T1w.nii.gz": (
                f"ignored: under derivatives/p/{folder}/"
            )
            for folder in rules.derivative_ignored_folders
        }
    )
    for path, reason in reasons.items():
        assert IgnoreRules().reason(path).startswith(reason), path
    assert len(reasons) >= 10
    # docs/ and logs/ (and a pipeline's own derivatives/) were not in our old hand list
    assert {"docs/", "logs/", "derivatives/p/derivatives/"} <= {
        reason.split("under ")[1] for reason in reasons.values()
    }
    assert IgnoreRules().reason("derivatives/p/sub-01/anat/sub-01_desc-x_mask.nii.gz") == ""


# listing ----------------------------------------------------------------------------------------
def test_local_listing_skips_version_control_and_flags_annex_links(tmp_path: Path) -> None:
    tree = sessions_tree(tmp_path / "ds")
    (tmp_path / "ds/sub-01/loop").symlink_to(tmp_path / "ds/sub-01")  # a symlink loop
    BidsTree(tmp_path / "elsewhere").image("sub-09/anat/sub-09_T1w.nii")
    (tmp_path / "ds/sub-09").symlink_to(tmp_path / "elsewhere/sub-09")  # a linked folder
    listing = list_tree(str(tree.root), Storage(), wanted_name)
    entries = {e.rel: e for e in listing.entries}
    assert not any(rel.startswith(".git/") for rel in entries)
    assert [(p.path, p.message) for p in listing.skipped] == [
        (".git/", "not read: version control (.git)")
    ]
    assert ".bidsignore" in entries and "README" in entries
    assert "sub-01/ses-1/anat/._sub-01_ses-1_T1w.nii.gz" in entries  # dot files are the dataset's
    annex = entries["sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz"]
    assert "git-annex content not present" in annex.problem and "datalad get" in annex.problem
    t1w = entries["sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz"]
    assert t1w.size == (tree.root / t1w.rel).stat().st_size and not t1w.problem
    assert "sub-03/ses-1/anat/sub-03_ses-1_T2w.img" in entries  # every file is listed
    assert "sub-09/anat/sub-09_T1w.nii" in entries  # linked folders are followed...
    assert not any(rel.startswith("sub-01/loop/") for rel in entries)  # ...each folder once


def test_remote_listing_is_one_find_with_the_same_entries(tmp_path: Path) -> None:
    tree = sessions_tree(tmp_path / "ds")
    url = copy_to_memory(tree.root, "listing")
    listing = list_tree(url, Storage(), wanted_name)
    remote = listing.entries
    assert CountingMemoryFS.calls == {"find": 1}
    local = list_tree(str(tree.root), Storage(), wanted_name).entries
    copied = [e for e in local if not (tree.root / e.rel).is_symlink()]
    assert [p.path for p in listing.skipped] == [".git/"]
    assert [(e.rel, e.size) for e in remote] == [(e.rel, e.size) for e in copied]
    contents = read_small_files(url, [e for e in remote if e.rel.endswith(".json")], Storage())
    assert CountingMemoryFS.calls["cat"] == 1
    assert contents["T1w.json"] == (tree.root / "T1w.json").read_bytes()


def test_unreadable_small_file_says_why(tmp_path: Path) -> None:
    tree = BidsTree(tmp_path)
    tree.json("a.json", {})
    os.symlink("nowhere.json", tmp_path / "b.json")
    entries = list_tree(str(tmp_path), Storage(), wanted_name).entries
    contents = read_small_files(str(tmp_path), entries, Storage())
    assert contents["a.json"] == b"{}"
    assert isinstance(contents["b.json"], str) and "broken symlink" in contents["b.json"]


# sorting files into images and left out -----------------------------------------------------------
def entry(rel: str, problem: str = "") -> Entry:
    return Entry(rel, 100, "v", problem)


@pytest.mark.parametrize(
    ("rel", "why"),
    [
        ("sub-01/anat/sub-02_T1w.nii.gz", "sub-02 in the name but not in a sub-02/ folder"),
        ("sub-01/ses-1/anat/sub-01_ses-2_T1w.nii", "in folder ses-1/ but the name has ses-2"),
        ("sub-01/anat/sub-01_ses-1_T1w.nii", "ses-1 in the name but not in a ses-1/ folder"),
        ("sub-01/sub-01_T1w.nii", "not in a datatype folder"),
        ("sub-01/anat/extra/sub-01_T1w.nii", "too deep"),
        ("sub-01_T1w.nii.gz", "not in a sub-01/ folder"),
        ("anat/T1w.nii.gz", "no sub-<label> entity"),
        ("derivatives/sub-01_mask.nii.gz", "not inside a derivatives/<pipeline>/ folder"),
        ("derivatives/p/template.nii.gz", "no sub-<label> entity"),
    ],
)
def test_invalid_places_and_names(rel: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        locate(entry(rel))


def test_derivatives_may_sit_directly_in_a_subject_folder() -> None:
    image = locate(entry("derivatives/masks/sub-01/sub-01_desc-lesion_mask.nii.gz"))
    assert (image.pipeline, image.datatype, image.root) == ("masks", "", "derivatives/masks")


def test_reasons_come_in_order_and_add_up() -> None:
    entries = [
        entry("code/sub-01/anat/sub-01_T1w.nii", "missing file"),  # not indexed, but unreadable
        entry("derivatives/p/sub-01/anat/sub-01_desc-x_mask.nii.gz"),
        entry("sub-01/anat/sub-01_T1w.hdr"),
        entry("sub-01/anat/bad_name.nii"),
        entry("sub-02/anat/sub-02_T1w.nii.gz", "git-annex content not present"),
        entry("sub-03/anat/sub-03_T1w.nii.gz", "git-annex content not present"),  # filtered
        entry("sub-02/func/sub-02_task-rest_bold.nii.gz"),
        entry("sub-02/func/sub-02_task-nback_bold.nii.gz"),
        entry("sub-02/anat/sub-02_T2w.nii.gz"),
        entry("sub-02/anat/sub-02_T2w.json"),
    ]
    entries.append(entry("scratch/notes.txt"))
    filters = Filters(Selection(subjects=("sub-0[12]",), tasks=("rest",), suffixes=("T1w", "bold")))
    choices = Choices(filters, derivatives=False, exclude=ExcludePatterns(("scratch/",)))
    tree = classify(entries, IgnoreRules(), choices)
    reasons = {p.path: (p.severity, p.message) for p in tree.left_out}
    assert tree.files_found == 11 == len(tree.images) + len(tree.others) + len(tree.left_out)
    # an Analyze pair is published byte for byte (the files config), not left out; a NIfTI that
    # fits no row would be too, but this one has no suffix for --suffix to match
    assert [e.rel for e in tree.others] == ["sub-01/anat/sub-01_T1w.hdr"]
    assert reasons["sub-01/anat/bad_name.nii"][1] == (
        "filtered out: suffix none does not match --suffix T1w bold"
    )
    assert [i.rel for i in tree.images] == ["sub-02/func/sub-02_task-rest_bold.nii.gz"]
    assert reasons["code/sub-01/anat/sub-01_T1w.nii"] == ("error", "missing file")
    assert reasons["scratch/notes.txt"] == ("info", "excluded by --exclude 'scratch/'")
    assert reasons["derivatives/p/sub-01/anat/sub-01_desc-x_mask.nii.gz"][1] == (
        "derivative left out (--no-derivatives)"
    )
    assert reasons["sub-02/anat/sub-02_T2w.json"][1] == (  # a sidecar of a filtered-out kind
        "filtered out: suffix 'T2w' does not match --suffix T1w bold"
    )
    assert reasons["sub-02/anat/sub-02_T1w.nii.gz"] == ("error", "git-annex content not present")
    assert reasons["sub-03/anat/sub-03_T1w.nii.gz"][1] == (
        "filtered out: subject '03' does not match --subject 0[12]"
    )
    assert reasons["sub-02/func/sub-02_task-nback_bold.nii.gz"][1] == (
        "filtered out: task 'nback' does not match --task rest"
    )
    assert reasons["sub-02/anat/sub-02_T2w.nii.gz"][1] == (
        "filtered out: suffix 'T2w' does not match --suffix T1w bold"
    )
    errors = {path for path, (sev, _) in reasons.items() if sev == "error"}
    assert errors == {"sub-02/anat/sub-02_T1w.nii.gz", "code/sub-01/anat/sub-01_T1w.nii"}
    assert [m.rel for m in tree.metadata] == ["sub-02/anat/sub-02_T2w.json"]


def test_session_filter_leaves_out_sessionless_files() -> None:
    filters = Filters(Selection(sessions=("ses-1",)))
    tree = classify([entry("sub-01/anat/sub-01_T1w.nii")], IgnoreRules(), Choices(filters))
    assert tree.left_out[0].message == "filtered out: session none does not match --session 1"
