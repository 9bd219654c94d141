"""What a segmentation dataset says of its images and labels: its channels and its label map.

The Medical Segmentation Decathlon and nnU-Net write it in a ``dataset.json``; it travels with
the data as plain fields of :class:`~nifti2parquet.common.rows.DatasetInfo` (the manifest, then
the card) and of the columns (their descriptions and Parquet field metadata), so a reader of the
published dataset knows what each label value means without the original folder.

A label is a name and the voxel values it covers: one value, or several for a region (nnU-Net's
region-based training: ``"whole tumor": [1, 2, 3]``). The label map is written the way nnU-Net v2
writes it, name → value (or list of values), which holds both layouts' maps: MSD's
``{"0": "background"}`` is the same map read the other way round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The layouts a segmentation dataset's folder comes in
MSD = "Medical Segmentation Decathlon"  # one file per case, the channels along its 4th dimension
NNUNET_V1 = "nnU-Net v1"  # MSD's dataset.json, one file per channel (``{case}_0000.nii.gz``)
NNUNET_V2 = "nnU-Net v2"  # nnU-Net v2's dataset.json (``channel_names``), one file per channel


@dataclass(frozen=True)
class SegmentationLabel:
    """One entry of a label map: a name and the voxel values it covers (several: a region)."""

    name: str
    values: tuple[int, ...]

    @property
    def is_region(self) -> bool:
        return len(self.values) > 1

    def value_text(self) -> str:
        return ", ".join(str(v) for v in self.values)


@dataclass(frozen=True)
class SegmentationChannel:
    """One input channel: its index (``_0000`` in file names, or the 4th dimension) and name."""

    index: int
    name: str
    column: str  # the image column holding it


@dataclass(frozen=True)
class SegmentationInfo:
    """A segmentation dataset's own description of its cases (from its ``dataset.json``)."""

    layout: str  # how the folder is laid out: "Medical Segmentation Decathlon", "nnU-Net v2"...
    channels: tuple[SegmentationChannel, ...] = ()
    labels: tuple[SegmentationLabel, ...] = ()
    label_column: str = "label"
    channels_in_one_file: bool = False  # MSD: the channels along the 4th dimension of one file
    regions_class_order: tuple[int, ...] = ()  # nnU-Net: the order regions are painted in
    tensor_image_size: str = ""  # MSD: "3D" or "4D"
    file_ending: str = ""  # nnU-Net: ".nii.gz"
    num_training: int | None = None  # as dataset.json states them
    num_test: int | None = None

    @property
    def has_regions(self) -> bool:
        return any(label.is_region for label in self.labels)

    def label_map(self) -> dict[str, Any]:
        """name → value, or list of values for a region: the card's ``labels`` entry."""
        return {label.name: _value_or_list(label.values) for label in self.labels}

    def channel_map(self) -> dict[str, str]:
        """``{"0": "FLAIR", ...}``: each channel's index and name."""
        return {str(c.index): c.name for c in self.channels}

    def label_words(self) -> str:
        """``0 background, 1 edema, 1+2+3 whole tumor``: the map in a sentence."""
        return ", ".join(
            f"{'+'.join(str(v) for v in label.values)} {label.name}" for label in self.labels
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "channels": [[c.index, c.name, c.column] for c in self.channels],
            "labels": [[label.name, list(label.values)] for label in self.labels],
            "label_column": self.label_column,
            "channels_in_one_file": self.channels_in_one_file,
            "regions_class_order": list(self.regions_class_order),
            "tensor_image_size": self.tensor_image_size,
            "file_ending": self.file_ending,
            "num_training": self.num_training,
            "num_test": self.num_test,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> SegmentationInfo:
        return cls(
            layout=data["layout"],
            channels=tuple(SegmentationChannel(i, n, c) for i, n, c in data["channels"]),
            labels=tuple(SegmentationLabel(n, tuple(v)) for n, v in data["labels"]),
            label_column=data["label_column"],
            channels_in_one_file=data["channels_in_one_file"],
            regions_class_order=tuple(data["regions_class_order"]),
            tensor_image_size=data["tensor_image_size"],
            file_ending=data["file_ending"],
            num_training=data["num_training"],
            num_test=data["num_test"],
        )


def _value_or_list(values: tuple[int, ...]) -> int | list[int]:
    return values[0] if len(values) == 1 else list(values)


def field_metadata(**entries: Any) -> tuple[tuple[str, str], ...]:
    """Parquet field metadata: text stays text, anything else is written as JSON."""
    return tuple(
        (key, value if isinstance(value, str) else json.dumps(value))
        for key, value in entries.items()
        if value not in ("", None, {}, [])
    )
