"""What a segmentation dataset's ``dataset.json`` says: its words, channels, labels and lists.

Both layouts write one at the dataset's root. The Medical Segmentation Decathlon (and nnU-Net
v1, which took its format) writes ``name``, ``description``, ``reference``, ``licence``,
``release``, ``tensorImageSize``, ``modality`` ``{"0": "FLAIR"}``, ``labels``
``{"0": "background"}``, ``numTraining``, ``numTest`` and the ``training`` and ``test`` lists of
files. nnU-Net v2 writes ``channel_names`` ``{"0": "T2"}``, ``labels`` ``{"background": 0}`` (a
name may map to a list of values: a region), ``regions_class_order``, ``numTraining`` and
``file_ending``. Whatever cannot be read is a warning naming the key, never a guess.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ...common.errors import InputError, Problem
from ...common.segmentation import SegmentationLabel
from ...common.tables import decode_text

DESCRIPTION = "dataset.json"
NIFTI_ENDINGS = (".nii.gz", ".nii")


@dataclass(frozen=True)
class Description:
    """``dataset.json``, read: every field this source uses, typed."""

    name: str = ""
    description: str = ""
    reference: str = ""
    license: str = ""
    release: str = ""
    tensor_image_size: str = ""
    channels: tuple[tuple[int, str], ...] = ()  # (index, name), by index
    nnunet_v2: bool = False  # channel_names rather than modality: nnU-Net v2's own format
    labels: tuple[SegmentationLabel, ...] = ()
    regions_class_order: tuple[int, ...] = ()
    file_ending: str = ""  # nnU-Net v2's; "" when not stated
    num_training: int | None = None
    num_test: int | None = None
    training: tuple[tuple[str, str], ...] | None = None  # (image, label) paths; None: no list
    test: tuple[str, ...] | None = None  # image paths; None: no list
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    def listed(self, split: str) -> tuple[tuple[str, str], ...] | None:
        """The split's cases as the lists name them, (image, label or ""); None without a list."""
        if split == "train":
            return self.training
        return None if self.test is None else tuple((image, "") for image in self.test)


def read_description(data: bytes | str | None, source: str) -> Description:
    """Parse ``dataset.json`` (its bytes, or why it could not be read)."""
    where = f"{source}/{DESCRIPTION}"
    if not isinstance(data, bytes):
        raise InputError(f"{where}: {data or 'cannot read'}")
    text, warnings = decode_text(data, DESCRIPTION)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{where}: not a JSON object")
    notes: list[Problem] = list(warnings)
    channels_key = "channel_names" if "channel_names" in raw else "modality"
    description = Description(
        name=_text(raw.get("name")),
        description=_text(raw.get("description")),
        reference=_text(raw.get("reference")),
        license=_text(raw.get("licence", raw.get("license"))),
        release=_text(raw.get("release")),
        tensor_image_size=_text(raw.get("tensorImageSize")),
        channels=_channels(raw.get(channels_key), channels_key, notes),
        nnunet_v2="channel_names" in raw,
        labels=_labels(raw.get("labels"), notes),
        regions_class_order=_ints(raw.get("regions_class_order"), "regions_class_order", notes),
        file_ending=_file_ending(raw.get("file_ending"), where),
        num_training=_count(raw.get("numTraining")),
        num_test=_count(raw.get("numTest")),
        training=_training(raw.get("training"), notes),
        test=_test(raw.get("test"), notes),
    )
    if "dataset" in raw:
        notes.append(_note("dataset", "not read: cases are read from imagesTr/ and imagesTs/"))
    return dataclasses.replace(description, warnings=tuple(notes))


def _note(key: str, message: str) -> Problem:
    return Problem(DESCRIPTION, f"`{key}`: {message}", "warning")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else json.dumps(value)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _index(key: Any) -> int | None:
    try:
        return int(str(key))
    except ValueError:
        return None


def _channels(value: Any, key: str, notes: list[Problem]) -> tuple[tuple[int, str], ...]:
    """``{"0": "FLAIR", "1": "T1w"}`` → ((0, "FLAIR"), (1, "T1w"))."""
    if value is None:
        return ()
    pairs = [(_index(k), v) for k, v in value.items()] if isinstance(value, dict) else []
    if not pairs or any(i is None or i < 0 or not isinstance(v, str) for i, v in pairs):
        notes.append(_note(key, 'not a map of channel index to name ({"0": "T2"}): not read'))
        return ()
    return tuple(sorted((i, v.strip()) for i, v in pairs if i is not None))


def _labels(value: Any, notes: list[Problem]) -> tuple[SegmentationLabel, ...]:
    """MSD's ``{"0": "background"}`` (by value) or nnU-Net v2's ``{"background": 0}`` (in the
    order given; a region maps to a list of values)."""
    if value is None:
        return ()
    if isinstance(value, dict) and value:
        by_value = [(_index(k), v) for k, v in value.items()]
        if all(i is not None and isinstance(v, str) for i, v in by_value):
            return tuple(SegmentationLabel(v, (i,)) for i, v in sorted(by_value))  # type: ignore[arg-type]
        by_name = [(k, _label_values(v)) for k, v in value.items()]
        if all(values for _, values in by_name):
            return tuple(SegmentationLabel(k, values) for k, values in by_name)  # type: ignore[arg-type]
    notes.append(
        _note(
            "labels",
            'neither {"0": "background"} nor {"background": 0} (values: an integer or a list of '
            "integers): not read",
        )
    )
    return ()


def _label_values(value: Any) -> tuple[int, ...] | None:
    values = value if isinstance(value, list) else [value]
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return tuple(values)
    return None


def _ints(value: Any, key: str, notes: list[Problem]) -> tuple[int, ...]:
    if value is None:
        return ()
    values = _label_values(value) if isinstance(value, list) else None
    if values is None:
        notes.append(_note(key, "not a list of integers: not read"))
        return ()
    return values


def _file_ending(value: Any, where: str) -> str:
    if value is None:
        return ""
    if value not in NIFTI_ENDINGS:
        raise InputError(
            f"{where}: file_ending {value!r}: nifti2parquet publishes NIfTI images "
            f"({', '.join(NIFTI_ENDINGS)}) only"
        )
    return str(value)


def relative(path: str) -> str:
    """``./imagesTr/x.nii.gz`` → ``imagesTr/x.nii.gz``: a listed path as a path in the folder."""
    return posixpath.normpath(path.strip().replace("\\", "/")).lstrip("/")


def _training(value: Any, notes: list[Problem]) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return None
    entries = value if isinstance(value, list) else []
    pairs = [
        (relative(e["image"]), relative(e["label"]) if isinstance(e.get("label"), str) else "")
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("image"), str)
    ]
    if len(pairs) != len(entries) or not isinstance(value, list):
        notes.append(_note("training", 'entries that are not {"image": ..., "label": ...}'))
    return tuple(pairs)


def _test(value: Any, notes: list[Problem]) -> tuple[str, ...] | None:
    if value is None:
        return None
    entries = value if isinstance(value, list) else []
    paths = [
        relative(e if isinstance(e, str) else e["image"])
        for e in entries
        if isinstance(e, str) or (isinstance(e, dict) and isinstance(e.get("image"), str))
    ]
    if len(paths) != len(entries) or not isinstance(value, list):
        notes.append(_note("test", "entries that are not an image path"))
    return tuple(paths)
