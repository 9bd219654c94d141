"""The card of a segmentation dataset: its channels, its label map, and the way back to nnU-Net.

The label map is what makes a segmentation dataset usable: without it, label 2 means nothing.
It is written three times, for three kinds of reader: a table on the page, a ``labels`` entry in
the card's YAML header (``huggingface_hub.DatasetCard.load(repo).data["labels"]``), and the
``label`` column's field metadata in every shard (written by the schema, from the column).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from ..common.segmentation import MSD, NNUNET_V1, NNUNET_V2, SegmentationInfo
from ..common.units import count
from ..shards.manifest import Manifest

TASK = "image-segmentation"  # the Hub's task category


def segmentation_yaml(info: SegmentationInfo) -> dict[str, Any]:
    """What the card's YAML header says of a segmentation dataset: its task, and its labels
    (name → value, or list of values for a region)."""
    header: dict[str, Any] = {"task_categories": [TASK]}
    if info.labels:
        header["labels"] = info.label_map()
    return header


TAGS = ["nifti", "medical", "segmentation"]  # not neuroimaging, nor MRI: CT tasks are common


def segmentation_section(manifests: Sequence[Manifest], repo: str) -> str:
    """Where the rows come from, the channels, the label map, and how to get the folder back."""
    info = manifests[0].info
    segmentation = info.segmentation
    assert segmentation is not None
    lines = ["## Segmentation\n", _origin(segmentation, info.release, manifests), ""]
    if segmentation.channels:
        lines += _channels(segmentation)
    first = manifests[0]
    lines += _labels(segmentation, repo, first.split, len(first.shards))
    lines += _back(manifests, repo)
    return "\n".join(lines)


def _origin(info: SegmentationInfo, release: str, manifests: Sequence[Manifest]) -> str:
    splits = ", ".join(
        f"`{m.split}` {count(m.num_rows, 'case')} ({m.rows_per_column.get(info.label_column, 0):,}"
        f" with a label)"
        for m in manifests
    )
    where = "one file per case, its channels along the 4th dimension"
    if not info.channels_in_one_file:
        where = "one file per channel, `{case_id}_0000.nii.gz`..."
    text = (
        f"Built from a {info.layout} dataset ({where}): one row per case, with its images, its "
        f"label and their header summary. The split is the folder the case is in: `imagesTr/` "
        f"is `train`, `imagesTs/` is `test`. Here: {splits}."
    )
    facts = []
    if info.tensor_image_size:
        facts.append(f"`tensorImageSize`: {info.tensor_image_size}")
    if release:
        facts.append(f"release: {release}")
    return text + (f" {'; '.join(facts)}." if facts else "")


def _channels(info: SegmentationInfo) -> list[str]:
    lines = ["Channels:\n", "| channel | name | column |", "|---:|---|---|"]
    for channel in info.channels:
        where = " (4th dimension)" if info.channels_in_one_file else ""
        lines.append(f"| {channel.index} | {channel.name} | `{channel.column}`{where} |")
    return [*lines, ""]


def _labels(info: SegmentationInfo, repo: str, split: str, shards: int) -> list[str]:
    if not info.labels:
        return [f"The dataset names no labels for `{info.label_column}`.", ""]
    lines = [
        f"Labels: the voxel values of `{info.label_column}`, as the dataset names them:\n",
        "| value | name |",
        "|---:|---|",
    ]
    for label in info.labels:
        region = " (region)" if label.is_region else ""
        lines.append(f"| {label.value_text()} | {label.name}{region} |")
    lines.append("")
    if info.has_regions:
        order = ", ".join(str(v) for v in info.regions_class_order)
        lines.append(
            "A region covers several values (nnU-Net's region-based labels)"
            + (f"; `regions_class_order`: {order}." if order else ".")
        )
        lines.append("")
    lines.append(
        f"The map is also in this card's YAML header (`labels`, name → value) and in every "
        f"shard's Parquet schema, as the `{info.label_column}` field's metadata (`labels`, "
        f"`description`):\n"
    )
    lines.append(
        "```python\nimport json, pyarrow.parquet as pq\nfrom huggingface_hub import DatasetCard"
        f'\n\nlabels = DatasetCard.load("{repo}").data["labels"]   # {{"background": 0, ...}}\n'
        f'field = pq.read_schema("data/{split}-00000-of-{shards:05d}.parquet").field('
        f'"{info.label_column}")\nlabels = json.loads(field.metadata[b"labels"])\n```\n'
    )
    return lines


def _back(manifests: Sequence[Manifest], repo: str) -> list[str]:
    folder = posixpath.basename(manifests[0].source.rstrip("/")) or "dataset"
    info = manifests[0].info.segmentation
    assert info is not None
    commands = "\n".join(
        f"nifti2parquet export {repo} {folder}/ --split {m.split}" for m in manifests
    )
    then = _NEXT.get(info.layout, "").format(folder=folder)
    return [
        "Get the dataset's folder back, byte for byte (`dataset.json`, `imagesTr/`, `labelsTr/`"
        f"... at their original paths; `--case` exports some cases only){then}:\n",
        f"```\n{commands}\n```\n",
    ]


_NEXT = {
    NNUNET_V2: ", and train nnU-Net on it: put it under `$nnUNet_raw/`, then run "
    "`nnUNetv2_plan_and_preprocess`",
    NNUNET_V1: ", and train nnU-Net v2 on it after `nnUNetv2_convert_old_nnUNet_dataset {folder}`",
    MSD: ", and train nnU-Net on it after `nnUNetv2_convert_MSD_dataset -i {folder}`",
}
