"""Segmentation datasets built in code from real NIfTI bytes: an MSD task folder and an nnU-Net
raw dataset, each with the things a reader must handle.

``msd_folder``: ``Task01_BrainTumour`` as the Decathlon ships it: four channels along the 4th
dimension of one file per case, a ``dataset.json`` with ``training`` and ``test`` lists, a test
split without labels, a file the list does not name, and the ``._`` resource forks of the official
archives. ``nnunet_folder``: ``Dataset005_Prostate`` as nnU-Net v2 writes it: a file per channel
(``_0000``, ``_0001``), a ``dataset.json`` with ``channel_names`` and region-based labels, a
``splits_final.json``, a case with a channel missing, a test split with a few labels.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

SHAPE = (8, 9, 6)


def case_affine(seed: int) -> np.ndarray:
    affine = np.diag([1.0 + seed % 2 * 0.5, 1.25, 2.0, 1.0])
    affine[:3, 3] = [-seed, 3.0, 1.5]
    return affine


def image_volume(seed: int, channels: int = 0) -> np.ndarray:
    """Intensities of one case (``channels`` > 0: along a 4th dimension)."""
    rng = np.random.default_rng(seed)
    shape = (*SHAPE, channels) if channels else SHAPE
    return (rng.random(shape) * 1000).astype(np.int16)


def label_volume(seed: int, values: tuple[int, ...] = (0, 1, 2, 3)) -> np.ndarray:
    """A label map: a block of each value, so every value is present."""
    data = np.zeros(SHAPE, np.uint8)
    for k, value in enumerate(values[1:]):
        data[1 + k : 4 + k, 2 : 5 + seed % 3, 1:4] = value
    return data


def nifti_file(path: Path, data: np.ndarray, seed: int) -> Path:
    """A real ``.nii.gz`` (or ``.nii``) of ``data`` on the case's grid."""
    image = nib.Nifti1Image(data, case_affine(seed))
    image.header.set_data_dtype(data.dtype)
    raw = image.to_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0) if path.suffix == ".gz" else raw)
    return path


RESOURCE_FORK = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40)


@dataclass
class SegmentationFolder:
    root: Path
    train: list[str] = field(default_factory=list)  # case ids that must be rows of train
    test: list[str] = field(default_factory=list)
    forks: list[str] = field(default_factory=list)  # ._ files: left out, "macOS resource fork"
    others: list[str] = field(default_factory=list)  # files in the files config of every split
    notes: list[str] = field(default_factory=list)  # files published with a warning (train)
    missing: list[str] = field(default_factory=list)  # named by the dataset, not on disk (train)
    labels: dict[str, Any] = field(default_factory=dict)  # dataset.json's labels

    def json(self, rel: str, data: Any) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=4))
        self.others.append(rel)

    def fork(self, rel: str) -> None:
        folder, _, name = rel.rpartition("/")
        fork = f"{folder}/._{name}" if folder else f"._{name}"
        (self.root / fork).write_bytes(RESOURCE_FORK)
        self.forks.append(fork)

    def text(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text)
        self.others.append(rel)


MSD_CHANNELS = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
MSD_LABELS = {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}


def msd_folder(
    root: Path,
    train: tuple[str, ...] = ("BRATS_001", "BRATS_002", "BRATS_003"),
    test: tuple[str, ...] = ("BRATS_004", "BRATS_005"),
    forks: bool = True,
    description: str = "Gliomas segmentation tumour and oedema in on brain images",
) -> SegmentationFolder:
    """A Decathlon task: 4D images (4 channels), labels for training cases only."""
    folder = SegmentationFolder(root, list(train), list(test), labels=MSD_LABELS)
    for seed, case in enumerate(train + test):
        image = f"imagesTr/{case}.nii.gz" if case in train else f"imagesTs/{case}.nii.gz"
        nifti_file(root / image, image_volume(seed, channels=4), seed)
        if forks:
            folder.fork(image)
        if case in train:
            nifti_file(root / f"labelsTr/{case}.nii.gz", label_volume(seed), seed)
    # an image the training list does not name: published, with a warning, not a row
    nifti_file(root / "imagesTr/BRATS_999.nii.gz", image_volume(99, channels=4), 99)
    folder.notes.append("imagesTr/BRATS_999.nii.gz")
    folder.json(
        "dataset.json",
        {
            "name": "BRATS",
            "description": description,
            "reference": "https://www.med.upenn.edu/sbia/brats2017.html",
            "licence": "CC-BY-SA 4.0",
            "release": "2.0 04/05/2018",
            "tensorImageSize": "4D",
            "modality": MSD_CHANNELS,
            "labels": MSD_LABELS,
            "numTraining": len(train),
            "numTest": len(test),
            "training": [
                {"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
                for c in train
            ],
            "test": [f"./imagesTs/{c}.nii.gz" for c in test],
        },
    )
    if forks:
        folder.fork("dataset.json")
    return folder


NNUNET_CHANNELS = {"0": "T2", "1": "ADC"}
NNUNET_LABELS = {"background": 0, "PZ": 1, "TZ": 2, "prostate": [1, 2]}


def nnunet_folder(
    root: Path,
    train: tuple[str, ...] = ("prostate_00", "prostate_01", "prostate_02", "prostate_04"),
    test: tuple[str, ...] = ("prostate_03", "prostate_05"),
    missing_channel: str | None = "prostate_04",
    test_labels: tuple[str, ...] = ("prostate_03",),
) -> SegmentationFolder:
    """An nnU-Net v2 raw dataset: one file per channel, region-based labels."""
    folder = SegmentationFolder(root, list(train), list(test), labels=NNUNET_LABELS)
    for seed, case in enumerate(train + test):
        images = "imagesTr" if case in train else "imagesTs"
        for channel in (0, 1):
            rel = f"{images}/{case}_{channel:04d}.nii.gz"
            if case == missing_channel and channel == 1:
                folder.missing.append(rel)
                continue
            nifti_file(root / rel, image_volume(10 * seed + channel), seed)
        if case in train or case in test_labels:
            labels = "labelsTr" if case in train else "labelsTs"
            nifti_file(root / f"{labels}/{case}.nii.gz", label_volume(seed, (0, 1, 2)), seed)
    folder.json(
        "dataset.json",
        {
            "channel_names": NNUNET_CHANNELS,
            "labels": NNUNET_LABELS,
            "regions_class_order": [1, 2],
            "numTraining": len(train),
            "file_ending": ".nii.gz",
            "name": "Prostate",
            "description": "Prostate transitional zone and peripheral zone segmentation",
            "license": "CC-BY-SA 4.0",
        },
    )
    folds = [{"train": list(train[1:]), "val": [train[0]]}]
    folder.json("splits_final.json", folds)
    folder.text("LICENSE", "CC-BY-SA 4.0\n")
    return folder
