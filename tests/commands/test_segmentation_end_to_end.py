"""An MSD task and an nnU-Net raw dataset → ``build`` (both splits) → what a user does with it.

What a user checks: ``load_dataset(out)`` gives a train and a test split whose images and labels
decode, case by case, to nibabel's voxels of the source files (test labels null); the card says
what each label value means (a table, the YAML ``labels``) and shows the labels over their image;
``export`` of both splits into one folder gives the dataset's folder back byte for byte (its
``._`` resource forks aside), and ``--case``/``--split`` export exactly the cases asked for; the
lazy reader yields each case's image and label together; ``verify`` proves both splits against
their source; the privacy preflight reads every image header and ``dataset.json``; a case with a
channel missing stops the build with one line naming the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import Nifti, load_dataset
from factories import build_options, tree_bytes
from PIL import Image
from privacy_factory import EMAIL, identifying_image, leaks
from segmentation_factory import SegmentationFolder, msd_folder, nnunet_folder

from nifti2parquet import ExportOptions, VerifyOptions, build, export, open_dataset, verify
from nifti2parquet.commands.build import BuildResult
from nifti2parquet.common.selection import Selection

Built = tuple[SegmentationFolder, Path, dict[str, BuildResult]]


def build_both(folder: SegmentationFolder, out: Path, **options: Any) -> dict[str, BuildResult]:
    """``build SOURCE OUT`` then ``build SOURCE OUT --split test``."""
    return {
        split: build(str(folder.root), str(out), build_options(split=split, **options))
        for split in ("train", "test")
    }


@pytest.fixture(scope="module")
def msd(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("msd")
    folder = msd_folder(root / "Task01_BrainTumour")
    return folder, root / "out", build_both(folder, root / "out")


@pytest.fixture(scope="module")
def nnunet(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("nnunet")
    folder = nnunet_folder(root / "Dataset005_Prostate")
    return folder, root / "out", build_both(folder, root / "out", on_error="skip")


def voxels(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


@pytest.mark.parametrize("which", ["msd", "nnunet"])
def test_load_dataset_gives_each_case_s_images_and_label_with_the_source_s_voxels(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    folder, out, results = request.getfixturevalue(which)
    ds = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert sorted(ds) == ["test", "train"]
    checked = 0
    for split, cases in (("train", folder.train), ("test", folder.test)):
        assert ds[split]["case_id"] == sorted(cases)
        images = [c for c, f in ds[split].features.items() if isinstance(f, Nifti)]
        assert images[-1] == "label" and len(images) == (2 if which == "msd" else 3)
        for row in ds[split]:
            for column in images:
                image, expected = row[column], _source_path(folder, split, row["case_id"], column)
                if not expected.exists():
                    assert image is None, (row["case_id"], column)
                    continue
                assert np.array_equal(np.asarray(image.dataobj), voxels(expected))
                assert np.allclose(image.affine, nib.load(expected).affine)
                checked += 1
            assert row["shape"] == list(nib.load(_first_image(folder, split, row)).shape)
    assert checked == sum(r.num_images for r in results.values())
    assert ds["test"]["label"][-1] is None  # a test case without a label


def _source_path(folder: SegmentationFolder, split: str, case: str, column: str) -> Path:
    suffix = "Tr" if split == "train" else "Ts"
    if column == "label":
        return folder.root / f"labels{suffix}/{case}.nii.gz"
    if column == "image":
        return folder.root / f"images{suffix}/{case}.nii.gz"
    channel = {"t2": 0, "adc": 1}[column]
    return folder.root / f"images{suffix}/{case}_{channel:04d}.nii.gz"


def _first_image(folder: SegmentationFolder, split: str, row: dict) -> Path:
    return _source_path(folder, split, row["case_id"], "image" if "image" in row else "t2")


def test_4d_images_keep_their_channels(msd: Built, tmp_path: Path) -> None:
    _, out, _ = msd
    row = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "c"))[0]
    assert row["image"].shape == (8, 9, 6, 4) and row["shape"] == [8, 9, 6, 4]
    assert row["label"].shape == (8, 9, 6)
    assert sorted(np.unique(np.asarray(row["label"].dataobj))) == [0, 1, 2, 3]


def test_the_card_says_what_each_label_value_means(msd: Built, nnunet: Built) -> None:
    card = (msd[1] / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["labels"] == {
        "background": 0,
        "edema": 1,
        "non-enhancing tumor": 2,
        "enhancing tumour": 3,
    }
    assert header["task_categories"] == ["image-segmentation"]
    assert header["license"] == "cc-by-sa-4.0" and header["pretty_name"] == "BRATS"
    assert "neuroimaging" not in header["tags"]
    assert "| 0 | background |" in card and "| 3 | enhancing tumour |" in card
    assert "| 1 | T1w | `image` (4th dimension) |" in card
    assert "release: 2.0 04/05/2018" in card and "`tensorImageSize`: 4D" in card
    assert "export USER/DATASET Task01_BrainTumour/ --split test" in card
    regions = (nnunet[1] / "README.md").read_text()
    assert "| 1, 2 | prostate (region) |" in regions and "`regions_class_order`: 1, 2" in regions
    assert yaml.safe_load(regions.split("---")[1])["labels"]["prostate"] == [1, 2]


def test_the_label_is_drawn_over_its_image_in_the_previews(nnunet: Built) -> None:
    _, out, _ = nnunet
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    label = next(p for p in manifest["previews"] if p["column"] == "label")
    picture = Image.open(out / label["path"]).convert("RGB")
    pixels = np.asarray(picture).reshape(-1, 3)
    coloured = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 40]  # not grey: a label
    assert len(coloured) > 0
    assert label["images"][0] == "labelsTr/prostate_00.nii.gz"
    assert (out / "previews/train/t2.png").exists()


def test_no_previews_draws_no_label_overlay_either(tmp_path: Path) -> None:
    folder = nnunet_folder(tmp_path / "Dataset005_Prostate", missing_channel=None)
    out = tmp_path / "out"
    build(str(folder.root), str(out), build_options(previews=False))
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    assert manifest["previews"] == []
    assert sorted(out.rglob("*.png")) == []


def test_export_of_both_splits_gives_the_folder_back_byte_for_byte(
    msd: Built, nnunet: Built, tmp_path: Path
) -> None:
    for name, (folder, out, _) in (("msd", msd), ("nnunet", nnunet)):
        dest = tmp_path / name
        written = [export(str(out), str(dest), ExportOptions(split=s)) for s in ("train", "test")]
        expected = {k: v for k, v in tree_bytes(folder.root).items() if k not in folder.forks}
        assert tree_bytes(dest) == expected, name
        assert sum(r.files_written for r in written) == len(expected)


def test_case_and_split_export_exactly_those_cases(nnunet: Built, tmp_path: Path) -> None:
    folder, out, _ = nnunet
    selection = Selection(cases=("prostate_0[03]",))
    for split in ("train", "test"):
        export(str(out), str(tmp_path / split), ExportOptions(selection, split=split))
    assert sorted(tree_bytes(tmp_path / "train")) == sorted(
        [
            "imagesTr/prostate_00_0000.nii.gz",
            "imagesTr/prostate_00_0001.nii.gz",
            "labelsTr/prostate_00.nii.gz",
            *folder.others,
        ]
    )
    assert sorted(tree_bytes(tmp_path / "test")) == sorted(
        [
            "imagesTs/prostate_03_0000.nii.gz",
            "imagesTs/prostate_03_0001.nii.gz",
            "labelsTs/prostate_03.nii.gz",
            *folder.others,
        ]
    )


def test_the_lazy_reader_yields_each_case_s_image_and_label_together(msd: Built) -> None:
    folder, out, _ = msd
    ds = open_dataset(str(out), ExportOptions(Selection(cases=("BRATS_002",)), split="train"))
    rows = list(ds.rows())
    assert [row.values["case_id"] for row in rows] == ["BRATS_002"]
    image, label = rows[0].values["image"], rows[0].values["label"]
    assert (image.path, label.path) == ("imagesTr/BRATS_002.nii.gz", "labelsTr/BRATS_002.nii.gz")
    assert np.array_equal(np.asarray(label.nifti().dataobj), voxels(folder.root / label.path))
    assert image.nifti().shape == (8, 9, 6, 4)


def test_verify_proves_both_splits_against_their_source(nnunet: Built) -> None:
    folder, out, results = nnunet
    report = verify(str(out), VerifyOptions(deep=True, source=""))
    assert report.ok, report.problems
    images = sum(r.num_images for r in results.values())
    assert report.counts["images_decoded"] == images == 11 + 5
    others = 2 * len(folder.others)  # each split publishes the dataset's own files
    assert report.counts["source_files"] == images + others
    errors = [p for p in report.problems if p.severity == "error"]
    assert errors == []


def test_the_build_counts_add_up_and_the_files_config_lists_every_file(msd: Built) -> None:
    folder, out, results = msd
    train = results["train"]
    assert (train.num_rows, train.num_images) == (3, 6)
    assert train.files_found == 6 + 2 + len(train.left_out)  # images, other files, left out
    listed = {
        split: sorted(
            pq.read_table(out / f"files/{split}-00000-of-00001.parquet")["path"].to_pylist()
        )
        for split in ("train", "test")
    }
    train_files = [*(f"{d}Tr/{c}.nii.gz" for c in folder.train for d in ("images", "labels"))]
    assert listed["train"] == sorted([*train_files, *folder.notes, *folder.others])
    assert listed["test"] == sorted(
        ["dataset.json", *(f"imagesTs/{c}.nii.gz" for c in folder.test)]
    )


def test_privacy_reads_every_header_and_dataset_json(tmp_path: Path) -> None:
    folder = nnunet_folder(tmp_path / "Dataset009_Leak", missing_channel=None)
    identifying_image(folder.root / "imagesTr/prostate_01_0000.nii.gz")
    description = json.loads((folder.root / "dataset.json").read_text())
    description["description"] = f"questions to {EMAIL}"
    (folder.root / "dataset.json").write_text(json.dumps(description))
    result = build(str(folder.root), str(tmp_path / "out"), build_options(previews=False))
    findings = {(f.file, f.field, f.kind) for f in result.privacy.findings}
    assert ("dataset.json", "description", "e-mail address") in findings
    image = "imagesTr/prostate_01_0000.nii.gz"
    assert any(f[0] == image and "PatientName" in f[1] for f in findings)
    assert result.privacy.images_scanned == 4 * 2 + 4
    assert leaks({"privacy record": json.dumps(result.privacy.to_dict())}) == []  # masked


def test_a_missing_channel_stops_the_build_with_one_line_naming_the_file(tmp_path: Path) -> None:
    folder = nnunet_folder(tmp_path / "Dataset005_Prostate")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nifti2parquet", "build", str(folder.root), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: imagesTr/prostate_04_0001.nii.gz: missing: channel 0001 (ADC) of case prostate_04"
    )
    assert not (out / "data").exists()


def test_inspect_names_the_kind_and_the_rows(msd: Built) -> None:
    folder, _, _ = msd
    command = [sys.executable, "-m", "nifti2parquet", "inspect", str(folder.root), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first == f"segmentation dataset {folder.root} (one row per case)"
    assert "[info] imagesTr/._BRATS_001.nii.gz: macOS resource fork" in result.stdout


def test_an_excluded_field_of_dataset_json_is_neither_on_the_card_nor_published(
    tmp_path: Path,
) -> None:
    folder = nnunet_folder(tmp_path / "Dataset009_Leak", missing_channel=None)
    description = json.loads((folder.root / "dataset.json").read_text())
    description["description"] = f"questions to {EMAIL}"
    (folder.root / "dataset.json").write_text(json.dumps(description))
    out = tmp_path / "out"
    result = build(str(folder.root), str(out), build_options(exclude_fields=("description",)))
    assert result.privacy.identifying == 0
    published = pq.read_table(out / "files/train-00000-of-00001.parquet").to_pylist()
    stored = next(row for row in published if row["path"] == "dataset.json")
    assert "description" not in json.loads(stored["content"]["bytes"])
    assert (
        leaks({"card": (out / "README.md").read_text(), "dataset.json": stored["content"]["bytes"]})
        == []
    )


def test_hundreds_of_resource_forks_are_a_few_lines_of_the_build_s_output(tmp_path: Path) -> None:
    cases = tuple(f"BRATS_{i:03d}" for i in range(14))
    folder = msd_folder(tmp_path / "Task01_BrainTumour", train=cases, test=())
    command = [
        sys.executable,
        "-m",
        "nifti2parquet",
        "build",
        str(folder.root),
        str(tmp_path / "o"),
    ]
    result = subprocess.run([*command, "--quiet", "--no-previews"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    forks = [line for line in result.stderr.splitlines() if "macOS resource fork" in line]
    assert len(folder.forks) == 15 and len(forks) == 11
    assert forks[-1] == "left out: ... and 5 more: macOS resource fork"
