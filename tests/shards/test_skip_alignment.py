"""Leaving a bad file out keeps every row consistent: a list of images and the list of their
metadata (BIDS ``K_info``) lose the same element; in the one-row-per-file layout the row goes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from bids_factory import BidsTree
from datasets import load_dataset
from factories import build_options, nifti_bytes

from nifti2parquet import build


def corrupt_crc(path: Path) -> None:
    """Flip a byte inside the deflate stream: only a full decompression notices."""
    data = bytearray(
        gzip.compress(nifti_bytes(shape=(64, 64, 16), seed=7), compresslevel=1, mtime=0)
    )
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def tree(tmp_path: Path) -> BidsTree:
    tree = BidsTree(tmp_path / "bids")
    tree.description()
    tree.image("sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz")
    for run in (1, 2, 3):
        tree.image(f"sub-01/ses-1/func/sub-01_ses-1_task-rest_run-0{run}_bold.nii.gz", seed=run)
    corrupt_crc(tree.root / "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-02_bold.nii.gz")
    return tree


def test_list_and_its_metadata_lose_the_same_element(tree: BidsTree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = build(
        str(tree.root), str(out), build_options(check="deep", on_error="skip", workers=1)
    )
    assert [p.path for p in result.left_out] == [
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-02_bold.nii.gz"
    ]
    row = load_dataset(str(out), split="train")[0]
    paths = [info["path"] for info in row["bold_rest_info"]]
    assert paths == [
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-01_bold.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-03_bold.nii.gz",
    ]
    assert [info["entities"]["run"] for info in row["bold_rest_info"]] == ["01", "03"]
    assert len(row["bold_rest"]) == 2
    assert [img.shape for img in row["bold_rest"]] == [(6, 7, 5), (6, 7, 5)]


def test_file_layout_drops_the_row_of_a_file_left_out(tree: BidsTree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = build(
        str(tree.root),
        str(out),
        build_options(rows="file", check="deep", on_error="skip", workers=1),
    )
    ds = load_dataset(str(out), split="train")
    assert ds.num_rows == 3 == result.num_rows
    assert "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-02_bold.nii.gz" not in ds["path"]
    assert all(image is not None for image in ds["image"])
    found = result.num_images + result.other_files + len(result.left_out)
    assert result.files_found == found == 5  # 4 images and dataset_description.json
