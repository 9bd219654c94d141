"""Reading a BIDS dataset into rows: the steps of the package's docstring, in order.

Imported when a BIDS source is recognised or read (the package itself only declares the kind).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...common.errors import InputError, OptionError, Problem, is_filtered
from ...common.exclusions import without_excluded
from ...common.helper_process import helper_process
from ...common.nifti import is_nifti_name
from ...common.rows import MetadataFile, MetadataUnder, SourceRows
from ...common.storage import is_remote, join, local_path
from ...common.tables import decode_text
from ...common.units import count, plural
from ..options import ROW_LAYOUTS
from . import KIND
from .crawl import Entry, file_url, list_tree, listed_ref, read_small_files, root_prefix
from .description import CHANGES, CITATION_CFF, DESCRIPTION, dataset_info, read_description
from .filters import Filters
from .headers import HELPER_MODULES, check_headers
from .ignore import IgnoreRules
from .layouts import BidsImage, Tables, build_layout, resolve_layout
from .loose import loose_rows
from .references import files_to_read, find_references
from .rules import NIFTI_EXTENSIONS, bids_rules
from .sidecars import MetadataIndex, SidecarReader
from .tables import read_participants, read_scans, read_sessions
from .tree import Choices, MetaFile, Tree, classify, wanted_name

if TYPE_CHECKING:
    from ...common.storage import Storage
    from ..options import SourceOptions

ROOT_TABLE_FILES = ("participants.tsv", "participants.json", "sessions.json", "scans.json")
CARD_FILES = (CHANGES, CITATION_CFF)  # read for the card: the year a citation can give

__all__ = ["is_bids_folder", "read_bids_source"]


def read_bids_source(source: str, options: SourceOptions) -> SourceRows:
    """Read the BIDS dataset at ``source`` (a folder or a URL) into rows; nothing is written."""
    if options.rows not in ROW_LAYOUTS:
        raise OptionError(f"--rows {options.rows!r}: choose one of {', '.join(ROW_LAYOUTS)}")
    options.exclude_patterns.check()
    root = _root(source)
    tree, listed = _classified(root, options)
    # the checks on a second core, if one is free
    with helper_process(len(tree.images), preload=HELPER_MODULES) as helper:
        checks = check_headers(root, tree.images, options.storage, options.threads, helper)
        index, metadata = _metadata(root, tree, listed, options)
        headers = checks()
    skipped = listed.skipped
    warnings: list[Problem] = list(tree.notes)
    warnings += [
        Problem(
            e.rel, "file name is not valid UTF-8 on disk; used here as read in Latin-1", "warning"
        )
        for e in [*(i.entry for i in tree.images), *(m.entry for m in tree.metadata)]
        if e.raw
    ]
    tables = Tables(
        read_participants(metadata.contents, warnings),
        read_sessions(metadata.sessions, metadata.contents, warnings),
        read_scans(metadata.scans, metadata.contents, warnings),
    )
    reader = SidecarReader(index, metadata.contents)
    scans = [
        BidsImage(
            image,
            listed_ref(root, image.entry),
            headers.headers[image.rel],
            reader.sidecar(image),
            tables.scans.values(image.rel),
        )
        for image in tree.images
        if image.rel in headers.headers
    ]
    # The sidecar index and the parsed metadata names are let go once every image has its
    # sidecar: what the published sidecars' records need of them is in ``described``.
    # So is the header of each image path (each image holds its own now).
    described, reader_warnings = reader.described, reader.warnings
    header_errors, header_warnings = headers.errors, headers.warnings
    del reader, index, headers
    tree = dataclasses.replace(tree, metadata=())
    left_out = tuple(sorted(tree.left_out + header_errors, key=lambda p: p.path))
    description = read_description(metadata.contents, warnings)
    warnings += reader_warnings + list(header_warnings)
    published = [i.entry for i in tree.images] + list(tree.others)
    found = find_references(
        root, published, metadata.contents, options.storage, options.threads,
        warned={w.path for w in warnings},
    )  # fmt: skip
    warnings += found.warnings
    readme, readme_format = _readme(metadata.contents)
    info = dataset_info(
        description,
        readme,
        readme_format,
        _text_of(metadata.contents, CHANGES),
        _text_of(metadata.contents, CITATION_CFF),
    )
    rows = SourceRows(
        source=source,
        kind=KIND.name,
        columns=(),
        rows=(),
        files_found=tree.files_found,
        left_out=left_out,
        checked="cheap",
        each_file_once=True,
        skipped=skipped,
        references=found.references,
    )
    if not scans:
        return _without_subject_rows(source, root, tree, rows, options, tuple(warnings), info)
    warnings += _participant_warnings(scans, tables, filtered=bool(options.selection.subjects))
    example_subject = min(s.image.subject for s in scans)
    # The listing, the small files' bytes and the sidecar index are let go as soon as what the
    # rows keep of them is made: at a million files they are as big as the rows themselves.
    del found
    contents = metadata.contents
    for rel, data in contents.items():  # the bytes go; whether a file could be read stays
        if isinstance(data, bytes):
            contents[rel] = b""
    metadata_files = _metadata_files(root, tree, metadata, described)
    del described
    del metadata
    others = tree.others
    del tree
    rows = dataclasses.replace(
        rows,
        warnings=tuple(warnings),
        other_files=tuple(listed_ref(root, entry) for entry in others),
        metadata_files=metadata_files,
    )
    del others
    layout = build_layout(resolve_layout(options.rows, scans), scans, tables)
    one_per_row = layout.name == "file"
    info = dataclasses.replace(
        info, layout=layout.name, image_columns=layout.kinds, example_subject=example_subject
    )
    return dataclasses.replace(
        rows,
        columns=layout.columns,
        rows=layout.rows,
        info=info,
        one_image_per_row=one_per_row,
        kind_column="kind" if one_per_row else None,
    )


def _without_subject_rows(
    source: str,
    root: str,
    tree: Tree,
    rows: SourceRows,
    options: SourceOptions,
    warnings: tuple[Problem, ...],
    info: Any,
) -> SourceRows:
    """No image fits a subject's row: a template or atlas dataset gets one row per image file
    (:mod:`.loose`); a filter that selects no image, or a dataset without any image, stops."""
    selection = options.selection
    if selection and any(is_filtered(p) and is_nifti_name(p.path) for p in tree.left_out):
        raise InputError(
            f"{source}: {' '.join(selection.flags())} selects no image "
            f"({count(tree.files_found, 'file')} found)"
        )
    loose = {note.path for note in tree.notes}
    images = [listed_ref(root, e) for e in tree.others if e.rel in loose]
    if not images:
        unindexed = sum(1 for e in tree.others if is_nifti_name(e.rel))
        raise _nothing_to_build(source, tree.files_found, rows.left_out + tree.notes, unindexed)
    columns, image_rows = loose_rows(images)
    return dataclasses.replace(
        rows,
        columns=columns,
        rows=image_rows,
        info=info,
        warnings=tuple(w for w in warnings if w.path not in loose),
        checked=None,  # the images fit no BIDS row: checked as any image is, before planning
        other_files=tuple(listed_ref(root, e) for e in tree.others if e.rel not in loose),
    )


@dataclass(frozen=True)
class _Metadata:
    """The metadata files that matter, read: sidecars by folder, tables, their contents."""

    sessions: list[MetaFile]
    scans: list[MetaFile]
    contents: dict[str, bytes | str]  # relative path -> bytes, or why it could not be read
    entries: dict[str, Entry]  # the files at the root, by name


@dataclass(frozen=True)
class _Listed:
    """The tree as listed: the root's files by name, its first files read, folders skipped."""

    by_rel: dict[str, Entry]
    first: dict[str, bytes | str]
    skipped: tuple[Problem, ...]


def _classified(root: str, options: SourceOptions) -> tuple[Tree, _Listed]:
    """List the tree once and sort its files: images, metadata, others."""
    storage = options.storage
    listing = list_tree(root, storage, wanted_name)
    entries = listing.entries
    by_rel = {e.rel: e for e in entries if "/" not in e.rel}  # the root's files, looked up by name
    first = read_small_files(root, _present(by_rel, (".bidsignore", DESCRIPTION)), storage)
    choices = Choices(Filters(options.selection), options.derivatives, options.exclude_patterns)
    rules = IgnoreRules(_text(first.get(".bidsignore")))
    tree = classify(entries, rules, choices)
    return tree, _Listed(by_rel, first, listing.skipped)


def _metadata(
    root: str, tree: Tree, listed: _Listed, options: SourceOptions
) -> tuple[MetadataIndex, _Metadata]:
    """Read the small files the images need: sidecars, tables, what the others name."""
    storage, by_rel = options.storage, listed.by_rel
    index = MetadataIndex(tree.metadata)
    sessions, scans = _table_files(tree)
    # by path: a path keeps its hash, an entry works its own out at every look-up
    wanted = {rel: m.entry for rel, m in index.needed(tree.images).items()}
    wanted.update((m.rel, m.entry) for m in sessions + scans)
    wanted.update(
        _present_by_rel(by_rel, ROOT_TABLE_FILES + bids_rules().readme_names + CARD_FILES)
    )
    # what the others name, and whether they can be read
    wanted.update((e.rel, e) for e in files_to_read(tree.others))
    contents = read_small_files(
        root, [wanted[rel] for rel in sorted(wanted)], storage, options.threads
    )
    for rel, data in listed.first.items():  # into the big one in place: no copy of it
        contents.setdefault(rel, data)
    if options.exclude_fields or options.exclude_columns:
        contents = without_excluded(contents, options.exclude_fields, options.exclude_columns)
    return index, _Metadata(sessions, scans, contents, by_rel)


def _metadata_files(
    root: str, tree: Tree, metadata: _Metadata, described: dict[str, list[Any]]
) -> tuple[MetadataFile, ...]:
    """The sidecars (with the images each describes: ``SidecarReader.described``), tables and
    description that were read."""
    files = [
        _metadata_file(root, found[0], "sidecar", tuple(found[1:]))
        for rel, found in sorted(described.items())
    ]
    tables = {m.rel: m.entry for m in metadata.sessions + metadata.scans}
    tables.update(_present_by_rel(metadata.entries, ("participants.tsv",)))
    described = _present_by_rel(metadata.entries, (DESCRIPTION,))
    published = {e.rel for e in tree.others if e.rel in tables or e.rel in described}
    for role, found in (("table", tables), ("description", described)):
        for rel, entry in found.items():  # a filtered-out subject's tables are not published
            if rel in published and isinstance(metadata.contents.get(rel), bytes):
                files.append(_metadata_file(root, entry, role))
    return tuple(files)


def _metadata_file(
    root: str, entry: Entry, role: Any, describes: tuple[str, ...] = ()
) -> MetadataFile:
    if not entry.raw:  # read by the path it is known by: its url is joined when asked
        return MetadataUnder(root_prefix(root), entry.rel, role, describes)
    return MetadataFile(entry.rel, file_url(root, entry.on_disk), role, describes)


def _root(source: str) -> str:
    if is_remote(source):
        return source.rstrip("/")
    return os.path.abspath(local_path(source))


def _present(by_rel: dict[str, Entry], names: tuple[str, ...]) -> list[Entry]:
    return [by_rel[n] for n in names if n in by_rel]


def _present_by_rel(by_rel: dict[str, Entry], names: tuple[str, ...]) -> dict[str, Entry]:
    return {e.rel: e for e in _present(by_rel, names)}


def _text(data: bytes | str | None) -> str:
    return decode_text(data, ".bidsignore")[0] if isinstance(data, bytes) else ""


def _table_files(tree: Tree) -> tuple[list[MetaFile], list[MetaFile]]:
    """``sub-X/sub-X_sessions.tsv`` files, and every ``*_scans.tsv``."""
    sessions, scans = [], []
    for m in tree.metadata:
        if m.name.extension != ".tsv":
            continue
        sub = m.name.get("sub")
        if m.name.suffix == "sessions" and not m.root and sub and m.folder == f"sub-{sub}":
            sessions.append(m)
        elif m.name.suffix == "scans" and sub:
            scans.append(m)
    return sessions, scans


def _readme(contents: dict[str, bytes | str]) -> tuple[str, str]:
    """The README's text, and its format as its name says it ("markdown", "text" or "")."""
    for name in bids_rules().readme_names:
        data = contents.get(name)
        if isinstance(data, bytes):
            return decode_text(data, name)[0], _README_FORMATS.get(name.rpartition(".")[2], "")
    return "", ""


_README_FORMATS = {"md": "markdown", "txt": "text", "rst": "text"}


def _text_of(contents: dict[str, bytes | str], name: str) -> str:
    data = contents.get(name)
    return decode_text(data, name)[0] if isinstance(data, bytes) else ""


def _nothing_to_build(
    source: str, files: int, reasons: tuple[Problem, ...], unindexed: int = 0
) -> InputError:
    """No image for the rows: how many NIfTI files there were, each with why it is not built
    (the other files are counted, not listed)."""
    images = sorted((p for p in reasons if p.path.endswith(NIFTI_EXTENSIONS)), key=lambda p: p.path)
    if images:
        others = count(files - len(images), "other file")
        return InputError(
            f"{source}: no NIfTI image to build ({count(len(images), 'NIfTI image')} found and "
            f"left out, {others}):",
            images,
        )
    if unindexed:
        return InputError(
            f"{source}: no NIfTI image to build ({count(files, 'file')} found, no image among "
            f"those BIDS indexes: {count(unindexed, 'NIfTI file')} outside them, published as "
            "files)"
        )
    return InputError(
        f"{source}: no NIfTI image to build: none of the {count(files, 'file')} found is "
        f"a NIfTI image (.nii, .nii.gz)"
    )


def _participant_warnings(scans: list[BidsImage], tables: Tables, filtered: bool) -> list[Problem]:
    listed = set(tables.participants.rows)
    if not tables.participants.columns and not listed:
        return []
    with_images = {s.session_key[0] for s in scans}
    warnings = []
    missing = sorted(with_images - listed)
    if missing:
        warnings.append(
            Problem(
                "participants.tsv",
                f"no row for {count(len(missing), 'subject')} with images: {_some(missing)}; "
                f"their participant columns are null",
                "warning",
            )
        )
    unused = sorted(listed - with_images)
    if unused and not filtered:
        warnings.append(
            Problem(
                "participants.tsv",
                f"{_subjects_have(len(unused))} no image in the output: {_some(unused)}",
                "warning",
            )
        )
    return warnings


def _subjects_have(n: int) -> str:
    return f"{count(n, 'subject')} {plural(n, 'has')}"


def _some(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def is_bids_folder(source: str, storage: Storage) -> bool:
    """A folder with ``dataset_description.json``."""
    marker = join(source, DESCRIPTION)
    if not is_remote(source):
        return os.path.isfile(local_path(marker))
    fs, path = storage.filesystem(marker)
    return bool(fs.exists(path))
