"""Row layouts of a BIDS dataset: one row per session, per subject, or per image file.

``session`` and ``subject``: ``subject_id`` (``sub-<label>``), ``session_id`` (``ses-<label>``,
session layout only), then for each kind of image a column ``K`` (``Nifti()``, or
``List(Nifti())`` when some row has more than one file of that kind) and ``K_info`` (a struct per
image, or a list of structs aligned with the list), then the participants.tsv columns, then the
sessions.tsv columns (session layout) or ``sessions`` (subject layout: a list of structs, one per
session). ``file``: one row per image, with every entity, the image, its metadata and the joined
table columns as flat columns.
Column names follow :mod:`.naming`. Rows are sorted by subject then session; files within a
kind by their path, so ``run-01`` comes before ``run-02``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from ...common.nifti import NiftiHeader
from ...common.rows import Column, FileRef, ImageColumnSummary, StructCell
from .column_names import INFO_SUFFIX, KindKey, NameRegistry, kind_names
from .filenames import snake_name, sorted_entity_keys
from .kinds import entity_labels, kind_description, kind_entities, splitting_entities
from .rules import bids_rules
from .sidecars import TYPED_FIELDS, Sidecar
from .tables import KeyedTable, TableColumn
from .tree import ImageFile

# Ours, a reading order for image columns: the MRI datatypes as a session is usually read; then
# every other datatype in the BIDS schema's order (:mod:`.rules`), then unknown ones by name.
DATATYPE_LEAD = ("anat", "func", "dwi", "fmap", "perf", "pet")


@dataclass(frozen=True, slots=True)
class BidsImage:
    """One image to build with everything known about it."""

    image: ImageFile
    ref: FileRef
    header: NiftiHeader
    sidecar: Sidecar
    scans: tuple[Any, ...]  # the scans.tsv values of this file (aligned with its columns)
    kind_entities: tuple[tuple[str, str], ...] = ()  # what tells it apart within its kind

    @property
    def kind(self) -> KindKey:
        name = self.image.name
        desc = (name.get("desc") or "") if self.image.pipeline else ""
        task = name.get("task") or ""
        return KindKey(self.image.pipeline, desc, name.suffix, task, self.kind_entities)

    @property
    def session_key(self) -> tuple[str, str | None]:
        session = self.image.session
        return f"sub-{self.image.subject}", None if session is None else f"ses-{session}"


@dataclass(frozen=True)
class Tables:
    participants: KeyedTable
    sessions: KeyedTable
    scans: KeyedTable


@dataclass(frozen=True)
class Layout:
    name: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    kinds: tuple[ImageColumnSummary, ...]


def resolve_layout(requested: str, scans: Sequence[BidsImage]) -> str:
    if requested != "auto":
        return requested
    return "session" if any(s.image.session is not None for s in scans) else "subject"


def build_layout(layout: str, scans: Sequence[BidsImage], tables: Tables) -> Layout:
    """Columns and rows for ``layout`` (session, subject or file; auto is resolved before)."""
    scans = _split_kinds(sorted(scans, key=lambda s: s.image.rel))
    if layout == "file":
        return _file_layout(scans, tables)
    return _grouped_layout(layout, scans, tables)


def _split_kinds(scans: list[BidsImage]) -> list[BidsImage]:
    """Each image with the entities that tell it apart from other images of its kind."""
    keys = splitting_entities((s.kind, s.image.name) for s in scans)
    return [replace(s, kind_entities=kind_entities(s.image.name, keys[s.kind])) for s in scans]


# image metadata fields (shared by K_info structs and the file layout's columns) -------------------
Getter = Callable[[BidsImage], Any]


def _image_fields() -> list[tuple[str, pa.DataType, Getter]]:
    fields: list[tuple[str, pa.DataType, Getter]] = [
        ("size", pa.int64(), lambda s: s.ref.size),
        ("shape", pa.list_(pa.int64()), lambda s: s.header.shape),  # the header's own tuples
        ("voxel_sizes", pa.list_(pa.float64()), lambda s: s.header.voxel_sizes),
        ("data_type", pa.string(), lambda s: s.header.datatype),
        ("nifti_version", pa.int64(), lambda s: s.header.nifti_version),
        ("sidecar", pa.string(), lambda s: s.sidecar.text),
    ]
    for i, (_, name, arrow_type) in enumerate(TYPED_FIELDS):
        fields.append((name, arrow_type, lambda s, i=i: s.sidecar.typed[i]))
    fields += [
        ("bval", pa.string(), lambda s: s.sidecar.bval),
        ("bvec", pa.string(), lambda s: s.sidecar.bvec),
        ("events", pa.string(), lambda s: s.sidecar.events),
    ]
    return fields


def _file_fields() -> list[tuple[str, pa.DataType, Getter]]:
    return [
        ("path", pa.string(), lambda s: s.image.rel),
        ("datatype", pa.string(), lambda s: s.image.datatype),
        ("suffix", pa.string(), lambda s: s.image.name.suffix),
        ("extension", pa.string(), lambda s: s.image.name.extension),
    ]


def _scan_field_names(columns: Sequence[TableColumn]) -> list[str]:
    registry = NameRegistry()
    return [registry.claim(snake_name(c.source_name)) for c in columns]


class _InfoStruct:
    """The ``K_info`` struct of one kind: its Arrow type and each image's value."""

    def __init__(self, entity_keys: tuple[str, ...], scan_columns: Sequence[TableColumn]) -> None:
        self.entity_keys = entity_keys
        self.scan_names = _scan_field_names(scan_columns)
        self.scan_types = [c.arrow_type for c in scan_columns]
        self.fields = _file_fields() + _image_fields()

    def arrow_type(self) -> pa.StructType:
        entities = pa.struct([pa.field(k, pa.string()) for k in self.entity_keys])
        fields = [pa.field(n, t) for n, t, _ in self.fields[:4]]
        fields.append(pa.field("entities", entities))
        fields += [pa.field(n, t) for n, t, _ in self.fields[4:]]
        if self.scan_names:
            scans = pa.struct([pa.field(n, t) for n, t in zip(self.scan_names, self.scan_types)])
            fields.append(pa.field("scans", scans))
        return pa.struct(fields)

    def value(self, scan: BidsImage) -> StructCell:
        """The struct's values in its fields' order (a tuple per image, not a dict: a tree
        holds one per image)."""
        name = scan.image.name
        values = [get(scan) for _, _, get in self.fields[:4]]
        values.append(StructCell(name.get(k) for k in self.entity_keys))
        values += [get(scan) for _, _, get in self.fields[4:]]
        if self.scan_names:
            values.append(StructCell(scan.scans))
        return StructCell(values)


# session and subject layouts -------------------------------------------------------------------
def _grouped_layout(layout: str, scans: Sequence[BidsImage], tables: Tables) -> Layout:
    by_row = _rows_of(layout, scans)
    row_keys = sorted(by_row, key=_row_sort_key)
    names = _GroupedNames.claim(layout, scans, tables)
    per_kind = _per_kind(row_keys, by_row, sorted(names.kinds))
    subjects = [_subject(k) for k in row_keys]
    columns: list[Column] = [Column("subject_id", "value", pa.string(), SUBJECT_DESCRIPTION)]
    cells: list[list[Any]] = [subjects]
    if layout == "session":
        columns.append(Column("session_id", "value", pa.string(), SESSION_DESCRIPTION))
        cells.append([k[1] for k in row_keys])
    order = sorted(per_kind, key=lambda k: _kind_display_key(k, names.kinds[k], per_kind[k]))
    stats = []
    for kind in order:
        kind_columns, kind_cells, kind_stats = _kind_columns(
            kind, names.kinds[kind], per_kind[kind], tables
        )
        columns += kind_columns
        cells += kind_cells
        stats.append(kind_stats)
    participants = tables.participants
    _add_table(columns, cells, participants, names.participants, subjects, "participants.tsv")
    if layout == "session":
        _add_table(columns, cells, tables.sessions, names.sessions, row_keys, "sessions.tsv")
    if names.sessions_list:
        columns.append(_sessions_list_column(names.sessions_list, tables.sessions))
        cells.append([_sessions_cell(k, by_row[k], tables.sessions) for k in row_keys])
    return Layout(layout, tuple(columns), tuple(zip(*cells)), tuple(stats))


def _rows_of(layout: str, scans: Sequence[BidsImage]) -> dict[Any, list[BidsImage]]:
    """Images by row: (subject, session) in the session layout, subject in the subject layout."""
    by_row: dict[Any, list[BidsImage]] = defaultdict(list)
    for scan in scans:
        by_row[scan.session_key if layout == "session" else scan.session_key[0]].append(scan)
    return by_row


@dataclass(frozen=True)
class _GroupedNames:
    """The names of a session/subject layout's columns, claimed in the documented order."""

    kinds: dict[KindKey, str]
    participants: list[str]
    sessions: list[str]  # sessions.tsv columns (session layout)
    sessions_list: str  # the `sessions` column (subject layout with sessions), else ""

    @classmethod
    def claim(cls, layout: str, scans: Sequence[BidsImage], tables: Tables) -> _GroupedNames:
        registry = NameRegistry(("subject_id",) + (("session_id",) if layout == "session" else ()))
        has_sessions = any(s.image.session is not None for s in scans)
        sessions_list = registry.claim("sessions") if layout == "subject" and has_sessions else ""
        kinds = kind_names(sorted({s.kind for s in scans}), registry)
        participants = _claim_table(tables.participants, registry, "participant")
        sessions = _claim_table(tables.sessions, registry, "session") if layout == "session" else []
        return cls(kinds, participants, sessions, sessions_list)


def _per_kind(
    row_keys: list[Any], by_row: dict[Any, list[BidsImage]], kinds: list[KindKey]
) -> dict[KindKey, list[list[BidsImage]]]:
    """For each kind, its images in each row (in path order; empty where a row has none)."""
    per_kind: dict[KindKey, list[list[BidsImage]]] = {k: [] for k in kinds}
    for key in row_keys:
        grouped: dict[KindKey, list[BidsImage]] = defaultdict(list)
        for scan in by_row[key]:
            grouped[scan.kind].append(scan)
        for kind in kinds:
            per_kind[kind].append(grouped.get(kind, []))
    return per_kind


SUBJECT_DESCRIPTION = "BIDS subject (sub-<label>), as participant_id in participants.tsv"
SESSION_DESCRIPTION = "BIDS session (ses-<label>); null for files outside a session folder"


def _subject(row_key: Any) -> str:
    return row_key[0] if isinstance(row_key, tuple) else row_key


def _none_first(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


def _row_sort_key(row_key: Any) -> tuple:
    if isinstance(row_key, tuple):
        return (row_key[0], *_none_first(row_key[1]))
    return (row_key,)


def _kind_display_key(kind: KindKey, name: str, groups: list[list[BidsImage]]) -> tuple:
    """Raw before derivatives; then by datatype, and by suffix in the schema's order for it."""
    datatype = next((s.image.datatype for g in groups for s in g), "")
    order = datatype_order()
    return (
        kind.pipeline != "",
        kind.pipeline,
        order.index(datatype) if datatype in order else len(order),
        datatype,
        bids_rules().suffix_rank(datatype, kind.suffix),
        kind.suffix,
        name,
    )


def datatype_order() -> tuple[str, ...]:
    """:data:`DATATYPE_LEAD`, then the schema's other datatypes in its order."""
    return DATATYPE_LEAD + tuple(d for d in bids_rules().datatypes if d not in DATATYPE_LEAD)


def _kind_columns(
    kind: KindKey, name: str, groups: list[list[BidsImage]], tables: Tables
) -> tuple[list[Column], list[list[Any]], ImageColumnSummary]:
    is_list = any(len(g) > 1 for g in groups)
    keys = sorted_entity_keys({k for g in groups for s in g for k in s.image.name.entity_keys()})
    info = _InfoStruct(keys, tables.scans.columns)
    info_type = info.arrow_type()
    image_cells: list[Any] = []
    info_cells: list[Any] = []
    for group in groups:
        if not group:
            image_cells.append(None)
            info_cells.append(None)
        elif is_list:
            image_cells.append(tuple(s.ref for s in group))
            info_cells.append([info.value(s) for s in group])
        else:
            image_cells.append(group[0].ref)
            info_cells.append(info.value(group[0]))
    datatypes = tuple(sorted({s.image.datatype for g in groups for s in g}))
    columns = [
        Column(name, "image_list" if is_list else "image", None, kind_description(kind, datatypes)),
        Column(
            name + INFO_SUFFIX,
            "value",
            pa.list_(info_type) if is_list else info_type,
            f"Metadata of each `{name}` image: path, entities, sidecar JSON, acquisition fields, "
            f"header summary" + (" (aligned with the list)" if is_list else ""),
            describes=name,
        ),
    ]
    stats = ImageColumnSummary(
        name,
        kind.pipeline,
        kind.suffix,
        kind.task,
        datatypes,
        sum(1 for g in groups if g),
        sum(len(g) for g in groups),
        is_list,
        entity_labels(kind),
    )
    return columns, [image_cells, info_cells], stats


def _claim_table(table: KeyedTable, registry: NameRegistry, prefix: str) -> list[str]:
    return [registry.claim(snake_name(c.source_name), prefix) for c in table.columns]


def _add_table(
    columns: list[Column],
    cells: list[list[Any]],
    table: KeyedTable,
    names: Sequence[str],
    keys: Sequence[Any],
    label: str,
) -> None:
    rows = [table.values(k) for k in keys]
    for i, (column, name) in enumerate(zip(table.columns, names)):
        columns.append(
            Column(name, "value", column.arrow_type, _table_description(column, name, label))
        )
        cells.append([row[i] for row in rows])


def _table_description(column: TableColumn, name: str, label: str) -> str:
    origin = "" if name == column.source_name else f" ({label} column `{column.source_name}`)"
    return (column.description + origin).strip() or f"from {label}"


def _sessions_list_column(name: str, table: KeyedTable) -> Column:
    registry = NameRegistry(("session_id",))
    fields = [pa.field("session_id", pa.string())]
    fields += [
        pa.field(registry.claim(snake_name(c.source_name)), c.arrow_type) for c in table.columns
    ]
    return Column(
        name,
        "value",
        pa.list_(pa.struct(fields)),
        "The subject's sessions, with sessions.tsv columns",
    )


def _sessions_cell(subject: str, scans: list[BidsImage], table: KeyedTable) -> list[dict[str, Any]]:
    """One struct per session of the subject that has images, in session order."""
    registry = NameRegistry(("session_id",))
    names = [registry.claim(snake_name(c.source_name)) for c in table.columns]
    sessions = sorted({s.session_key[1] for s in scans}, key=_none_first)
    return [
        {"session_id": ses, **dict(zip(names, table.values((subject, ses))))} for ses in sessions
    ]


# file layout -------------------------------------------------------------------------------------
Spec = tuple[str, "pa.DataType | None", Getter, str]  # name, type (None: the image), getter, text


def _file_layout(scans: Sequence[BidsImage], tables: Tables) -> Layout:
    has_sessions = any(s.image.session is not None for s in scans)
    kind_of = _kind_names_for_file_layout(scans)
    fixed = _fixed_file_columns(has_sessions, kind_of)
    # Every fixed name is claimed first, so entities and table columns can never take one.
    registry = NameRegistry(tuple(name for name, _, _, _ in fixed))
    entity_keys = sorted_entity_keys(
        {k for s in scans for k in s.image.name.entity_keys()} - {"sub", "ses"}
    )
    entities: list[Spec] = [
        (
            registry.claim(snake_name(key), "entity"),
            pa.string(),
            _entity_getter(key),
            f"BIDS entity {key}",
        )
        for key in entity_keys
    ]
    scan_names = [registry.claim(n, "scan") for n in _scan_field_names(tables.scans.columns)]
    participant_names = _claim_table(tables.participants, registry, "participant")
    session_names = _claim_table(tables.sessions, registry, "session")
    # Display order: identity (subject, session, entities), where, the image, its metadata.
    where = 2 if has_sessions else 1
    specs = fixed[:where] + entities + fixed[where:]
    columns = [
        Column(name, "value" if t is not None else "image", t, description)
        for name, t, _, description in specs
    ]
    cells = [[get(s) for s in scans] for _, _, get, _ in specs]
    for i, (column, name) in enumerate(zip(tables.scans.columns, scan_names)):
        description = _table_description(column, name, "scans.tsv")
        columns.append(Column(name, "value", column.arrow_type, description))
        cells.append([s.scans[i] for s in scans])
    subjects = [s.session_key[0] for s in scans]
    sessions = [s.session_key for s in scans]
    _add_table(columns, cells, tables.participants, participant_names, subjects, "participants.tsv")
    _add_table(columns, cells, tables.sessions, session_names, sessions, "sessions.tsv")
    return Layout("file", tuple(columns), tuple(zip(*cells)), _file_kind_stats(scans, kind_of))


def _fixed_file_columns(has_sessions: bool, kind_of: dict[KindKey, str]) -> list[Spec]:
    fixed: list[Spec] = [
        ("subject_id", pa.string(), lambda s: s.session_key[0], SUBJECT_DESCRIPTION)
    ]
    if has_sessions:
        fixed.append(("session_id", pa.string(), lambda s: s.session_key[1], SESSION_DESCRIPTION))
    fixed.append(("pipeline", pa.string(), lambda s: s.image.pipeline or None, _PIPELINE))
    fixed += [(n, t, get, _FILE_DESCRIPTIONS[n]) for n, t, get in _file_fields()]
    fixed.append(("kind", pa.string(), lambda s: kind_of[s.kind], _KIND))
    fixed.append(("image", None, lambda s: s.ref, "The image file"))
    fixed += [
        (n, t, get, _IMAGE_DESCRIPTIONS.get(n, "From the sidecar JSON"))
        for n, t, get in _image_fields()
    ]
    return fixed


def _entity_getter(key: str) -> Getter:
    return lambda s: s.image.name.get(key)


def _file_kind_stats(
    scans: Sequence[BidsImage], kind_of: dict[KindKey, str]
) -> tuple[ImageColumnSummary, ...]:
    grouped: dict[KindKey, list[BidsImage]] = defaultdict(list)
    for s in scans:
        grouped[s.kind].append(s)
    return tuple(
        ImageColumnSummary(
            kind_of[k],
            k.pipeline,
            k.suffix,
            k.task,
            tuple(sorted({s.image.datatype for s in g})),
            len(g),
            len(g),
            False,
            entity_labels(k),
        )
        for k, g in sorted(grouped.items(), key=lambda kv: kind_of[kv[0]])
    )


_PIPELINE = "derivatives/<pipeline> folder; null for raw data"
_KIND = "The image column this file has in the session and subject layouts"


def _kind_names_for_file_layout(scans: Sequence[BidsImage]) -> dict[KindKey, str]:
    """The names the kinds get in the session layout (participant columns aside)."""
    registry = NameRegistry(("subject_id", "session_id"))
    return kind_names(sorted({s.kind for s in scans}), registry)


_FILE_DESCRIPTIONS = {
    "path": "Path of the file relative to the dataset root",
    "datatype": "BIDS datatype folder (anat, func, dwi, ...)",
    "suffix": "BIDS suffix (T1w, bold, dwi, ...)",
    "extension": "File extension (.nii.gz, .nii)",
}
_IMAGE_DESCRIPTIONS = {
    "size": "File size in bytes",
    "shape": "Image shape, from the NIfTI header",
    "voxel_sizes": "Voxel sizes (pixdim), from the NIfTI header",
    "data_type": "Voxel data type, from the NIfTI header",
    "nifti_version": "NIfTI format version (1 or 2)",
    "sidecar": "The merged sidecar JSON (BIDS inheritance principle)",
    "bval": "The .bval file's text (DWI)",
    "bvec": "The .bvec file's text (DWI)",
    "events": "The task's events.tsv text (onset, duration, trial type...; functional images)",
}
