"""``open_dataset``: the rows and images of a built dataset, fetching only the images read.

What an ML user checks: the selected images come back byte for byte and decode with nibabel to the
source's voxels; rows carry their small columns with only the selected images in them; nothing but
footers, small columns and the pages of the images read is fetched.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bids_factory import BidsTree, sessions_tree
from exporttools import run_build

from nifti2parquet import ExportOptions, open_dataset
from nifti2parquet.common.selection import Selection


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[BidsTree, Path]:
    root = tmp_path_factory.mktemp("reader")
    tree = sessions_tree(root / "source")
    run_build(tree.root, root / "out", rows="session")
    return tree, root / "out"


def test_images_are_the_selected_files_and_decode_as_the_source(
    built: tuple[BidsTree, Path],
) -> None:
    tree, out = built
    ds = open_dataset(str(out), ExportOptions(Selection(subjects=("01",), suffixes=("T1w",))))
    index_bytes = ds.bytes_fetched
    images = list(ds.images())

    expected = sorted(p for p in tree.included if p.startswith("sub-01/") and "_T1w" in p)
    assert (
        [i.path for i in images]
        == expected
        == [
            "sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz",
            "sub-01/ses-2/anat/sub-01_ses-2_run-1_T1w.nii.gz",
            "sub-01/ses-2/anat/sub-01_ses-2_run-2_T1w.nii.gz",
        ]
    )
    for image in images:
        data = image.read()
        assert data == (tree.root / image.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == image.sha256
        source = nib.load(tree.root / image.path)
        decoded = image.nifti()
        assert np.array_equal(decoded.get_fdata(), source.get_fdata())
        assert np.allclose(decoded.affine, source.affine)
    read = ds.bytes_fetched - index_bytes  # each image read twice (read, nifti): its page only
    pages = [i.file.location.leaf.page_of(i.file.location.row).size for i in images]
    assert 2 * sum(i.size for i in images) <= read <= 2 * sum(pages)


def test_rows_hold_their_columns_and_only_the_selected_images(
    built: tuple[BidsTree, Path],
) -> None:
    _, out = built
    ds = open_dataset(str(out), ExportOptions(Selection(subjects=("01",), datatypes=("func",))))
    rows = list(ds.rows())

    assert [(r.values["subject_id"], r.values["session_id"]) for r in rows] == [
        ("sub-01", "ses-1"),
        ("sub-01", "ses-2"),
    ]
    for row in rows:
        assert row.images() and all("/func/" in i.path for i in row.images())
        assert row.values["t1w"] == []  # a list column whose images are not selected
    assert [i.path.rsplit("/", 1)[1] for i in rows[0].values["bold_naming40"]] == [
        "sub-01_ses-1_task-naming40_run-01_bold.nii.gz",
        "sub-01_ses-1_task-naming40_run-02_bold.nii.gz",
    ]
    assert rows[0].values["age"] == 61


def test_print_shows_one_readable_line_per_object(built: tuple[BidsTree, Path]) -> None:
    """What ``print`` shows of the reader's objects: path, size and shape (when the row records
    it), never the page records behind them."""
    tree, out = built
    ds = open_dataset(str(out), ExportOptions(Selection(subjects=("01",))))
    files, images = len(ds.files()), len(list(ds.images()))
    total = ds.catalog.files_total
    assert 0 < images < files < total
    assert repr(ds) == (
        f"<LazyDataset {out} (split train): {files} of {total} files selected, "
        f"{images} images among them>"
    )
    image = next(i for i in ds.images() if i.path.endswith("ses-1_T1w.nii.gz"))
    size = (tree.root / image.path).stat().st_size
    assert str(image) == f"<LazyImage sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz: {size} B>"
    row = next(ds.rows())
    (t1w,) = row.values["t1w"]
    assert str(t1w) == f"<LazyImage {image.path}: {size} B, shape 6x7x5>"  # the row's _info
    text = repr(row)
    assert text.startswith("<LazyRow 0: subject_id='sub-01', session_id='ses-1', ")
    assert f"; {len(row.images())} images in t1w, t2w, flair, " in text
    for shown in (ds, image, row, image.file, row.values):
        line = repr(shown)
        assert "\n" not in line and "PageSpot" not in line and "location" not in line
    assert len(repr(row)) < 300 and len(repr(ds)) < 200
