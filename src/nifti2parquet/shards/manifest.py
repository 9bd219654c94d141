"""The build's own records, kept in the hidden ``.nifti2parquet/`` folder (never uploaded).

Per split:
  ``.nifti2parquet/{split}/manifest.json``  the finished split (:class:`Manifest`): the settings
      it was built with, features, shards (size, sha256, rows), counts, the card's information,
      previews, the privacy scan, and the files left out with the reasons;
  ``.nifti2parquet/{split}/markers/``  one completion marker per finished shard (:mod:`.markers`);
  ``.nifti2parquet/{split}/images.jsonl``  every image and where it is (:mod:`.image_index`);
  ``.nifti2parquet/{split}/parts/``, ``plan.pickle``  array-job parts (:mod:`.saved_plan`).

Each section is a small frozen record, written and read here only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib.metadata import version
from typing import Any

import pyarrow as pa

from ..common.errors import OutputError, Problem
from ..common.files_config import FILES_CONFIG
from ..common.rows import Column, DatasetInfo
from ..common.storage import Storage
from ..common.stored_paths import StoredPaths
from ..preflight.privacy_record import PrivacyRecord
from ..sources.options import SourceOptions
from .blanking import ChangedOnPurpose
from .output import STATE, OutputFolder

FORMAT = "nifti2parquet-manifest/2"
# What shard keys and saved plans hash: unchanged while a shard's bytes are decided the same way,
# so a newer manifest format does not rebuild shards.
KEY_FORMAT = "nifti2parquet-manifest/1"


def tool_versions() -> dict[str, str]:
    """Versions that decide the bytes of a shard (the writer's ``created_by`` among them)."""
    return {"nifti2parquet": version("nifti2parquet"), "pyarrow": pa.__version__}


def split_dir(split: str) -> str:
    return f"{STATE}/{split}"


def manifest_path(split: str) -> str:
    return f"{split_dir(split)}/manifest.json"


def absolute_source(source: str) -> str:
    """The source as a path that works from any folder (URLs are kept as they are)."""
    return source if "://" in source else os.path.abspath(source)


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
    image_sha256: Sequence[str] = ()  # a Sha256s as written; a list as read back from JSON

    def to_record(self) -> dict[str, Any]:
        """Its fields as they are (``asdict`` would copy each of a large shard's digests)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "image_sha256"}
        data["num_images"] = len(self.image_sha256)
        return data

    @classmethod
    def from_summary(cls, data: dict[str, Any]) -> ShardRecord:
        return cls(**{k: v for k, v in data.items() if k != "num_images"})


@dataclass(frozen=True)
class FilesRecord:
    """The finished ``files`` config of a split (see ``common/files_config.py``)."""

    shards: tuple[ShardRecord, ...]
    num_files: int  # every file of the dataset: the config is its index
    stored: int  # the files whose bytes are in the config (every one not in an image row)
    stored_bytes: int
    # files stored changed on purpose (--exclude-field/--exclude-column)
    changed: tuple[ChangedOnPurpose, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {
            "shards": [s.summary() for s in self.shards],
            "num_files": self.num_files,
            "stored": self.stored,
            "stored_bytes": self.stored_bytes,
            "changed": [c.to_dict() for c in self.changed],
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> FilesRecord:
        return cls(
            tuple(ShardRecord.from_summary(s) for s in data["shards"]),
            data["num_files"],
            data["stored"],
            data["stored_bytes"],
            tuple(ChangedOnPurpose.from_dict(c) for c in data.get("changed", ())),
        )


@dataclass(frozen=True)
class BuildSettings:
    """The options that decide a split's rows and shards, as its manifest records them."""

    source: SourceOptions
    max_shard_size: int
    row_group_size: int
    on_error: str
    check: str
    blank_nifti_headers: bool

    def to_record(self) -> dict[str, Any]:
        return {
            "source": self.source.to_record(),
            "max_shard_size": self.max_shard_size,
            "row_group_size": self.row_group_size,
            "on_error": self.on_error,
            "check": self.check,
            "blank_nifti_headers": self.blank_nifti_headers,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any], storage: Storage | None = None) -> BuildSettings:
        return cls(
            SourceOptions.from_record(data.get("source") or {}, storage or Storage()),
            data["max_shard_size"],
            data["row_group_size"],
            data["on_error"],
            data["check"],
            data.get("blank_nifti_headers", False),
        )


@dataclass(frozen=True)
class ColumnRecord:
    """One output column: its name, what its cells hold, its description on the card."""

    name: str
    content: str  # image, image_list, file or value
    description: str

    @property
    def is_image(self) -> bool:
        return self.content in ("image", "image_list")

    @classmethod
    def of(cls, column: Column) -> ColumnRecord:
        return cls(column.name, column.content, column.description)


@dataclass(frozen=True)
class PreviewRecord:
    """The PNG preview of an image column drawn for the card (no ``path``: none could be drawn,
    and the ``notes`` say why)."""

    column: str
    images: tuple[str, ...]  # the images it shows (relative paths)
    notes: tuple[str, ...] = ()
    path: str = ""
    size: int = 0
    sha256: str = ""
    panels: tuple[Any, ...] = ()  # how the picture is laid out

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> PreviewRecord:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True)
class Manifest:
    """One finished split."""

    split: str
    source: str
    settings: BuildSettings
    features: dict[str, Any]  # the ``datasets`` features, as written in every shard
    columns: tuple[ColumnRecord, ...]
    info: DatasetInfo
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
    files: FilesRecord | None = None  # the ``files`` config
    images_per_kind: dict[str, int] = field(default_factory=dict)  # BIDS --rows file: per `kind`
    previews: tuple[PreviewRecord, ...] = ()
    privacy: PrivacyRecord = field(default_factory=PrivacyRecord)  # the scan, values masked
    # folders of the source not read (version control, nifti2parquet builds), each once
    skipped: tuple[Problem, ...] = ()
    # a table source: each image path as written and as stored (the published table has these)
    table_paths: StoredPaths | None = None

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

    @property
    def image_columns(self) -> dict[str, str]:
        """Image column name → ``image`` or ``image_list``."""
        return {c.name: c.content for c in self.columns if c.is_image}

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
            "settings": self.settings.to_record(),
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
            "columns": [asdict(c) for c in self.columns],
            "info": self.info.to_record(),
            "files": self.files.to_record() if self.files else None,
            "images_per_kind": self.images_per_kind,
            "previews": [asdict(p) for p in self.previews],
            "privacy": {k: v for k, v in self.privacy.to_dict().items() if k != "seconds"},
            "skipped": [p.to_dict() for p in self.skipped],
            "table_paths": self.table_paths.to_record() if self.table_paths else None,
        }
        return json.dumps(data, indent=1) + "\n"  # ASCII: names may hold surrogates

    @classmethod
    def from_json(cls, text: str, storage: Storage | None = None) -> Manifest:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        return cls(
            split=data["split"],
            source=data["source"],
            settings=BuildSettings.from_record(data["settings"], storage),
            features=data["features"],
            columns=tuple(ColumnRecord(**c) for c in data["columns"]),
            info=DatasetInfo.from_record(data["info"]),
            num_rows=data["num_rows"],
            shards=tuple(ShardRecord.from_summary(s) for s in data["shards"]),
            images_per_column=data["images_per_column"],
            rows_per_column=data["rows_per_column"],
            first_row_per_column=data["first_row_per_column"],
            image_bytes=data["image_bytes"],
            files_found=data["files_found"],
            left_out=tuple(Problem(**p) for p in data["left_out"]),
            warnings=tuple(Problem(**p) for p in data["warnings"]),
            tools=data["tools"],
            files=FilesRecord.from_record(data["files"]) if data.get("files") else None,
            images_per_kind=data.get("images_per_kind", {}),
            previews=tuple(PreviewRecord.from_record(p) for p in data.get("previews", [])),
            privacy=PrivacyRecord.from_dict(data.get("privacy") or {}),
            skipped=tuple(Problem(**p) for p in data.get("skipped", ())),
            table_paths=StoredPaths.from_record(paths)
            if (paths := data.get("table_paths"))
            else None,
        )


def read_manifest(output: OutputFolder, split: str) -> Manifest | None:
    path = manifest_path(split)
    if not output.exists(path):
        return None
    try:
        return Manifest.from_json(output.read_text(path))
    except ValueError:
        raise OutputError(
            f"{output.display(path)}: written by another version of nifti2parquet; run the "
            f"same build again (its finished shards are reused)"
        ) from None


def built_splits(output: OutputFolder) -> list[str]:
    """Splits with a finished manifest in this output folder."""
    return [s for s in output.listdir(STATE) if output.exists(manifest_path(s))]


def read_manifests(output: OutputFolder) -> list[Manifest]:
    """Every finished split's manifest in this folder: train first, then by name (the card's
    order)."""
    manifests = [m for s in built_splits(output) if (m := read_manifest(output, s)) is not None]
    return sorted(manifests, key=lambda m: (m.split != "train", m.split))
