"""A BIDS tree built by the test → ``build()`` → the real ``datasets`` reader, for every row layout.

For each tree and layout the test checks what a user would: every image found is in the output
exactly once (sha256 of the bytes read back through ``datasets`` against the source files), every
other image file found is reported with its reason, the summary's counts add up, and the entities,
sidecar values, bval/bvec text and table columns read back are the ones the tree holds.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from bids_factory import (
    FILE_BVAL,
    FILE_BVEC,
    ROOT_BVAL,
    ROOT_BVEC,
    ROOT_EVENTS,
    RUN01_EVENTS,
    BidsTree,
    CountingMemoryFS,
    copy_to_memory,
    sessionless_tree,
    sessions_tree,
)
from datasets import Features, List, Nifti, load_dataset
from factories import build_options, files_config

from nifti2parquet.commands.build import BuildResult, build
from nifti2parquet.common.errors import InputError
from nifti2parquet.common.files_index import PLACE_COLUMNS

LAYOUTS = ("session", "subject", "file")
SNAKE = re.compile(r"^[a-z_][a-z0-9_]*$")


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BidsTree]:
    root = tmp_path_factory.mktemp("bids")
    return {
        "sessions": sessions_tree(root / "sessions"),
        "sessionless": sessionless_tree(root / "sessionless"),
    }


def run_build(tree: BidsTree, out: Path, **options: Any) -> BuildResult:
    defaults = {"on_error": "skip", "workers": 1}
    return build(str(tree.root), str(out), build_options(**{**defaults, **options}))


def load(out: Path, cache: Path) -> Any:
    return load_dataset(str(out), split="train", cache_dir=str(cache))


def image_columns(features: Features) -> dict[str, bool]:
    """Image column name → is a list."""
    found = {}
    for name, feature in features.items():
        if isinstance(feature, Nifti):
            found[name] = False
        elif isinstance(feature, List) and isinstance(feature.feature, Nifti):
            found[name] = True
    return found


def raw_images(ds: Any) -> Any:
    """The dataset with every image column giving raw bytes (``decode=False``)."""
    for name, is_list in image_columns(ds.features).items():
        ds = ds.cast_column(name, List(Nifti(decode=False)) if is_list else Nifti(decode=False))
    return ds


def records(ds: Any, layout: str) -> list[dict[str, Any]]:
    """One record per image read back: sha256, stored name, column, metadata, and its row."""
    columns = image_columns(ds.features)
    out = []
    for row in raw_images(ds):
        if layout == "file":
            out.append(_file_record(row))
            continue
        for name, is_list in columns.items():
            cell, info = row[name], row[name + "_info"]
            if cell is None:
                assert info is None, f"{name}: info without image"
                continue
            pairs = list(zip(cell, info, strict=True)) if is_list else [(cell, info)]
            for image, meta in pairs:
                entities = {k: v for k, v in meta["entities"].items() if v is not None}
                out.append(_record(image, name, meta, entities, row))
    return out


def _record(image: dict, column: str, meta: dict, entities: dict, row: dict) -> dict[str, Any]:
    return {
        "sha256": hashlib.sha256(image["bytes"]).hexdigest(),
        "name": image["path"],
        "column": column,
        "path": meta["path"],
        "entities": entities,
        "meta": meta,
        "row": row,
    }


def _file_record(row: dict) -> dict[str, Any]:
    names = list(row)
    entity_columns = names[names.index("subject_id") + 1 : names.index("pipeline")]
    entities = {"sub": row["subject_id"][4:]}
    if row.get("session_id"):
        entities["ses"] = row["session_id"][4:]
    entities.update({k: row[k] for k in entity_columns if k != "session_id" and row[k] is not None})
    meta = dict(row)
    if "acq_time" in row:
        meta["scans"] = {"acq_time": row["acq_time"]}
    return _record(row["image"], row["kind"], meta, entities, row)


def entities_of(rel: str) -> dict[str, str]:
    """The entities a file name holds, parsed independently of the code under test."""
    stem = posixpath.basename(rel).split(".", 1)[0]
    return dict(token.split("-", 1) for token in stem.split("_")[:-1])


def assert_every_image_once(tree: BidsTree, result: BuildResult, found: list[dict]) -> None:
    expected = tree.sha256()
    assert Counter(r["sha256"] for r in found) == Counter(expected.values())
    assert sorted(r["path"] for r in found) == sorted(expected)
    for r in found:
        assert r["sha256"] == expected[r["path"]], r["path"]
        assert r["name"] == r["path"]  # stored under its path in the tree
        assert r["entities"] == entities_of(r["path"]), r["path"]
    assert {p.path: p.severity for p in result.left_out} == tree.left_out
    assert result.files_found == len(tree.found)
    assert result.files_found == result.num_images + result.other_files + len(result.left_out)
    summary = result.to_dict()
    written = summary["files_written"] + summary["other_files"]
    assert written + summary["files_left_out"] == summary["files_found"]
    assert_every_other_file_once(tree, Path(result.output))


def assert_every_other_file_once(tree: BidsTree, out: Path) -> None:
    """Every file that is not an image of the rows is in the files config, byte for byte, and
    the config lists the images too, with their sha256."""
    rows = files_config(out)
    stored = {p for p, r in rows.items() if r["stored"] == "files"}
    assert stored == set(tree.others)
    for path in stored:
        data = (tree.root / path).read_bytes()
        assert rows[path]["content"]["bytes"] == data, path
        assert rows[path]["sha256"] == hashlib.sha256(data).hexdigest()
        assert rows[path]["size"] == len(data)
    images = {p: r["sha256"] for p, r in rows.items() if r["stored"] == "data"}
    assert images == tree.sha256()
    assert all(rows[p]["content"] is None for p in images)


def assert_schema_round_trips(out: Path) -> None:
    """``datasets`` reads every column's feature from the shard exactly as the metadata says."""
    for shard in sorted((out / "data").glob("*.parquet")):
        schema = pq.read_schema(shard)
        declared = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
        assert Features.from_arrow_schema(schema) == Features.from_dict(declared)


def by_path(found: list[dict]) -> dict[str, dict]:
    return {r["path"]: r for r in found}


# the tree with sessions ------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
def test_sessions_tree(trees: dict[str, BidsTree], tmp_path: Path, layout: str) -> None:
    tree = trees["sessions"]
    out = tmp_path / "out"
    result = run_build(tree, out, rows=layout)
    ds = load(out, tmp_path / "cache")
    found = records(ds, layout)

    assert_every_image_once(tree, result, found)
    assert_schema_round_trips(out)
    assert all(SNAKE.match(name) for name in ds.column_names)
    assert result.num_rows == {"session": 5, "subject": 3, "file": 18}[layout]

    images = by_path(found)
    run1 = images["sub-01/ses-1/func/sub-01_ses-1_task-naming40_run-01_bold.nii.gz"]["meta"]
    run2 = images["sub-01/ses-1/func/sub-01_ses-1_task-naming40_run-02_bold.nii.gz"]["meta"]
    # Inheritance: dataset level, overridden at subject level, plus file level.
    assert json.loads(run1["sidecar"]) == {
        "TaskName": "naming40",
        "RepetitionTime": 1.5,
        "Manufacturer": "Siemens",
        "EchoTime": 0.03,
        "PhaseEncodingDirection": "j-",
    }
    assert (run1["repetition_time"], run1["echo_time"]) == (1.5, 0.03)
    assert (run1["task_name"], run1["phase_encoding_direction"]) == ("naming40", "j-")
    assert (run2["repetition_time"], run2["echo_time"]) == (1.5, None)
    # events.tsv: the run's own, else inherited from the dataset root; none for other tasks
    assert (run1["events"], run2["events"]) == (RUN01_EVENTS, ROOT_EVENTS)
    rest = images["sub-02/ses-1/func/sub-02_ses-1_task-rest_bold.nii.gz"]["meta"]
    assert rest["repetition_time"] == 0.8 and rest["events"] is None
    t1w = images["sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz"]["meta"]
    assert (t1w["magnetic_field_strength"], t1w["flip_angle"]) == (3.0, 9.0)
    assert t1w["scans"]["acq_time"] == "2020-01-01T10:00:00"
    assert t1w["shape"] == [6, 7, 5] and t1w["nifti_version"] == 1
    assert t1w["data_type"] == "int16" and len(t1w["voxel_sizes"]) == 3
    assert run1["shape"] == [4, 3, 2, 5]
    mask = images["derivatives/lesion_masks/sub-01/ses-1/anat/sub-01_ses-1_desc-lesion_mask.nii.gz"]
    assert mask["meta"]["sidecar"] is None and mask["meta"]["repetition_time"] is None
    # bval/bvec: the file's own, else inherited from the dataset root.
    dwi1 = images["sub-01/ses-1/dwi/sub-01_ses-1_run-01_dwi.nii.gz"]["meta"]
    dwi2 = images["sub-01/ses-1/dwi/sub-01_ses-1_run-02_dwi.nii.gz"]["meta"]
    assert (dwi1["bval"], dwi1["bvec"]) == (FILE_BVAL, FILE_BVEC)
    assert (dwi2["bval"], dwi2["bvec"]) == (ROOT_BVAL, ROOT_BVEC)
    assert t1w["bval"] is None
    # An unknown entity is kept; zero-padded runs stay as written.
    assert images["sub-02/ses-1/anat/sub-02_ses-1_foo-bar_T1w.nii.gz"]["entities"]["foo"] == "bar"
    assert images["sub-01/ses-2/anat/sub-01_ses-2_run-1_T1w.nii.gz"]["entities"]["run"] == "1"
    assert run1["entities"]["run"] == "01" if layout != "file" else run1["run"] == "01"
    # participants.tsv typed with participants.json: integer Format, n/a as null, Levels as codes.
    sub01 = images["sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz"]["row"]
    sub02 = images["sub-02/ses-2/anat/sub-02_ses-2_T2w.nii.gz"]["row"]
    assert (sub01["age"], sub01["sex"], sub01["wab_aq"], sub01["group"]) == (61, "M", 72.5, "1")
    assert (sub02["age"], sub02["wab_aq"], sub02["handedness_score"]) == (None, None, -0.5)
    assert ds.features["age"].dtype == "int64" and ds.features["group"].dtype == "string"


def test_session_layout_columns_and_order(trees: dict[str, BidsTree], tmp_path: Path) -> None:
    """The ARC-like layout: modality columns, multi-file kinds as lists, rows by subject/session."""
    out = tmp_path / "out"
    run_build(trees["sessions"], out)  # --rows auto → session
    ds = load(out, tmp_path / "cache")
    kinds = {name: is_list for name, is_list in image_columns(ds.features).items()}
    assert kinds == {
        "t1w": True,  # two T1w runs in sub-01 ses-2
        "t2w": False,
        "flair": False,
        "bold_naming40": True,
        "bold_rest": False,
        "sbref_rest": False,
        "dwi": True,
        "lesion_masks_lesion_mask": False,
    }
    assert list(zip(ds["subject_id"], ds["session_id"])) == [
        ("sub-01", "ses-1"),
        ("sub-01", "ses-2"),
        ("sub-02", "ses-1"),
        ("sub-02", "ses-2"),
        ("sub-03", "ses-1"),
    ]
    first = ds[0]
    assert [i["path"] for i in first["bold_naming40_info"]] == [
        "sub-01/ses-1/func/sub-01_ses-1_task-naming40_run-01_bold.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-naming40_run-02_bold.nii.gz",
    ]
    # Missing modalities are null; sessions.tsv columns are joined per session.
    assert ds[1]["t2w"] is None and ds[1]["flair"] is None and ds[1]["dwi"] is None
    assert ds[1]["days_post_stroke"] == 400 and ds[1]["session_age"] == 62
    assert ds[3]["t1w"] is None  # its only T1w is an unfetched annex file
    assert ds[2]["days_post_stroke"] == 10 and ds[2]["session_age"] is None


def test_subject_layout_folds_sessions(trees: dict[str, BidsTree], tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_build(trees["sessions"], out, rows="subject")
    ds = load(out, tmp_path / "cache")
    assert ds["subject_id"] == ["sub-01", "sub-02", "sub-03"]
    sub01 = ds[0]
    assert [i["entities"]["ses"] for i in sub01["t1w_info"]] == ["1", "2", "2"]
    assert [s["session_id"] for s in sub01["sessions"]] == ["ses-1", "ses-2"]
    assert [s["days_post_stroke"] for s in sub01["sessions"]] == [30, 400]


def test_file_layout_is_long(trees: dict[str, BidsTree], tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_build(trees["sessions"], out, rows="file")
    ds = load(out, tmp_path / "cache")
    assert ds.features["image"] == Nifti()
    assert ds["path"] == sorted(ds["path"])
    row = ds[
        ds["path"].index(
            "derivatives/lesion_masks/sub-02/ses-1/anat/sub-02_ses-1_desc-lesion_mask.nii.gz"
        )
    ]
    assert (row["pipeline"], row["desc"], row["suffix"], row["kind"]) == (
        "lesion_masks",
        "lesion",
        "mask",
        "lesion_masks_lesion_mask",
    )
    assert (row["extension"], row["datatype"]) == (".nii.gz", "anat")
    nii = ds[ds["path"].index("sub-01/ses-2/func/sub-01_ses-2_task-naming40_run-01_bold.nii")]
    assert nii["extension"] == ".nii" and nii["days_post_stroke"] == 400


def test_fail_mode_stops_on_unfetched_annex_file(
    trees: dict[str, BidsTree], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        run_build(trees["sessions"], out, on_error="fail")
    (problem,) = caught.value.problems
    assert problem.path == "sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz"
    assert "datalad get" in problem.message
    assert not (out / "data").exists() and not (out / "README.md").exists()


def test_no_derivatives_and_filters(trees: dict[str, BidsTree], tmp_path: Path) -> None:
    tree = trees["sessions"]
    out = tmp_path / "out"
    result = run_build(tree, out, derivatives=False, subjects=("01",), tasks=("nam*",))
    reasons = {p.path: p.message for p in result.left_out}
    found = result.num_images + result.other_files + len(result.left_out)
    assert result.files_found == len(tree.found) == found
    # other files: a filtered-out subject's files go, dataset-level files stay
    assert reasons["sub-02/sub-02_sessions.tsv"] == (
        "filtered out: subject '02' does not match --subject 01"
    )
    assert reasons["derivatives/lesion_masks/dataset_description.json"] == (
        "derivative left out (--no-derivatives)"
    )
    stored = {p for p, r in files_config(out).items() if r["stored"] == "files"}
    assert {"dataset_description.json", "participants.tsv", "sub-01/sub-01_sessions.tsv"} <= stored
    assert not any(p.startswith(("sub-02/", "sub-03/", "derivatives/")) for p in stored)
    assert reasons[
        "derivatives/lesion_masks/sub-02/ses-1/anat/sub-02_ses-1_desc-lesion_mask.nii.gz"
    ] == ("derivative left out (--no-derivatives)")
    assert reasons["sub-02/ses-1/anat/sub-02_ses-1_foo-bar_T1w.nii.gz"].startswith(
        "filtered out: subject '02' does not match --subject 01"
    )
    assert "--task nam*" in reasons["sub-01/ses-1/func/sub-01_ses-1_task-rest_bold.nii.gz"]
    # The annex file of sub-02 is filtered out, so nothing is an error any more.
    assert all(p.severity == "info" for p in result.left_out)
    ds = load(out, tmp_path / "cache")
    paths = {r["path"] for r in records(ds, "session")}
    assert "sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz" in paths  # no task: kept by --task
    assert {posixpath.basename(p).split("_")[0] for p in paths} == {"sub-01"}
    assert "lesion_masks_lesion_mask" not in ds.column_names


# the tree without sessions ---------------------------------------------------------------------
@pytest.mark.parametrize("layout", ("auto", "session", "subject", "file"))
def test_sessionless_tree(trees: dict[str, BidsTree], tmp_path: Path, layout: str) -> None:
    tree = trees["sessionless"]
    out = tmp_path / "out"
    result = run_build(tree, out, rows=layout)
    ds = load(out, tmp_path / "cache")
    as_read = "subject" if layout == "auto" else layout
    found = records(ds, "file" if layout == "file" else "session")
    assert_every_image_once(tree, result, found)
    assert_schema_round_trips(out)
    assert result.num_rows == (5 if layout == "file" else 2)
    if as_read == "subject":
        assert "session_id" not in ds.column_names and "sessions" not in ds.column_names
    if as_read == "session":
        assert ds["session_id"] == [None, None]
    images = by_path(found)
    bold = images["sub-01/func/sub-01_task-rest_run-1_bold.nii.gz"]["meta"]
    assert bold["repetition_time"] == 2.5
    dwi = images["sub-02/dwi/sub-02_dwi.nii.gz"]["meta"]
    assert (dwi["bval"], dwi["bvec"]) == (ROOT_BVAL, ROOT_BVEC)
    # No participants.json: inferred; "007" keeps its leading zeros, n/a is null.
    rows = {r["row"]["subject_id"]: r["row"] for r in found}
    assert (rows["sub-01"]["age"], rows["sub-01"]["site"]) == (30, "007")
    assert rows["sub-02"]["age"] is None
    if layout != "file":
        assert image_columns(ds.features) == {"t1w": False, "bold_rest": True, "dwi": False}


# a remote root ---------------------------------------------------------------------------------
def test_remote_root_lists_once(trees: dict[str, BidsTree], tmp_path: Path) -> None:
    """An object-store root: one recursive listing, small files read with cat, never stat'ed."""
    tree = trees["sessions"]
    url = copy_to_memory(tree.root, "remote-sessions")
    out = tmp_path / "out"
    result = build(url, str(out), build_options(on_error="skip", workers=1))
    assert CountingMemoryFS.calls["find"] == 1
    assert CountingMemoryFS.calls["info"] <= 1  # "is it BIDS?": dataset_description.json exists
    assert CountingMemoryFS.calls["cat"] <= 2
    ds = load(out, tmp_path / "cache")
    found = records(ds, "session")
    expected = tree.sha256()
    assert {r["path"]: r["sha256"] for r in found} == expected
    annex = "sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz"  # symlinks are not copied to memory
    found = result.num_images + result.other_files + len(result.left_out)
    assert result.files_found == len(tree.found) - 1 == found
    assert {p.path for p in result.left_out} == set(tree.left_out) - {annex}


def test_card_from_dataset_description(trees: dict[str, BidsTree], tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_build(trees["sessions"], out)
    card = (out / "README.md").read_text()
    header, body = card.split("\n---\n", 1)
    assert "license: cc0-1.0" in header and "pretty_name: Aphasia mini" in header
    assert "- bids" in header
    assert body.startswith("\n# Aphasia mini\n\nA small aphasia dataset for tests.")
    assert "Built from a BIDS dataset (BIDS version 1.9.0). One row per session" in body
    assert "| `t1w` (list) | 5 | 4 | anat | T1w |  |  |" in body
    assert "| `bold_naming40` (list) | 3 | 2 | func | bold | naming40 |  |" in body
    assert "| `lesion_masks_lesion_mask` | 2 | 2 | anat | mask |  | lesion_masks |" in body
    assert "| `age` | `int64` | Age at first scan. Units: years. |" in body
    assert "Authors: A. Author, B. Author" in body and "Please cite Author et al. (2024)." in body
    assert "doi = {10.18112/openneuro.ds000000.v1.0.0}" in body
    assert "- https://example.org/paper" in body and "Funding: Grant 1" in body
    assert "stimuli/picture.nii" not in body  # published in the files config, not left out
    assert "git-annex content not present" in body  # the one file left out, with its reason
    assert "## Every file, and the BIDS tree back" in body  # both ways to get the data
    assert "nifti2parquet export USER/DATASET ds/ --subject 01" in body
    assert 'load_dataset("USER/DATASET", "files", split="train")' in body


# the files config --------------------------------------------------------------------------------
def test_files_config_loads_with_datasets_and_is_reused(
    trees: dict[str, BidsTree], tmp_path: Path
) -> None:
    """``load_dataset(out)`` still gives the image rows; ``load_dataset(out, "files")`` every file
    with its bytes; a second build reuses every shard of both configs, byte for byte."""
    tree = trees["sessions"]
    out = tmp_path / "out"
    first = run_build(tree, out, max_shard_size=12_000)
    before = {p: p.read_bytes() for p in out.glob("*/*.parquet")}
    images = load(out, tmp_path / "cache")
    files = load_dataset(str(out), "files", split="train", cache_dir=str(tmp_path / "cache"))

    assert images.num_rows == first.num_rows and "t1w" in images.column_names
    assert files.column_names == [
        "path",
        "size",
        "sha256",
        "stored",
        *PLACE_COLUMNS,
        "references",
        "content",
    ]
    assert files.num_rows == len(tree.included) + len(tree.others) == first.num_images + 29
    events = files[files["path"].index("task-naming40_events.tsv")]
    assert events["content"]["bytes"] == ROOT_EVENTS.encode() and events["stored"] == "files"
    assert len(list((out / "files").glob("*.parquet"))) > 1  # the threshold holds here too

    again = run_build(tree, out, max_shard_size=12_000)
    assert again.shards_written == 0 and again.shards_reused == first.num_shards
    assert {p: p.read_bytes() for p in out.glob("*/*.parquet")} == before
    assert all(p.stat().st_size <= 12_000 for p in out.glob("files/*.parquet"))
