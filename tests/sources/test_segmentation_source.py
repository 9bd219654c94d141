"""A segmentation dataset as SOURCE: an MSD task folder and an nnU-Net raw dataset, read.

What a user checks: one row per case with the columns the layout gives (one 4D ``image``, or one
column per channel named from ``dataset.json``), ``label`` null for test cases; the split is the
folder; the label map (region-based labels included) and the dataset's own words are in the
info; every file is a row's, the files config's, the other split's, or left out with its reason
(``._`` resource forks: "macOS resource fork"); a missing channel or training label is an error
naming the file; ``--case`` selects exactly; what a segmentation dataset cannot do is refused in
one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from factories import source_options
from segmentation_factory import (
    MSD_CHANNELS,
    RESOURCE_FORK,
    SegmentationFolder,
    image_volume,
    msd_folder,
    nifti_file,
    nnunet_folder,
)

from nifti2parquet.common.errors import InputError, OptionError
from nifti2parquet.common.rows import FileRef, SourceRows
from nifti2parquet.common.schema import arrow_schema
from nifti2parquet.common.segmentation import SegmentationLabel
from nifti2parquet.common.selection import Selection
from nifti2parquet.common.storage import Storage
from nifti2parquet.sources import path_selector, read_source
from nifti2parquet.sources.registry import recognise
from nifti2parquet.sources.segmentation.description import read_description


@pytest.fixture(scope="module")
def msd(tmp_path_factory: pytest.TempPathFactory) -> SegmentationFolder:
    return msd_folder(tmp_path_factory.mktemp("msd") / "Task01_BrainTumour")


@pytest.fixture(scope="module")
def nnunet(tmp_path_factory: pytest.TempPathFactory) -> SegmentationFolder:
    return nnunet_folder(tmp_path_factory.mktemp("nnunet") / "Dataset005_Prostate")


def read(folder: SegmentationFolder, **options: object) -> SourceRows:
    return read_source(str(folder.root), source_options(**options))


def cells(rows: SourceRows) -> dict[str, dict[str, object]]:
    """Each case's cells by column: files as their stored path."""
    names = [c.name for c in rows.columns]
    return {
        row[0]: {n: v.name if isinstance(v, FileRef) else v for n, v in zip(names, row)}
        for row in rows.rows
    }


def accounted(rows: SourceRows) -> int:
    images = sum(1 for _ in rows.images())
    return images + len(rows.other_files) + len(rows.left_out)


def test_an_msd_task_is_one_row_per_training_case_with_its_4d_image_and_label(
    msd: SegmentationFolder,
) -> None:
    rows = read(msd)
    assert rows.kind == "segmentation" and recognise(str(msd.root), Storage()).name == rows.kind
    assert [c.name for c in rows.columns] == ["case_id", "image", "label", "shape", "voxel_sizes"]
    assert [c.content for c in rows.columns] == ["value", "image", "image", "value", "value"]
    assert cells(rows) == {
        case: {
            "case_id": case,
            "image": f"imagesTr/{case}.nii.gz",
            "label": f"labelsTr/{case}.nii.gz",
            "shape": [8, 9, 6, 4],  # the 4 channels along the 4th dimension
            "voxel_sizes": [1.0 + k % 2 * 0.5, 1.25, 2.0, 1.0],
        }
        for k, case in enumerate(msd.train)
    }
    images = [img for _, _, img in rows.images()]
    assert all(img.url == str(msd.root / img.name) for img in images)


def test_the_training_list_is_the_truth_and_resource_forks_are_left_out_with_their_reason(
    msd: SegmentationFolder,
) -> None:
    rows = read(msd)
    forks = {p.path: (p.message, p.severity) for p in rows.left_out}
    expected = {f for f in msd.forks if not f.startswith("imagesTs/")}
    assert forks == {f: ("macOS resource fork", "info") for f in expected}
    assert sorted(f.name for f in rows.other_files) == sorted(msd.others + msd.notes)
    warnings = {p.path: p.message for p in rows.warnings}
    assert warnings["imagesTr/BRATS_999.nii.gz"] == (
        "not named in dataset.json's training list: published in the files config, not in a row"
    )
    assert "build them with --split test" in warnings["imagesTs/"]
    assert rows.files_found == accounted(rows) == 3 * 2 + 2 + len(expected)


def test_imagess_is_the_test_split_without_labels(msd: SegmentationFolder) -> None:
    rows = read(msd, split="test")
    assert [c.name for c in rows.columns] == ["case_id", "image", "label", "shape", "voxel_sizes"]
    assert {case: (c["image"], c["label"]) for case, c in cells(rows).items()} == {
        case: (f"imagesTs/{case}.nii.gz", None) for case in msd.test
    }
    assert not [p for p in rows.left_out if p.severity != "info"]
    assert [f.name for f in rows.other_files] == ["dataset.json"]


def test_the_dataset_s_words_channels_and_label_map_are_its_info(msd: SegmentationFolder) -> None:
    info = read(msd).info
    assert (info.title, info.license, info.release) == ("BRATS", "CC-BY-SA 4.0", "2.0 04/05/2018")
    assert info.description.startswith("Gliomas") and info.references[0].startswith("https://")
    seg = info.segmentation
    assert seg is not None and seg.layout == "Medical Segmentation Decathlon"
    assert seg.channels_in_one_file and seg.tensor_image_size == "4D"
    assert [(c.index, c.name, c.column) for c in seg.channels] == [
        (int(k), v, "image") for k, v in MSD_CHANNELS.items()
    ]
    assert seg.labels == (
        SegmentationLabel("background", (0,)),
        SegmentationLabel("edema", (1,)),
        SegmentationLabel("non-enhancing tumor", (2,)),
        SegmentationLabel("enhancing tumour", (3,)),
    )
    assert seg.label_map() == {
        "background": 0,
        "edema": 1,
        "non-enhancing tumor": 2,
        "enhancing tumour": 3,
    }


def test_an_nnunet_dataset_has_a_column_per_channel_named_from_dataset_json(
    nnunet: SegmentationFolder,
) -> None:
    rows = read(nnunet)
    names = [c.name for c in rows.columns]
    assert names == ["case_id", "t2", "adc", "label", "shape", "voxel_sizes"]
    got = cells(rows)
    assert list(got) == sorted(nnunet.train)
    assert got["prostate_00"] == {
        "case_id": "prostate_00",
        "t2": "imagesTr/prostate_00_0000.nii.gz",
        "adc": "imagesTr/prostate_00_0001.nii.gz",
        "label": "labelsTr/prostate_00.nii.gz",
        "shape": [8, 9, 6],
        "voxel_sizes": [1.0, 1.25, 2.0],
    }
    assert rows.columns[names.index("label")].overlays == "t2"  # previews draw it over t2
    assert sorted(f.name for f in rows.other_files) == sorted(nnunet.others)


def test_a_missing_channel_is_an_error_naming_the_file_and_the_case_keeps_the_others(
    nnunet: SegmentationFolder,
) -> None:
    rows = read(nnunet)
    errors = [(p.path, p.message) for p in rows.left_out if p.severity == "error"]
    assert errors == [
        ("imagesTr/prostate_04_0001.nii.gz", "missing: channel 0001 (ADC) of case prostate_04")
    ]
    case = cells(rows)["prostate_04"]
    assert (case["t2"], case["adc"]) == ("imagesTr/prostate_04_0000.nii.gz", None)


def test_region_based_labels_keep_their_values_and_order(nnunet: SegmentationFolder) -> None:
    seg = read(nnunet).info.segmentation
    assert seg is not None and seg.layout == "nnU-Net v2" and not seg.channels_in_one_file
    assert seg.label_map() == {"background": 0, "PZ": 1, "TZ": 2, "prostate": [1, 2]}
    assert seg.has_regions and seg.regions_class_order == (1, 2)
    assert [(c.index, c.name, c.column) for c in seg.channels] == [
        (0, "T2", "t2"),
        (1, "ADC", "adc"),
    ]
    assert seg.label_words() == "0 background, 1 PZ, 2 TZ, 1+2 prostate"


def test_the_test_split_has_the_labels_labelsts_holds(nnunet: SegmentationFolder) -> None:
    rows = read(nnunet, split="test")
    assert {case: c["label"] for case, c in cells(rows).items()} == {
        "prostate_03": "labelsTs/prostate_03.nii.gz",
        "prostate_05": None,
    }
    assert rows.left_out == ()


def test_the_label_map_and_channels_are_in_the_parquet_schema(nnunet: SegmentationFolder) -> None:
    schema = arrow_schema(read(nnunet).columns)
    label = schema.field("label").metadata
    assert json.loads(label[b"labels"]) == {"background": 0, "PZ": 1, "TZ": 2, "prostate": [1, 2]}
    assert b"1+2 prostate" in label[b"description"]
    assert json.loads(schema.field("adc").metadata[b"channels"]) == {"1": "ADC"}
    assert schema.field("case_id").metadata is None and schema.field("label").type == pa.struct(
        [pa.field("bytes", pa.binary()), pa.field("path", pa.string())]
    )


def test_case_selects_exactly_and_counts_the_others_as_filtered(msd: SegmentationFolder) -> None:
    rows = read(msd, cases=("BRATS_00[13]",))
    assert list(cells(rows)) == ["BRATS_001", "BRATS_003"]
    filtered = {p.path: p.message for p in rows.left_out if p.message.startswith("filtered out")}
    assert filtered == {
        rel: "filtered out: case 'BRATS_002' does not match --case BRATS_00[13]"
        for rel in ("imagesTr/BRATS_002.nii.gz", "labelsTr/BRATS_002.nii.gz")
    }
    assert rows.files_found == accounted(rows)


def test_case_read_from_a_path_selects_the_same_files_as_the_build(
    nnunet: SegmentationFolder,
) -> None:
    reason = path_selector(Selection(cases=("prostate_0[03]",)))
    kept = {
        p.relative_to(nnunet.root).as_posix()
        for p in nnunet.root.rglob("*")
        if p.is_file() and not reason(p.relative_to(nnunet.root).as_posix())
    }
    assert kept == {
        "imagesTr/prostate_00_0000.nii.gz",
        "imagesTr/prostate_00_0001.nii.gz",
        "labelsTr/prostate_00.nii.gz",
        "imagesTs/prostate_03_0000.nii.gz",
        "imagesTs/prostate_03_0001.nii.gz",
        "labelsTs/prostate_03.nii.gz",
        *nnunet.others,  # dataset.json, splits_final.json, LICENSE: the dataset's, always kept
    }
    assert reason("imagesTr/prostate_01_0000.nii.gz") == (
        "filtered out: case 'prostate_01' does not match --case prostate_0[03]"
    )


def test_nnunet_v1_folders_msd_json_with_a_file_per_channel(tmp_path: Path) -> None:
    """nnU-Net v1 kept MSD's dataset.json (lists naming the case, not its channel files)."""
    root = tmp_path / "Task002_Heart"
    for seed, case in enumerate(("la_003", "la_004")):
        nifti_file(root / f"imagesTr/{case}_0000.nii.gz", image_volume(seed), seed)
        nifti_file(root / f"labelsTr/{case}.nii.gz", image_volume(seed).clip(0, 1), seed)
    training = [
        {"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
        for c in ("la_003", "la_004")
    ]
    description = {"modality": {"0": "MRI"}, "labels": {"0": "background", "1": "left atrium"}}
    (root / "dataset.json").write_text(json.dumps({**description, "training": training}))
    rows = read(SegmentationFolder(root))
    assert [c.name for c in rows.columns] == ["case_id", "mri", "label", "shape", "voxel_sizes"]
    assert cells(rows)["la_004"]["mri"] == "imagesTr/la_004_0000.nii.gz"
    assert rows.info.segmentation is not None and rows.info.segmentation.layout == "nnU-Net v1"


def test_a_missing_training_label_and_a_label_without_a_case_are_said(tmp_path: Path) -> None:
    folder = nnunet_folder(tmp_path / "Dataset001_X", missing_channel=None)
    (folder.root / "labelsTr/prostate_01.nii.gz").unlink()
    nifti_file(folder.root / "labelsTr/prostate_77.nii.gz", image_volume(7), 7)
    (folder.root / "imagesTr/._prostate_00_0000.nii.gz").write_bytes(RESOURCE_FORK)
    rows = read(folder)
    problems = {p.path: (p.severity, p.message) for p in (*rows.left_out, *rows.warnings)}
    assert problems["labelsTr/prostate_01.nii.gz"] == (
        "error",
        "missing: the label of training case prostate_01",
    )
    assert problems["labelsTr/prostate_77.nii.gz"] == (
        "warning",
        "the label of no case in imagesTr/: published in the files config, not in a row",
    )
    assert problems["imagesTr/._prostate_00_0000.nii.gz"] == ("info", "macOS resource fork")
    assert "labelsTr/prostate_77.nii.gz" in {f.name for f in rows.other_files}


def test_a_broken_image_is_an_error_not_a_row_cell(tmp_path: Path) -> None:
    folder = nnunet_folder(tmp_path / "Dataset001_X", missing_channel=None)
    (folder.root / "imagesTr/prostate_01_0000.nii.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    rows = read(folder)
    broken = [p for p in rows.left_out if p.path == "imagesTr/prostate_01_0000.nii.gz"]
    assert len(broken) == 1 and broken[0].severity == "error"
    assert cells(rows)["prostate_01"]["t2"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"subjects": ("01",)}, "--subject: not a filter of a segmentation dataset"),
        ({"split": "validation"}, "--split validation: a segmentation dataset's splits are"),
        ({"rows": "session"}, "--rows session: a segmentation dataset has one row per case"),
    ],
)
def test_what_a_segmentation_dataset_cannot_do_is_refused(
    msd: SegmentationFolder, options: dict[str, object], message: str
) -> None:
    with pytest.raises(OptionError) as error:
        read(msd, **options)
    assert error.value.message.startswith(message)


def test_a_split_with_no_case_and_a_bad_dataset_json_are_one_line(tmp_path: Path) -> None:
    folder = nnunet_folder(tmp_path / "Dataset001_X", test=(), test_labels=())
    with pytest.raises(InputError, match=r"no case to build in imagesTs/ \(split 'test'"):
        read(folder, split="test")
    (folder.root / "dataset.json").write_text("{not json")
    with pytest.raises(InputError, match=r"dataset.json: not valid JSON"):
        read(folder)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"0": "background", "2": "tumour", "1": "kidney"}, ((0,), (1,), (2,))),
        ({"background": 0, "whole": [1, 2, 3], "core": [2, 3]}, ((0,), (1, 2, 3), (2, 3))),
    ],
)
def test_both_forms_of_label_map_are_read(labels: dict, expected: tuple) -> None:
    description = read_description(json.dumps({"labels": labels}).encode(), "x")
    assert tuple(label.values for label in description.labels) == expected
    assert description.warnings == ()


def test_a_label_map_of_neither_form_is_a_warning_not_a_guess() -> None:
    description = read_description(json.dumps({"labels": {"a": "b"}}).encode(), "x")
    assert description.labels == ()
    assert [p.message.split(":")[0] for p in description.warnings] == ["`labels`"]


def test_a_folder_without_imagestr_is_not_a_segmentation_dataset(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text("{}")
    assert recognise(str(tmp_path), Storage()) is None


def test_a_list_naming_a_case_twice_or_a_file_that_is_not_nifti_is_a_warning(
    tmp_path: Path,
) -> None:
    folder = msd_folder(tmp_path / "Task01_BrainTumour", forks=False)
    description = json.loads((folder.root / "dataset.json").read_text())
    first = description["training"][0]
    description["training"] += [first, {"image": "./imagesTr/notes.txt", "label": ""}]
    (folder.root / "dataset.json").write_text(json.dumps(description))
    rows = read(folder)
    assert list(cells(rows)) == folder.train  # each case once
    warnings = [p.message for p in rows.warnings if p.path == "dataset.json"]
    assert warnings == [
        "training list: imagesTr/BRATS_001.nii.gz: named twice: read once",
        "training list: imagesTr/notes.txt: not a NIfTI image: not read",
    ]
