"""Every image of a build, where it came from and where it is (``{split}/images.jsonl``).

``verify`` and ``verify --source`` read it to know each image's shard, row, size and sha256
without opening a shard; the files config's other files are read from its shards' small columns
(:func:`other_file_records`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from ..common.files_config import INDEX_COLUMNS, STORED_HERE
from ..common.rows import FileRef, SourceRows, images_in_row
from .output import STATE, OutputFolder
from .plan import Plan

if TYPE_CHECKING:
    from .blanking import ChangedOnPurpose
    from .manifest import Manifest, ShardRecord


@dataclass(frozen=True)
class ImageRecord:
    """One image of the output: where it came from and where it is."""

    path: str  # as the user knows it (table cell, BIDS relative path)
    url: str
    size: int
    sha256: str
    shard: str
    row: int  # row index in the split
    column: str
    index: int | None  # position in a list column, else None
    # Set only for an image stored changed on purpose (--blank-nifti-headers): the source file's
    # size and sha256, and what was changed. Otherwise the stored bytes are the source's.
    source_size: int | None = None
    source_sha256: str = ""
    changed: tuple[str, ...] = ()


def images_path(split: str) -> str:
    return f"{STATE}/{split}/images.jsonl"


def image_records(
    plan: Plan, rows: SourceRows, records: dict[str, ShardRecord]
) -> Iterator[ImageRecord]:
    """Every image with its shard, row and sha256, in output order."""
    image_columns = rows.image_columns  # a property: computed once, not per row
    for shard in plan.shards:
        digests = iter(records[shard.name].image_sha256)
        for r in range(shard.start, shard.stop):
            for c, img in images_in_row(rows.rows[r], image_columns):
                cell = rows.rows[r][c]
                index = None if isinstance(cell, FileRef) else cell.index(img)
                column = rows.columns[c].name
                yield ImageRecord(
                    img.display, img.url, img.size, next(digests), shard.path, r, column, index
                )


def write_images(output: OutputFolder, split: str, records: Iterator[ImageRecord]) -> None:
    """One JSON line per record, streamed to the file (never the whole list in memory)."""
    lines = (json.dumps(_image_json(r)) + "\n" for r in records)
    output.write_lines_atomic(images_path(split), lines)


_ON_PURPOSE = ("source_size", "source_sha256", "changed")
_FIELDS = tuple(f.name for f in fields(ImageRecord))


def _image_json(record: ImageRecord) -> dict:
    """The record without the changed-on-purpose fields when nothing was changed (its fields
    read directly: ``asdict`` deep-copies every value, a cost per image)."""
    found = ((k, getattr(record, k)) for k in _FIELDS)
    return {k: v for k, v in found if k not in _ON_PURPOSE or v}


def read_images(output: OutputFolder, split: str) -> list[ImageRecord]:
    text = output.read_text(images_path(split))
    records = [ImageRecord(**json.loads(line)) for line in text.splitlines() if line]
    return [replace(r, changed=tuple(r.changed)) if r.changed else r for r in records]


def other_file_records(output: OutputFolder, manifest: Manifest) -> list[ImageRecord]:
    """The files config's files that are not images, as records (path, size, sha256, place),
    read from the shards' small columns only."""
    import pyarrow.parquet as pq

    records = []
    first = 0  # the row in the config of the shard's first row
    changed = {c.path: c for c in manifest.files.changed} if manifest.files else {}
    for shard in manifest.files.shards if manifest.files else ():
        with output.open_read(shard.path) as f:
            table = pq.read_table(f, columns=list(INDEX_COLUMNS)).to_pylist()
        for i, r in enumerate(table):
            if r["stored"] == STORED_HERE:
                where = (shard.path, first + i, "content", None)
                record = ImageRecord(r["path"], "", r["size"], r["sha256"], *where)
                records.append(_changed_on_purpose(record, changed.get(r["path"])))
        first += shard.num_rows
    return records


def _changed_on_purpose(record: ImageRecord, change: ChangedOnPurpose | None) -> ImageRecord:
    if change is None:
        return record
    return replace(
        record,
        source_size=change.source_size,
        source_sha256=change.source_sha256,
        changed=change.changed,
    )
