"""The helpers that compare a dataset folder with its export say what a publisher would."""

from __future__ import annotations

from pathlib import Path

from roundtrip import compare, compare_trees, subject_files, why_missing


def test_compare_trees_lists_missing_extra_and_different_files(tmp_path: Path) -> None:
    source, exported = tmp_path / "source", tmp_path / "exported"
    for root, files in (
        (source, {"a": b"1", "b/c": b"2", "d": b"3"}),
        (exported, {"a": b"1", "b/c": b"x", "e": b"4"}),
    ):
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
    diff = compare_trees(source, exported)
    assert (diff.missing, diff.extra, diff.mismatched, diff.compared) == (
        ("d",),
        ("e",),
        ("b/c",),
        2,
    )
    assert not diff.equal and compare({"a": "h"}, {"a": "h"}).equal


def test_why_missing() -> None:
    assert why_missing("stimuli/face.png") == "stimuli/"
    assert why_missing("sourcedata/sub-01/dicom/1.dcm") == "sourcedata/"
    assert why_missing("code/run.sh") == "code/"
    assert why_missing("derivatives/fmriprep/.bidsignore") == "dot file"
    assert why_missing(".git/config") == "version control"
    assert (
        why_missing("sub-01/anat/x_FLASH.nii.gz", {"sub-01/anat/x_FLASH.nii.gz"}) == ".bidsignore"
    )
    assert why_missing("sub-01/anat/notes.txt") == "other"
    assert why_missing("derivatives/stimuli/x.png") == "other"  # only the top-level folders


def test_subject_files_are_its_folders_and_every_file_outside_subject_folders() -> None:
    files = [
        "README",
        "participants.tsv",
        "sub-01/anat/sub-01_T1w.nii.gz",
        "sub-02/anat/sub-02_T1w.nii.gz",
        "derivatives/fmriprep/sub-01/anat/sub-01_desc-preproc_T1w.nii.gz",
        "derivatives/fmriprep/sub-02/anat/sub-02_desc-preproc_T1w.nii.gz",
        "derivatives/fmriprep/dataset_description.json",
        "stimuli/face.png",
        "derivatives/fmriprep/sub-01.html",
        "derivatives/fmriprep/sub-02.html",
    ]
    assert subject_files(files, "01") == set(files) - {
        "sub-02/anat/sub-02_T1w.nii.gz",
        "derivatives/fmriprep/sub-02/anat/sub-02_desc-preproc_T1w.nii.gz",
        "derivatives/fmriprep/sub-02.html",
    }
