"""Sidecar metadata by the BIDS inheritance principle, bval/bvec, and bad sidecars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from bids_factory import BidsTree
from bidsschematools.schema import load_schema
from factories import source_options

from nifti2parquet.sources import read_source
from nifti2parquet.sources.bids.sidecars import KINDS, TYPED_FIELDS, Inherited


def files(tree: BidsTree, **options: Any) -> dict[str, dict[str, Any]]:
    """The file layout's rows by path, as plain dicts, plus the warnings."""
    rows = read_source(str(tree.root), source_options(rows="file", **options))
    names = [c.name for c in rows.columns]
    out = {row[names.index("path")]: dict(zip(names, row)) for row in rows.rows}
    out["_warnings"] = {p.path: p.message for p in rows.warnings}  # type: ignore[assignment]
    return out


def sidecar(row: dict[str, Any]) -> Any:
    return None if row["sidecar"] is None else json.loads(row["sidecar"])


def test_levels_merge_top_down_and_only_matching_files_apply(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    t.json("bold.json", {"Level": "root", "RepetitionTime": 3, "Root": True})
    t.json("task-rest_bold.json", {"Level": "root+task", "TaskName": "rest"})
    t.json("task-rest_acq-fast_bold.json", {"Level": "not mine"})  # acq-fast: not a subset
    t.json("task-rest_sbref.json", {"Level": "other suffix"})
    t.text("task-rest_bold.tsv", "onset\n")  # other extension
    t.json("sub-01/sub-01_task-rest_bold.json", {"Level": "subject", "RepetitionTime": 2})
    t.json("sub-01/ses-1/sub-01_ses-1_bold.json", {"Level": "session", "Session": 1})
    t.json("sub-02/sub-01_task-rest_bold.json", {"Level": "another subject's folder"})
    t.image(
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-01_bold.nii.gz",
        sidecar={"Level": "file", "EchoTime": 0.03},
    )
    t.image("sub-01/ses-1/func/sub-01_ses-1_task-rest_run-02_bold.nii.gz")
    t.image("sub-01/ses-1/func/sub-01_ses-1_task-rest_sbref.nii.gz")
    rows = files(t)
    run1 = rows["sub-01/ses-1/func/sub-01_ses-1_task-rest_run-01_bold.nii.gz"]
    run2 = rows["sub-01/ses-1/func/sub-01_ses-1_task-rest_run-02_bold.nii.gz"]
    assert sidecar(run1) == {
        "Level": "file",
        "RepetitionTime": 2,
        "Root": True,
        "TaskName": "rest",
        "Session": 1,
        "EchoTime": 0.03,
    }
    assert sidecar(run2)["Level"] == "session"
    assert (run2["repetition_time"], run2["echo_time"], run2["task_name"]) == (2.0, None, "rest")
    sbref = rows["sub-01/ses-1/func/sub-01_ses-1_task-rest_sbref.nii.gz"]
    assert sidecar(sbref) == {"Level": "other suffix"}


def test_two_files_at_one_level_merge_general_first(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    t.json("task-rest_acq-fast_bold.json", {"A": "specific"})
    t.json("bold.json", {"A": "general", "B": 1})
    t.image("sub-01/func/sub-01_task-rest_acq-fast_bold.nii")
    row = files(t)["sub-01/func/sub-01_task-rest_acq-fast_bold.nii"]
    assert sidecar(row) == {"A": "specific", "B": 1}


def test_typed_fields_take_what_fits(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    fields = {
        "RepetitionTime": "2.0",  # a number written as a string
        "EchoTime": [0.01, 0.02],  # multi-echo: stays in the JSON only
        "FlipAngle": 90,
        "MagneticFieldStrength": True,  # not a number
        "Manufacturer": 42,
        "PhaseEncodingDirection": "j-",
    }
    t.image("sub-01/anat/sub-01_T1w.nii", sidecar=fields)
    row = files(t)["sub-01/anat/sub-01_T1w.nii"]
    assert (row["repetition_time"], row["echo_time"], row["flip_angle"]) == (2.0, None, 90.0)
    assert (row["magnetic_field_strength"], row["manufacturer"]) == (None, "42")
    assert (row["phase_encoding_direction"], row["task_name"]) == ("j-", None)
    assert sidecar(row)["EchoTime"] == [0.01, 0.02]


def test_bval_bvec_nearest_wins(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    t.text("dwi.bval", "root bval")
    t.text("dwi.bvec", "root bvec")
    t.text("sub-01/sub-01_dwi.bval", "subject bval")
    t.text("acq-b_dwi.bval", "root acq-b bval")  # more specific, same level as dwi.bval
    t.image("sub-01/dwi/sub-01_dwi.nii.gz")
    t.image("sub-02/dwi/sub-02_acq-b_dwi.nii.gz")
    t.image("sub-02/anat/sub-02_T1w.nii.gz")
    rows = files(t)
    assert (
        rows["sub-01/dwi/sub-01_dwi.nii.gz"]["bval"],
        rows["sub-01/dwi/sub-01_dwi.nii.gz"]["bvec"],
    ) == (
        "subject bval",
        "root bvec",
    )
    assert rows["sub-02/dwi/sub-02_acq-b_dwi.nii.gz"]["bval"] == "root acq-b bval"
    assert rows["sub-02/anat/sub-02_T1w.nii.gz"]["bval"] is None


def test_bad_sidecars_are_warnings_naming_the_file(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    t.json("T1w.json", {"Manufacturer": "GE"})
    t.text("sub-01/anat/sub-01_T1w.json", '{"FlipAngle": 9,,}')
    t.image("sub-01/anat/sub-01_T1w.nii")
    t.text("sub-02/anat/sub-02_T1w.json", "[1, 2]")
    t.image("sub-02/anat/sub-02_T1w.nii")
    t.text("sub-03/anat/sub-03_T1w.json", '{"Manufacturer": "Universit\xe4t"}', encoding="latin-1")
    t.image("sub-03/anat/sub-03_T1w.nii")
    rows = files(t)
    warnings = rows.pop("_warnings")
    assert warnings["sub-01/anat/sub-01_T1w.json"].startswith("not valid JSON (Expecting property")
    assert warnings["sub-02/anat/sub-02_T1w.json"] == "not a JSON object; sidecar skipped"
    assert "read as Latin-1" in warnings["sub-03/anat/sub-03_T1w.json"]
    assert sidecar(rows["sub-01/anat/sub-01_T1w.nii"]) == {"Manufacturer": "GE"}  # still built
    assert rows["sub-03/anat/sub-03_T1w.nii"]["manufacturer"] == "Universität"


def test_derivatives_inherit_within_their_pipeline_only(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    t.json("T1w.json", {"From": "raw"})
    t.json("derivatives/prep/desc-brain_T1w.json", {"From": "pipeline"})
    t.image("sub-01/anat/sub-01_T1w.nii")
    t.image("derivatives/prep/sub-01/anat/sub-01_desc-brain_T1w.nii")
    t.image("derivatives/prep/sub-01/anat/sub-01_desc-head_T1w.nii")
    rows = files(t)
    assert sidecar(rows["sub-01/anat/sub-01_T1w.nii"]) == {"From": "raw"}
    assert sidecar(rows["derivatives/prep/sub-01/anat/sub-01_desc-brain_T1w.nii"]) == {
        "From": "pipeline"
    }
    assert rows["derivatives/prep/sub-01/anat/sub-01_desc-head_T1w.nii"]["sidecar"] is None


def test_typed_fields_are_bids_metadata_of_that_type() -> None:
    """Which sidecar keys get a typed column is ours; each is a field the BIDS schema defines, and
    its column type is one the schema allows for it (``number`` → float64, ``string`` → string)."""
    metadata = {m["name"]: m for m in load_schema()["objects"]["metadata"].values()}
    arrow = {"number": pa.float64(), "string": pa.string()}
    checked = 0
    for key, _, arrow_type in TYPED_FIELDS:
        field = metadata[key]
        allowed = [field.get("type"), *(a.get("type") for a in field.get("anyOf", []))]
        assert arrow_type in [arrow[t] for t in allowed if t in arrow], key
        checked += 1
    assert checked == len(TYPED_FIELDS) == 7


def test_images_alternating_between_folders_inherit_their_own_folders(tmp_path: Path) -> None:
    """Images in path order go anat, func, then the next session and subject, then a pipeline:
    each one's chain of folders is made from the last image's where they share a parent, and
    every image still inherits exactly the sidecars of its own folders."""
    t = BidsTree(tmp_path)
    t.description()
    t.json("T1w.json", {"Level": "root"})
    t.json("bold.json", {"Level": "root"})
    for sub in ("01", "02"):
        for ses in ("1", "2"):
            folder = f"sub-{sub}/ses-{ses}"
            t.json(f"{folder}/sub-{sub}_ses-{ses}_T1w.json", {"Level": folder})
            t.json(f"{folder}/sub-{sub}_ses-{ses}_task-rest_bold.json", {"Level": folder})
            t.image(f"{folder}/anat/sub-{sub}_ses-{ses}_T1w.nii.gz")
            bold = f"{folder}/func/sub-{sub}_ses-{ses}_task-rest_bold.nii.gz"
            t.image(bold, sidecar={"Level": f"{folder}/func"})  # its own, in func/ only
    t.json("derivatives/prep/sub-01/sub-01_T1w.json", {"Level": "pipeline subject"})
    t.image("derivatives/prep/sub-01/anat/sub-01_T1w.nii.gz")
    t.image("derivatives/prep/sub-01/func/sub-01_task-rest_bold.nii.gz", sidecar={"Level": "p"})
    rows = files(t)
    levels = {p: sidecar(r) and sidecar(r)["Level"] for p, r in rows.items() if p != "_warnings"}
    images = {p: level for p, level in levels.items() if p.endswith(".nii.gz")}
    expected = {
        f"sub-{sub}/ses-{ses}/{kind}/sub-{sub}_ses-{ses}_{name}.nii.gz": (
            f"sub-{sub}/ses-{ses}" + ("/func" if kind == "func" else "")
        )
        for sub in ("01", "02")
        for ses in ("1", "2")
        for kind, name in (("anat", "T1w"), ("func", "task-rest_bold"))
    }
    expected["derivatives/prep/sub-01/anat/sub-01_T1w.nii.gz"] = "pipeline subject"
    expected["derivatives/prep/sub-01/func/sub-01_task-rest_bold.nii.gz"] = "p"
    assert images == expected


def test_the_inherited_files_are_named_by_the_kinds_in_their_order() -> None:
    """``MetadataIndex.inherited`` fills the kinds' lists in ``KINDS`` order."""
    assert Inherited._fields == tuple(KINDS)
