"""One image column never mixes different images: the entities that say what an image is
(``space``, ``inv``, ``part``, ``echo``, ``acq``, ``desc``...) split a kind into columns when they
vary, while runs stay together in a list; the card and the file layout name the same columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from bids_factory import BidsTree
from factories import build_options, source_options

from nifti2parquet import build
from nifti2parquet.common.rows import SourceRows
from nifti2parquet.sources import read_source

SPACES = ("MNI152NLin2009cAsym", "T1w")


def read(tree: BidsTree, **options: Any) -> SourceRows:
    return read_source(str(tree.root), source_options(**options))


def image_columns(rows: SourceRows) -> list[str]:
    return [c.name for c in rows.columns if c.is_image]


def cells(rows: SourceRows, name: str) -> list[Any]:
    i = [c.name for c in rows.columns].index(name)
    return [row[i] for row in rows.rows]


def arrow_cells(rows: SourceRows, name: str) -> list[Any]:
    """A value column's cells as Arrow reads (and the shards store) them."""
    column = next(c for c in rows.columns if c.name == name)
    return pa.array(cells(rows, name), type=column.arrow_type).to_pylist()


def fmriprep_tree(root: Path) -> BidsTree:
    """Raw BOLD runs, and fMRIPrep's preprocessed runs in two spaces, two runs each."""
    t = BidsTree(root)
    t.description()
    t.json("derivatives/fmriprep/dataset_description.json", {"Name": "fMRIPrep"})
    for sub in ("01", "02"):
        for run in (1, 2):
            t.image(
                f"sub-{sub}/func/sub-{sub}_task-nback_run-{run}_bold.nii.gz", shape=(4, 3, 2, 3)
            )
            for space in SPACES:
                name = f"sub-{sub}_task-nback_run-{run}_space-{space}_desc-preproc_bold.nii.gz"
                t.image(f"derivatives/fmriprep/sub-{sub}/func/{name}", shape=(4, 3, 2, 3))
    return t


def test_derivative_spaces_are_separate_columns(tmp_path: Path) -> None:
    rows = read(fmriprep_tree(tmp_path))
    assert image_columns(rows) == [
        "bold_nback",
        "fmriprep_preproc_bold_nback_space_mni152nlin2009casym",
        "fmriprep_preproc_bold_nback_space_t1w",
    ]
    for space, column in zip(SPACES, image_columns(rows)[1:]):
        for cell in cells(rows, column):
            assert [ref.display.split("_run-")[1][:1] for ref in cell] == ["1", "2"]  # run order
            assert all(f"_space-{space}_" in ref.display for ref in cell)
        info = arrow_cells(rows, column + "_info")  # as Arrow reads them: structs by field name
        assert {i["entities"]["space"] for cell in info for i in cell} == {space}


def test_mp2rage_inversions_and_parts_are_separate_columns(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    for inv in (1, 2):
        for part in ("mag", "phase"):
            t.image(f"sub-1/anat/sub-1_inv-{inv}_part-{part}_MP2RAGE.nii")
    t.image("sub-1/anat/sub-1_UNIT1.nii")
    rows = read(t)
    assert image_columns(rows) == [
        "unit1",
        "mp2rage_inv_1_part_mag",
        "mp2rage_inv_1_part_phase",
        "mp2rage_inv_2_part_mag",
        "mp2rage_inv_2_part_phase",
    ]
    assert not [c for c in rows.columns if c.content == "image_list"]


def test_an_entity_with_one_value_or_unknown_to_bids_names_no_column(tmp_path: Path) -> None:
    t = BidsTree(tmp_path)
    t.description()
    t.image("sub-01/anat/sub-01_acq-mprage_T1w.nii.gz")
    t.image("sub-02/anat/sub-02_acq-mprage_T1w.nii.gz")
    t.image("sub-01/anat/sub-01_foo-a_T2w.nii.gz")  # not a BIDS entity
    t.image("sub-02/anat/sub-02_foo-b_T2w.nii.gz")
    t.image("sub-01/anat/sub-01_echo-1_MEGRE.nii.gz")
    t.image("sub-01/anat/sub-01_echo-2_MEGRE.nii.gz")
    t.image("sub-02/anat/sub-02_MEGRE.nii.gz")  # no echo: a column of its own
    rows = read(t, rows="subject")
    assert image_columns(rows) == ["t1w", "t2w", "megre", "megre_echo_1", "megre_echo_2"]
    described = {c.name: c.description for c in rows.columns}
    assert described["megre_echo_2"] == "BIDS suffix MEGRE, echo 2 (anat)"
    assert described["megre"] == "BIDS suffix MEGRE, no echo (anat)"


def test_the_file_layout_names_the_same_columns(tmp_path: Path) -> None:
    tree = fmriprep_tree(tmp_path)
    session = image_columns(read(tree))
    files = read(tree, rows="file")
    assert sorted(set(cells(files, "kind"))) == sorted(session)


def test_the_card_says_what_tells_the_columns_apart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(str(fmriprep_tree(tmp_path / "bids").root), str(out), build_options(previews=False))
    card = (out / "README.md").read_text()
    assert "| pipeline | entities |" in card
    assert "| `fmriprep_preproc_bold_nback_space_t1w` (list) | 4 | 2 | func | bold | nback" in card
    assert "| fmriprep | space-T1w |" in card
