"""What the remedies change in the files the ``files`` config stores as they are.

The exclusions already keep the named sidecar fields and table columns out of every column of the
rows (:mod:`nifti2parquet.common.exclusions`, applied as the metadata is read). But the ``files``
config publishes the dataset's own files byte for byte, and those files still hold the values: a
sidecar JSON with ``PatientName``, a ``participants.tsv`` with a ``name`` column or with the rows
of participants a ``--subject`` filter left out, a DICOM file under ``sourcedata/``, the table of a
table source. So each file whose content a remedy changes is rewritten once, before planning, into
the build's state folder (``.nifti2parquet/excluded/``) and stored from there; every other file
stays byte for byte:

* ``--exclude-field``: JSON files lose the key (at any depth);
* ``--exclude-column``: TSV, CSV, JSON Lines and Parquet tables lose the column, where it applies
  (participant-level tables and a table source's own table, or the tables its ``GLOB:`` names);
* ``--subject`` / ``--session``: participant-level tables keep only the selected participants'
  rows (and sessions): consent follows the filter;
* ``--exclude-dicom-tags``: DICOM files lose what PS3.15's Basic Profile marks
  (:mod:`.dicom_copies`).

Each rewritten file is recorded with its source's size and sha256 and what was changed, so the
manifest, the card and ``verify --source`` know it was changed on purpose (as images with
``--blank-nifti-headers`` are). How many participants and sessions were left out is counted,
never who.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import posixpath
from collections.abc import Collection
from dataclasses import dataclass, field

from ..common.dicom_profile import has_dicom_preamble, is_dicom_name, may_be_dicom
from ..common.exclusions import (
    LeftOut,
    columns_excluded_in,
    kept_rows,
    without_columns,
    without_fields,
)
from ..common.rows import FileRef, SourceRows
from ..common.selection import Selection
from ..common.storage import Storage
from ..common.tables import decode_text
from ..common.units import count
from .blanking import ChangedOnPurpose
from .dicom_copies import without_dicom_tags
from .output import STATE, OutputFolder

EXCLUDED = f"{STATE}/excluded"


@dataclass(frozen=True)
class Edits:
    """What the remedies ask to change in the published copies of the other files."""

    fields: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # as given: NAME or GLOB:NAME
    selection: Selection = field(default_factory=Selection)
    dicom_tags: bool = False

    def __bool__(self) -> bool:
        participants = self.selection.filters_participants
        return bool(self.fields or self.columns or participants or self.dicom_tags)


def exclude_in_other_files(
    rows: SourceRows, output: OutputFolder, storage: Storage, edits: Edits
) -> tuple[SourceRows, tuple[ChangedOnPurpose, ...], dict[str, int]]:
    """The rows with every other file a remedy changes replaced by its rewritten copy, a record
    of each copy, and how many participants and sessions were left out."""
    left = LeftOut()
    if not edits:
        return rows, (), left.record()
    others, records = [], []
    table_source = any(m.role == "source" for m in rows.metadata_files)  # rows read from it
    for other in rows.other_files:
        copy, record = _exclude_one(other, output, storage, edits, table_source, left)
        others.append(copy)
        records += [record] if record else []
    return dataclasses.replace(rows, other_files=tuple(others)), tuple(records), left.record()


def _exclude_one(
    other: FileRef,
    output: OutputFolder,
    storage: Storage,
    edits: Edits,
    table_source: bool,
    left: LeftOut,
) -> tuple[FileRef, ChangedOnPurpose | None]:
    columns = columns_excluded_in(other.display, edits.columns, table_source)
    if not _may_change(other, edits, columns, storage):
        return other, None
    with storage.open(other.url) as f:
        data = f.read()
    stored, changed = _rewritten(other, data, edits, columns, left)
    if not changed or stored == data:  # holds none of it: stored as it is
        return other, None
    name = hashlib.sha256(other.display.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    rel = f"{EXCLUDED}/{name}{posixpath.splitext(other.name)[1]}"
    output.write_bytes_atomic(rel, stored)
    url = output.display(rel) if output.remote else output.full(rel)
    digest = hashlib.sha256(data).hexdigest()
    record = ChangedOnPurpose(other.display, other.url, len(data), digest, changed)
    version = f"{other.version}|excluded:{hashlib.sha256(stored).hexdigest()[:16]}"
    return FileRef(url, len(stored), other.name, other.display, version), record


def _may_change(other: FileRef, edits: Edits, columns: set[str], storage: Storage) -> bool:
    """Whether reading the file is worth it: only kinds a remedy can change."""
    lower = other.name.lower()
    if lower.endswith(".json"):
        return bool(edits.fields)
    if lower.endswith((".tsv", ".csv", ".jsonl", ".parquet")):
        return bool(columns) or (edits.selection.filters_participants and lower.endswith(".tsv"))
    if edits.dicom_tags:
        return _has_preamble(other, storage)
    return False


def _has_preamble(other: FileRef, storage: Storage) -> bool:
    if is_dicom_name(other.name):
        return True
    if other.size < 132 or not may_be_dicom(other.name):
        return False
    with storage.open(other.url) as f:
        return has_dicom_preamble(f.read(132))


def _rewritten(
    other: FileRef, data: bytes, edits: Edits, columns: set[str], left: LeftOut
) -> tuple[bytes, tuple[str, ...]]:
    """The file's new bytes and what changed (empty when nothing did)."""
    lower = other.name.lower()
    changed: list[str] = []
    if lower.endswith(".json"):
        stored = _json_without(data, edits.fields)
        if stored is not None:
            changed += [f"--exclude-field {f}" for f in edits.fields if f.encode() in data]
            data = stored
    elif lower.endswith((".tsv", ".csv", ".jsonl", ".parquet")):
        stored = _table_without(lower, data, columns)
        if stored is not None:
            changed += [f"--exclude-column {c}" for c in sorted(columns) if c.encode() in data]
            data = stored
        if lower.endswith(".tsv") and edits.selection.filters_participants:
            data, consent = _selected_rows(other.display, data, edits.selection, left)
            changed += consent
    else:
        rewritten = without_dicom_tags(data)
        if rewritten is not None:
            data, count = rewritten
            changed.append(f"--exclude-dicom-tags: {count:,} attributes")
    return data, tuple(changed)


def _table_without(lower: str, data: bytes, columns: Collection[str]) -> bytes | None:
    if not columns:
        return None
    if lower.endswith(".tsv"):
        stored = without_columns(data, columns)
        return None if stored == data else stored
    if lower.endswith(".csv"):
        return _csv_without(data, columns)
    if lower.endswith(".jsonl"):
        return _jsonl_without(data, columns)
    return _parquet_without(data, columns)


def _selected_rows(
    path: str, data: bytes, selection: Selection, left: LeftOut
) -> tuple[bytes, list[str]]:
    """A participant-level table with only the selected participants' rows (and sessions)."""
    text = decode_text(data, path)[0]
    kept = kept_rows(path, text, selection)
    if kept is None or not kept.changed:
        return data, []
    left.add(kept)
    parts = []
    if kept.subjects_out:
        who = count(len(kept.subjects_out), "participant")
        parts.append(f"rows of {who} left out by --subject")
    if kept.sessions_out:
        parts.append(f"rows of {count(len(kept.sessions_out), 'session')} left out by --session")
    return "".join(kept.lines).encode("utf-8"), parts


def _json_without(data: bytes, fields: Collection[str]) -> bytes | None:
    """Only a JSON file that holds an excluded key is rewritten (others keep their formatting)."""
    if not fields:
        return None
    stored = without_fields(data, fields)
    if stored == data or json.loads(stored) == json.loads(data):
        return None
    return stored


def _csv_without(data: bytes, columns: Collection[str]) -> bytes | None:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"))))
    if not rows or not any(name.strip() in columns for name in rows[0]):
        return None
    keep = [i for i, name in enumerate(rows[0]) if name.strip() not in columns]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([r[i] for i in keep if i < len(r)] for r in rows)
    return out.getvalue().encode("utf-8", "surrogateescape")


def _jsonl_without(data: bytes, columns: Collection[str]) -> bytes | None:
    if not any(f'"{c}"'.encode() in data for c in columns):
        return None
    lines = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        obj = json.loads(line) if line.strip() else None
        if isinstance(obj, dict):
            line = json.dumps({k: v for k, v in obj.items() if k not in columns})
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def _parquet_without(data: bytes, columns: Collection[str]) -> bytes | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    if not set(table.column_names) & set(columns):
        return None
    table = table.drop_columns([c for c in table.column_names if c in columns])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
