"""The build's own records, kept in the hidden ``.nifti2parquet/`` folder (never uploaded).

Per split:
  ``.nifti2parquet/{split}/markers/{shard}.json``  one completion marker per finished shard: the
      shard's key (a hash of everything that decides its bytes), its size and sha256;
  ``.nifti2parquet/{split}/parts/part-{i}-of-{n}.json``  an array-job part that finished;
  ``.nifti2parquet/{split}/manifest.json``  the finished split: options, features, shards (size,
      sha256, rows), counts, and the files left out with the reasons;
  ``.nifti2parquet/{split}/images.jsonl``  every image: where it came from, which shard and row
      holds it, its size and sha256.

A shard is reused by a later run only when its marker's key equals the key the current plan gives
it and the file on disk still has the recorded sha256: a changed input, option or library version
changes the key, and the shard is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from typing import Any

import pyarrow as pa

from ..common.errors import Problem
from ..sources.options import SELECTION_FIELDS, SourceOptions
from ..common.files_config import FILES_CONFIG, INDEX_COLUMNS, STORED_HERE
from ..common.storage import Storage
from ..common.rows import Column, DatasetInfo, FileRef, SourceRows, images_in_row
from ..common.schema import features_dict
from .output import STATE, OutputFolder
from .plan import Plan, ShardPlan

FORMAT = "nifti2parquet-manifest/1"


def tool_versions() -> dict[str, str]:
    """Versions that decide the bytes of a shard (the writer's ``created_by`` among them)."""
    return {"nifti2parquet": version("nifti2parquet"), "pyarrow": pa.__version__}


def split_dir(split: str) -> str:
    return f"{STATE}/{split}"


def marker_path(split: str, shard_name: str) -> str:
    return f"{split_dir(split)}/markers/{shard_name}.json"


def manifest_path(split: str) -> str:
    return f"{split_dir(split)}/manifest.json"


def images_path(split: str) -> str:
    return f"{split_dir(split)}/images.jsonl"


@dataclass(frozen=True)
class ShardRecord:
    """A finished shard, as recorded in its marker and in the manifest."""

    path: str
    key: str
    size: int
    sha256: str
    num_rows: int
    num_row_groups: int
    num_bytes: int
    image_sha256: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("image_sha256")
        data["num_images"] = len(self.image_sha256)
        return data


@dataclass(frozen=True)
class FilesRecord:
    """The finished ``files`` config of a split (see ``sources/dataset_files.py``)."""

    shards: tuple[ShardRecord, ...]
    num_files: int  # every file of the dataset: the config is its index
    stored: int  # the files whose bytes are in the config (every one not in an image row)
    stored_bytes: int
    # files stored changed on purpose (--exclude-field/--exclude-column): each one's source
    # path, url, size and sha256, and what was left out
    changed: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shards"] = [s.summary() for s in self.shards]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FilesRecord:
        shards = tuple(_shard_record(s) for s in data["shards"])
        changed = tuple(data.get("changed", ()))
        return cls(shards, data["num_files"], data["stored"], data["stored_bytes"], changed)


def _shard_record(data: dict[str, Any]) -> ShardRecord:
    return ShardRecord(**{k: v for k, v in data.items() if k != "num_images"})


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


@dataclass(frozen=True)
class Manifest:
    """One finished split."""

    split: str
    source: str
    options: dict[str, Any]
    features: dict[str, Any]
    columns: tuple[dict[str, str], ...]
    info: dict[str, Any]
    num_rows: int
    shards: tuple[ShardRecord, ...]
    images_per_column: dict[str, int]
    rows_per_column: dict[str, int]  # rows holding at least one image of the column
    first_row_per_column: dict[str, int]  # the first row holding one (-1: none)
    image_bytes: int
    files_found: int
    left_out: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    tools: dict[str, str] = field(default_factory=tool_versions)
    files: FilesRecord | None = None  # the ``files`` config (every build since it exists)
    images_per_kind: dict[str, int] = field(default_factory=dict)  # BIDS --rows file: per `kind`
    previews: tuple[dict[str, Any], ...] = ()  # PNG previews: path, column, size, sha256, images
    privacy: dict[str, Any] = field(default_factory=dict)  # the privacy scan, values masked

    @property
    def num_images(self) -> int:
        return sum(self.images_per_column.values())

    @property
    def num_bytes(self) -> int:
        return sum(s.num_bytes for s in self.shards)

    @property
    def all_shards(self) -> tuple[ShardRecord, ...]:
        """Every shard of the split: the image rows', then the ``files`` config's."""
        return self.shards + (self.files.shards if self.files else ())

    def data_globs(self) -> list[tuple[str, str]]:
        """(split, pattern) of each config's data files, as the card declares them."""
        globs = [(self.split, f"data/{self.split}-*")]
        if self.files:
            globs.append((self.split, f"{FILES_CONFIG}/{self.split}-*"))
        return globs

    @property
    def download_size(self) -> int:
        return sum(s.size for s in self.shards)

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "split": self.split,
            "source": self.source,
            "tools": self.tools,
            "options": self.options,
            "num_rows": self.num_rows,
            "num_images": self.num_images,
            "image_bytes": self.image_bytes,
            "images_per_column": self.images_per_column,
            "rows_per_column": self.rows_per_column,
            "first_row_per_column": self.first_row_per_column,
            "files_found": self.files_found,
            "files_written": self.num_images,
            "files_left_out": len(self.left_out),
            "num_bytes": self.num_bytes,
            "download_size": self.download_size,
            "shards": [s.summary() for s in self.shards],
            "left_out": [p.to_dict() for p in self.left_out],
            "warnings": [p.to_dict() for p in self.warnings],
            "features": self.features,
            "columns": list(self.columns),
            "info": self.info,
            "files": self.files.to_dict() if self.files else None,
            "images_per_kind": self.images_per_kind,
            "previews": list(self.previews),
            "privacy": self.privacy,
        }
        return json.dumps(data, indent=1) + "\n"  # ASCII: names may hold surrogates

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        shards = tuple(_shard_record(s) for s in data["shards"])
        return cls(
            split=data["split"],
            source=data["source"],
            options=data["options"],
            features=data["features"],
            columns=tuple(data["columns"]),
            info=data["info"],
            num_rows=data["num_rows"],
            shards=shards,
            images_per_column=data["images_per_column"],
            rows_per_column=data["rows_per_column"],
            first_row_per_column=data["first_row_per_column"],
            image_bytes=data["image_bytes"],
            files_found=data["files_found"],
            left_out=tuple(Problem(**p) for p in data["left_out"]),
            warnings=tuple(Problem(**p) for p in data["warnings"]),
            tools=data["tools"],
            files=FilesRecord.from_dict(data["files"]) if data.get("files") else None,
            images_per_kind=data.get("images_per_kind", {}),
            previews=tuple(data.get("previews", [])),
            privacy=data.get("privacy") or {},
        )


# the saved plan (--plan-only) --------------------------------------------------------------------
def saved_plan_path(split: str) -> str:
    return f"{split_dir(split)}/plan.pickle"


def plan_fingerprint_of(source: str, options: dict[str, Any]) -> str:
    """What decides the rows and the plan: the source, the options, the library versions."""
    return _hash_json(plan_record_of(source, options))


def plan_options_path(split: str) -> str:
    return f"{split_dir(split)}/plan-options.json"


def save_plan_options(output: OutputFolder, split: str, record: dict[str, Any]) -> None:
    """What the saved plan was made with (source, options, library versions), readable by
    people and by the parts that must use exactly that plan."""
    output.write_text_atomic(plan_options_path(split), json.dumps(record, indent=1) + "\n")


def read_plan_options(output: OutputFolder, split: str) -> dict[str, Any] | None:
    path = plan_options_path(split)
    if not output.exists(path):
        return None
    try:
        return json.loads(output.read_text(path))
    except ValueError:
        return None


def plan_record_of(source: str, options: dict[str, Any]) -> dict[str, Any]:
    """The source, options and library versions that decide a plan (hashed: its fingerprint)."""
    return {
        "source": absolute_source(source),
        "options": options,
        "tools": tool_versions(),
        "format": FORMAT,
    }


def save_plan(
    output: OutputFolder, split: str, fingerprint: str, rows: SourceRows, plan: Plan
) -> None:
    """Keep the checked rows and the plan, so array-job parts need not read the source again.

    A pickle: the rows hold Arrow types and Python values that JSON cannot carry. It is read back
    only by this tool, from the output folder it wrote.
    """
    data = pickle.dumps(
        {"fingerprint": fingerprint, "rows": rows, "plan": plan}, protocol=pickle.HIGHEST_PROTOCOL
    )
    output.write_bytes_atomic(saved_plan_path(split), data)


def load_plan(output: OutputFolder, split: str, fingerprint: str) -> tuple[SourceRows, Plan] | None:
    """The saved rows and plan, if they were made from the same source with the same options."""
    path = saved_plan_path(split)
    if not output.exists(path):
        return None
    with output.open_read(path) as f:
        try:
            saved = pickle.loads(f.read())
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None
    if saved.get("fingerprint") != fingerprint:
        return None
    return saved["rows"], saved["plan"]


# shard keys --------------------------------------------------------------------------------------
def shard_keys(plan: Plan, rows: SourceRows) -> dict[str, str]:
    """For each shard name, a hash of everything that decides the shard's bytes."""
    common = _hash_json(
        {
            "format": FORMAT,
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
        digest.update(json.dumps(row, default=_cell_json, sort_keys=True).encode())
    return digest.hexdigest()


def _cell_json(value: Any) -> Any:
    if isinstance(value, FileRef):
        return ["image", value.url, value.size, value.version, value.name]
    if isinstance(value, (bytes, bytearray)):
        return ["bytes", hashlib.sha256(value).hexdigest()]
    return ["value", repr(value)]


def _hash_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# markers and manifest files ------------------------------------------------------------------
def write_marker(output: OutputFolder, split: str, record: ShardRecord) -> None:
    name = record.path.rsplit("/", 1)[-1]
    output.write_text_atomic(marker_path(split, name), json.dumps(asdict(record)) + "\n")


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


def read_manifest(output: OutputFolder, split: str) -> Manifest | None:
    path = manifest_path(split)
    if not output.exists(path):
        return None
    return Manifest.from_json(output.read_text(path))


def built_splits(output: OutputFolder) -> list[str]:
    """Splits with a finished manifest in this output folder."""
    return [s for s in output.listdir(STATE) if output.exists(manifest_path(s))]


def image_records(
    plan: Plan, rows: SourceRows, records: dict[str, ShardRecord]
) -> Iterator[ImageRecord]:
    """Every image with its shard, row and sha256, in output order."""
    for shard in plan.shards:
        digests = iter(records[shard.name].image_sha256)
        for r in range(shard.start, shard.stop):
            for c, img in images_in_row(rows.rows[r], rows.image_columns):
                cell = rows.rows[r][c]
                index = None if isinstance(cell, FileRef) else cell.index(img)
                column = rows.columns[c].name
                yield ImageRecord(
                    img.display, img.url, img.size, next(digests), shard.path, r, column, index
                )


def write_images(output: OutputFolder, split: str, records: Iterator[ImageRecord]) -> None:
    lines = "".join(json.dumps(_image_json(r)) + "\n" for r in records)
    output.write_text_atomic(images_path(split), lines)


_ON_PURPOSE = ("source_size", "source_sha256", "changed")


def _image_json(record: ImageRecord) -> dict[str, Any]:
    """The record without the changed-on-purpose fields when nothing was changed."""
    return {k: v for k, v in asdict(record).items() if k not in _ON_PURPOSE or v}


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
    changed = {c["path"]: c for c in manifest.files.changed} if manifest.files else {}
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


def _changed_on_purpose(record: ImageRecord, change: dict[str, Any] | None) -> ImageRecord:
    if change is None:
        return record
    return replace(
        record,
        source_size=change["source_size"],
        source_sha256=change["source_sha256"],
        changed=tuple(change["changed"]),
    )


# how the source was read --------------------------------------------------------------------------
def absolute_source(source: str) -> str:
    """The source as a path that works from any folder (URLs are kept as they are)."""
    return source if "://" in source else os.path.abspath(source)


def source_options_record(options: SourceOptions) -> dict[str, Any]:
    """The options that decide which files a source yields (so verify can read it the same way)."""
    return {
        name: (list(v) if isinstance(v := getattr(options, name), tuple) else v)
        for name in SELECTION_FIELDS
    }


def recorded_source_options(manifest: Manifest, storage: Storage) -> SourceOptions:
    """The source options the build used, with today's storage settings (credentials, endpoint)."""
    recorded = manifest.options.get("source") or {}
    values = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in recorded.items()
        if k in SELECTION_FIELDS
    }
    return SourceOptions(**values, storage=storage)


def info_dict(info: DatasetInfo) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(info).items()}


def columns_summary(columns: Sequence[Column]) -> tuple[dict[str, str], ...]:
    return tuple({"name": c.name, "kind": c.kind, "description": c.description} for c in columns)
