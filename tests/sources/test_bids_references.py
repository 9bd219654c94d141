"""What the files of a BIDS dataset name, as the build records it for a filtered export: empty-room
recordings, field maps and their targets, stimuli; each with what describes it."""

from __future__ import annotations

import json
from pathlib import Path

from bids_factory import BidsTree

from nifti2parquet.common.storage import Storage
from nifti2parquet.sources import SourceOptions, read_source
from nifti2parquet.sources.bids.crawl import list_tree
from nifti2parquet.sources.bids.references import find_references


def referencing_tree(root: Path) -> BidsTree:
    t = BidsTree(root)
    t.description()
    meg = "sub-01/ses-1/meg/sub-01_ses-1_task-faces_meg"
    t.json(f"{meg}.json", {"AssociatedEmptyRoom": "bids::sub-emptyroom/ses-9/meg/er_meg.ds"})
    t.raw(f"{meg}.fif", b"fif", other=True)
    room = "sub-emptyroom/ses-9/meg"
    for name in ("er_meg.ds/BadChannels", "er_meg.ds/er_meg.meg4"):
        t.raw(f"{room}/{name}", b"ctf", other=True)
    room2 = "sub-emptyroom/ses-9"
    t.text(f"{room2}/meg/sub-emptyroom_ses-9_task-noise_meg.json", "{}")
    t.text(f"{room2}/sub-emptyroom_ses-9_scans.tsv", "filename\nmeg/er_meg.ds\n")
    t.text("sub-emptyroom/sub-emptyroom_task-noise_channels.tsv", "name\ttype\nMEG1\tMEG\n")
    t.text("sub-emptyroom/ses-8/sub-emptyroom_ses-8_scans.tsv", "filename\n")  # another day
    fmap = "sub-01/ses-1/fmap/sub-01_ses-1_phasediff"
    t.image(f"{fmap}.nii.gz")
    t.json(f"{fmap}.json", {"IntendedFor": ["ses-1/func/sub-01_ses-1_task-faces_bold.nii.gz"],
                            "B0FieldIdentifier": "pd1"})  # fmt: skip
    bold = "sub-01/ses-1/func/sub-01_ses-1_task-faces_bold"
    t.image(f"{bold}.nii.gz", shape=(4, 3, 2, 5))
    t.json(f"{bold}.json", {"TaskName": "faces", "RepetitionTime": 2, "B0FieldSource": "pd1"})
    t.text(
        "sub-01/ses-1/func/sub-01_ses-1_task-faces_events.tsv",
        "onset\tduration\tstim_file\n0\t1\tfaces/f1.png\n2\t1\tn/a\n3\t1\tmissing.png\n",
    )
    t.raw("stimuli/faces/f1.png", b"png", other=True)
    t.json("task-faces_bold.json", {"B0FieldSource": "pd1"})  # every subject's: none recorded
    t.json("sub-02/anat/sub-02_T1w.json", {"IntendedFor": "bids:other:sub-01/x.nii.gz"})
    t.image("sub-02/anat/sub-02_T1w.nii.gz")
    return t


def test_each_file_names_what_it_needs(tmp_path: Path) -> None:
    tree = referencing_tree(tmp_path / "ds")
    rows = read_source(str(tree.root), SourceOptions())
    refs = rows.references
    meg = "sub-01/ses-1/meg/sub-01_ses-1_task-faces_meg.json"
    assert refs[meg] == (  # the recording (a folder: each file) and what describes it
        "sub-emptyroom/ses-9/meg/er_meg.ds/BadChannels",
        "sub-emptyroom/ses-9/meg/er_meg.ds/er_meg.meg4",
    )
    fmap = "sub-01/ses-1/fmap/sub-01_ses-1_phasediff.json"
    bold = "sub-01/ses-1/func/sub-01_ses-1_task-faces_bold"
    assert refs[fmap] == (  # IntendedFor, from the subject's folder, with the bold's sidecar
        f"{bold}.json",
        f"{bold}.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-faces_events.tsv",
    )
    assert refs[f"{bold}.json"] == (  # B0FieldSource → the field map that declares pd1
        "sub-01/ses-1/fmap/sub-01_ses-1_phasediff.json",
        "sub-01/ses-1/fmap/sub-01_ses-1_phasediff.nii.gz",
    )
    assert refs["sub-01/ses-1/func/sub-01_ses-1_task-faces_events.tsv"] == ("stimuli/faces/f1.png",)
    # a dataset-level sidecar's B0FieldSource, another dataset's file, a missing stimulus: none
    assert "task-faces_bold.json" not in refs and "sub-02/anat/sub-02_T1w.json" not in refs
    assert set(refs) == {meg, fmap, f"{bold}.json", f"{bold[:-5]}_events.tsv"}


def test_companions_are_found_by_the_inheritance_principle(tmp_path: Path) -> None:
    tree = referencing_tree(tmp_path / "ds")
    meg = "sub-01/ses-1/meg/sub-01_ses-1_task-faces_meg.json"
    path = tree.root / meg
    path.write_text(json.dumps({"AssociatedEmptyRoom": (
        "sub-emptyroom/ses-9/meg/sub-emptyroom_ses-9_task-noise_meg.json")}))  # fmt: skip
    rows = read_source(str(tree.root), SourceOptions())
    assert rows.references[meg] == (
        "sub-emptyroom/ses-9/meg/sub-emptyroom_ses-9_task-noise_meg.json",
        "sub-emptyroom/ses-9/sub-emptyroom_ses-9_scans.tsv",
        "sub-emptyroom/sub-emptyroom_task-noise_channels.tsv",
    )  # not ses-8's table: its entities are not the recording's


def test_files_that_cannot_be_read_are_one_warning_each(tmp_path: Path) -> None:
    tree = BidsTree(tmp_path / "ds")
    tree.description()
    tree.image("sub-01/anat/sub-01_T1w.nii.gz")
    (tree.root / "code").mkdir()
    (tree.root / "code/settings.json").write_text("{not json")
    (tree.root / "sub-01/anat/sub-01_T1w.json").write_text("{not json")  # the reader says it
    listing = list_tree(str(tree.root), Storage(), lambda name: True).entries
    found = find_references(
        str(tree.root), listing, {}, Storage(), warned={"sub-01/anat/sub-01_T1w.json"}
    )
    assert [(w.path, w.severity) for w in found.warnings] == [("code/settings.json", "warning")]
    assert found.warnings[0].message.startswith("not valid JSON (")
    assert found.warnings[0].message.endswith("; published byte for byte as it is")
