"""Row layouts, table columns and their types, and names that never collide."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from bids_factory import BidsTree, sessions_tree
from factories import nifti_bytes, source_options

from nifti2parquet.common.errors import InputError, OptionError
from nifti2parquet.common.rows import SourceRows
from nifti2parquet.sources import read_source
from nifti2parquet.sources.bids.rules import bids_rules

SNAKE = re.compile(r"^[a-z_][a-z0-9_]*$")


def read(tree: BidsTree, **options: Any) -> SourceRows:
    return read_source(str(tree.root), source_options(**options))


def table(rows: SourceRows) -> list[dict[str, Any]]:
    """Rows by column name; value cells as Arrow reads (and the shards store) them."""
    names = [c.name for c in rows.columns]
    columns = [
        [row[i] for row in rows.rows]
        if c.is_image
        else pa.array([row[i] for row in rows.rows], type=c.arrow_type).to_pylist()
        for i, c in enumerate(rows.columns)
    ]
    return [dict(zip(names, row)) for row in zip(*columns)]


def column(rows: SourceRows, name: str) -> Any:
    return next(c for c in rows.columns if c.name == name)


def small_tree(root: Path) -> BidsTree:
    t = BidsTree(root)
    t.description()
    t.image("sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz")
    t.image("sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz")
    t.image("sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz")
    return t


def test_participants_types_from_the_data_dictionary(tmp_path: Path) -> None:
    t = small_tree(tmp_path)
    t.tsv(
        "participants.tsv",
        ["participant_id", "age", "score", "smoker", "site", "code", "weight"],
        [
            ["sub-01", "61", "3", "true", "007", "1", "70.5"],
            ["02", "n/a", "4.5", "false", "012", "2", "n/a"],
        ],
    )
    t.json(
        "participants.json",
        {
            "age": {"Format": "integer", "Description": "Age", "Units": "years"},
            "score": {"Format": "number"},
            "smoker": {"Format": "boolean"},
            "site": {"Format": "string"},
            "code": {"Levels": {"1": "left", "2": "right"}, "Description": "Hand"},
            "weight": {"Format": "integer"},  # 70.5 is not an integer: inferred, with a warning
        },
    )
    rows = read(t, rows="subject")
    types = {c.name: c.arrow_type for c in rows.columns if not c.is_image}
    assert types["age"] == pa.int64() and types["score"] == pa.float64()
    assert types["smoker"] == pa.bool_() and types["site"] == pa.string()
    assert types["code"] == pa.string() and types["weight"] == pa.float64()
    assert "participant_id" not in types  # it is subject_id
    values = table(rows)
    assert [(r["subject_id"], r["age"], r["score"], r["smoker"], r["site"]) for r in values] == [
        ("sub-01", 61, 3.0, True, "007"),
        ("sub-02", None, 4.5, False, "012"),  # "02" in participants.tsv still joins sub-02
    ]
    assert column(rows, "age").description == "Age. Units: years."
    assert column(rows, "code").description == "Hand. Levels: 1 = left, 2 = right."
    (warning,) = rows.warnings
    assert (
        warning.path == "participants.tsv, column 'weight'"
        and "Format is 'integer'" in warning.message
    )


def test_latin1_and_ragged_participants_tsv_warn(tmp_path: Path) -> None:
    t = small_tree(tmp_path)
    t.text(
        "participants.tsv",
        "participant_id\tcity\tage\nsub-01\tZ\xfcrich\t40\nsub-02\tBern\n",
        encoding="latin-1",
    )
    rows = read(t, rows="subject")
    warnings = {p.message.split(" ")[0]: p for p in rows.warnings}
    assert {p.path for p in rows.warnings} == {"participants.tsv"}
    assert "Latin-1" in warnings["not"].message
    assert "line 3 has 2 cells" in warnings["line"].message
    assert [(r["city"], r["age"]) for r in table(rows)] == [("Zürich", 40), ("Bern", None)]


def test_column_names_never_collide(tmp_path: Path) -> None:
    t = small_tree(tmp_path)
    t.image("sub-01/ses-1/anat/sub-01_ses-1_run-2_T1w.nii.gz")  # second T1w run: still `t1w`
    t.tsv(
        "participants.tsv",
        ["participant_id", "t1w", "subject_id", "Age", "age", "sessions"],
        [["sub-01", "x", "y", 1, 2, "z"], ["sub-02", "x", "y", 3, 4, "z"]],
    )
    t.tsv("sub-01/sub-01_sessions.tsv", ["session_id", "age", "T1w_info"], [["ses-1", 5, "a"]])
    session = read(t, rows="session")
    names = [c.name for c in session.columns]
    assert names[:4] == ["subject_id", "session_id", "t1w", "t1w_info"]
    assert names[4:] == [
        "participant_t1w",
        "participant_subject_id",
        "age",  # "Age"
        "participant_age",  # "age": `age` is taken by "Age", which came first
        "sessions",
        "session_age",
        "session_t1w_info",
    ]
    assert len(set(names)) == len(names) and all(SNAKE.match(n) for n in names)
    described = column(session, "participant_t1w").description
    assert described == "(participants.tsv column `t1w`)"
    subject = read(t, rows="subject")
    names = [c.name for c in subject.columns]
    assert "participant_sessions" in names and names[-1] == "sessions"
    file = read(t, rows="file")
    names = [c.name for c in file.columns]
    assert len(set(names)) == len(names) and all(SNAKE.match(n) for n in names)
    assert {"run", "t1w", "participant_subject_id", "session_age"} <= set(names)


def test_image_columns_are_ordered_by_the_bids_schema(tmp_path: Path) -> None:
    """A datatype (mrs) and suffixes (T1map, UNIT1, MP2RAGE) our old hand lists lacked are ordered
    as the BIDS schema lists them, before a folder the schema does not know (extra/)."""
    t = BidsTree(tmp_path)
    t.description()
    anat = ["MP2RAGE", "UNIT1", "T1map"]
    for suffix in ["T1w", *anat]:
        t.image(f"sub-01/anat/sub-01_{suffix}.nii.gz")
    t.image("sub-01/extra/sub-01_localizer.nii.gz")
    t.image("sub-01/mrs/sub-01_svs.nii.gz")
    t.image("sub-01/func/sub-01_task-rest_bold.nii.gz")
    rows = read(t)
    images = [c.name for c in rows.columns if c.content == "image"]
    in_schema_order = sorted(anat, key=bids_rules().image_suffixes["anat"].index)
    assert in_schema_order != sorted(anat)  # the old lists left them unranked: alphabetical
    expected = ["t1w", *(s.lower() for s in in_schema_order), "bold_rest", "svs", "localizer"]
    assert images == expected


def test_list_only_when_a_row_has_several(tmp_path: Path) -> None:
    t = small_tree(tmp_path)
    assert column(read(t, rows="session"), "t1w").content == "image"
    assert column(read(t, rows="subject"), "t1w").content == "image_list"  # sub-01: two sessions
    assert column(read(t, rows="file"), "image").content == "image"


def test_reading_twice_gives_the_same_rows(tmp_path: Path) -> None:
    t = sessions_tree(tmp_path / "ds")
    for layout in ("session", "subject", "file"):
        first, second = read(t, rows=layout), read(t, rows=layout)
        assert first.columns == second.columns and first.rows == second.rows
        assert first.left_out == second.left_out and first.info == second.info


def test_bad_images_are_errors_and_nifti2_a_warning(tmp_path: Path) -> None:
    t = small_tree(tmp_path)
    t.raw("sub-02/ses-1/anat/sub-02_ses-1_T2w.nii.gz", b"<html>not found</html>", left_out="error")
    t.raw("sub-02/ses-1/anat/sub-02_ses-1_FLAIR.nii", nifti_bytes(version=2), left_out=None)
    rows = read(t)
    (error,) = rows.left_out
    assert error.path == "sub-02/ses-1/anat/sub-02_ses-1_T2w.nii.gz" and error.severity == "error"
    assert error.message.startswith("not a NIfTI file (looks like HTML")
    others = len(rows.other_files)  # dataset_description.json
    assert rows.files_found == 6 == rows.image_count() + others + len(rows.left_out)
    assert [w.path for w in rows.warnings] == ["sub-02/ses-1/anat/sub-02_ses-1_FLAIR.nii"]
    assert "NIfTI-2" in rows.warnings[0].message
    assert "t2w" not in [c.name for c in rows.columns]
    assert rows.checked == "cheap"


def test_info_struct_fields(tmp_path: Path) -> None:
    t = small_tree(tmp_path)
    rows = read(t, rows="session")
    info_type = column(rows, "t1w_info").arrow_type
    fields = [info_type.field(i).name for i in range(info_type.num_fields)]
    assert fields == [
        "path", "datatype", "suffix", "extension", "entities", "size", "shape", "voxel_sizes",
        "data_type", "nifti_version", "sidecar", "repetition_time", "echo_time", "flip_angle",
        "magnetic_field_strength", "manufacturer", "phase_encoding_direction", "task_name",
        "bval", "bvec", "events",
    ]  # fmt: skip
    entities = info_type.field("entities").type
    assert [entities.field(i).name for i in range(entities.num_fields)] == ["sub", "ses"]
    first = table(rows)[0]["t1w_info"]
    assert first["entities"] == {"sub": "01", "ses": "1"} and first["size"] > 0


def test_layout_option_and_empty_datasets(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    with pytest.raises(OptionError, match="--rows 'run'"):
        read(t, rows="run")
    with pytest.raises(InputError, match="none of the 1 file found is a NIfTI image") as caught:
        read(t)
    assert caught.value.problems == ()
    t.image("code/x.nii", other=True)  # published in the files config: BIDS does not index it
    with pytest.raises(
        InputError, match=r"no NIfTI image to build \(2 files found, no image among"
    ):
        read(t)
