"""Completion markers: ``.nifti2parquet/{split}/markers/{shard}.json``, one per finished shard.

A marker holds the shard's key (a hash of everything that decides its bytes), its size and
sha256. A shard is reused by a later run only when its marker's key equals the key the current
plan gives it and the file on disk still has the recorded sha256: a changed input, option or
library version changes the key, and the shard is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..common.rows import FileRef, SourceRows
from ..common.schema import features_dict
from .manifest import KEY_FORMAT, ShardRecord, split_dir, tool_versions
from .output import OutputFolder
from .plan import Plan, ShardPlan


def marker_path(split: str, shard_name: str) -> str:
    return f"{split_dir(split)}/markers/{shard_name}.json"


def shard_keys(plan: Plan, rows: SourceRows) -> dict[str, str]:
    """For each shard name, a hash of everything that decides the shard's bytes."""
    common = hash_json(
        {
            "format": KEY_FORMAT,
            "tools": tool_versions(),
            "features": features_dict(rows.columns),
            "types": [str(c.arrow_type) for c in rows.columns],
        }
    )
    return {s.name: _shard_key(common, s, rows.rows[s.start : s.stop]) for s in plan.shards}


def _shard_key(common: str, shard: ShardPlan, rows: Sequence[tuple[Any, ...]]) -> str:
    digest = hashlib.sha256(common.encode())
    layout = [shard.name, [(g.start, g.stop) for g in shard.row_groups]]
    digest.update(json.dumps(layout).encode())
    for row in rows:
        digest.update(_ROW_JSON.encode(row).encode())
    return digest.hexdigest()


def _cell_json(value: Any) -> Any:
    if isinstance(value, FileRef):
        return ["image", value.url, value.size, value.version, value.name]
    if isinstance(value, (bytes, bytearray)):
        return ["bytes", hashlib.sha256(value).hexdigest()]
    return ["value", repr(value)]


# ``json.dumps(row, default=_cell_json, sort_keys=True)``, with one encoder for every row
_ROW_JSON = json.JSONEncoder(default=_cell_json, sort_keys=True)


def hash_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def write_marker(output: OutputFolder, split: str, record: ShardRecord) -> None:
    name = record.path.rsplit("/", 1)[-1]
    output.write_lines_atomic(marker_path(split, name), _marker_json(record))


def _marker_json(record: ShardRecord) -> Iterator[str]:
    """``json.dumps(record.to_record()) + "\\n"`` in pieces, a digest at a time: a shard of many
    small files lists a digest per file, and one string of them all (and the encoder's piece
    of each) held a few hundred bytes of every file at once."""
    data = record.to_record()
    digests = data["image_sha256"]
    data["image_sha256"] = []
    head = json.dumps(data)
    if not head.endswith('"image_sha256": []}'):  # it is the record's last field
        raise AssertionError("image_sha256 is expected last in a shard record")
    yield head[:-2]
    for k, digest in enumerate(digests):
        yield f', "{digest}"' if k else f'"{digest}"'
    yield "]}\n"


def read_marker(output: OutputFolder, split: str, shard_name: str) -> ShardRecord | None:
    path = marker_path(split, shard_name)
    if not output.exists(path):
        return None
    try:
        data = json.loads(output.read_text(path))
        data["image_sha256"] = tuple(data.get("image_sha256", ()))
        return ShardRecord(**data)
    except (ValueError, TypeError):
        return None  # a damaged marker is no marker: the shard is rebuilt
