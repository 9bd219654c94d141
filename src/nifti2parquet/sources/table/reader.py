"""Reading a table of files into rows (the package's docstring says what it reads).

Imported when a table source is read (the package itself only declares the kind).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ...common.data_dictionary import read_dictionary, with_descriptions
from ...common.errors import InputError, OptionError, Problem
from ...common.exclusions import table_without_columns
from ...common.file_stat import StatResult, stat_many
from ...common.nifti import is_nifti_name
from ...common.path_patterns import ExcludePatterns
from ...common.rows import Column, FileRef, MetadataFile, SourceRows
from ...common.storage import Storage, basename, is_remote, join, parent, readable_name
from ...common.tables import TABLE_SUFFIXES, RawTable, infer_text_column, read_raw_table
from ...common.units import count
from ..table_paths import store_relative, without_excluded
from . import KIND


def read_table_source(
    source: str,
    storage: Storage,
    image_columns: Sequence[str] = (),
    threads: int = 16,
    exclude_columns: Sequence[str] = (),
    exclude: ExcludePatterns | None = None,
) -> SourceRows:
    """Read the table, find its image columns, stat every file it names."""
    raw = table_without_columns(read_raw_table(source, storage), exclude_columns, source)
    kinds, warnings = _image_columns(raw, image_columns)
    folder = parent(source)
    refs, problems, found = _resolve_images(raw, kinds, folder, storage, threads)
    refs, paths = store_relative(source, folder, refs, list(kinds))
    refs, excluded = without_excluded(refs, exclude or ExcludePatterns())
    warnings += [p for p in problems if p.severity == "warning"]
    problems = [p for p in problems if p.severity != "warning"] + excluded
    columns, rows = _build_rows(raw, kinds, refs, warnings)
    return SourceRows(
        source=source,
        kind=KIND.name,
        columns=with_descriptions(columns, _own_dictionary(source, storage)),
        rows=tuple(rows),
        files_found=found + 1,  # the images it names, and the table itself
        left_out=tuple(problems),
        warnings=tuple(raw.warnings + warnings),
        other_files=(_table_file(source, storage),),
        metadata_files=(MetadataFile(source, source, "source"),),
        stored_paths=paths,
    )


def _own_dictionary(source: str, storage: Storage) -> dict[str, Any]:
    """The table's data dictionary beside it (``participants.json`` next to
    ``participants.csv``), when there is one: it describes the columns on the card."""
    stem, suffix = os.path.splitext(source)
    if is_remote(source) or suffix.lower() not in TABLE_SUFFIXES:
        return {}
    return read_dictionary(f"{stem}.json", storage, required=False)


def _table_file(source: str, storage: Storage) -> FileRef:
    """The table itself, published beside its images so ``export`` gives it back."""
    size, version = storage.stat(source)
    name = basename(source)
    return FileRef(source, size, name, name, version)


# image columns ---------------------------------------------------------------------------------
def _image_columns(raw: RawTable, named: Sequence[str]) -> tuple[dict[str, str], list[Problem]]:
    """``{column: "image" | "image_list"}`` for the image columns, and warnings."""
    missing = [n for n in named if n not in raw.cells]
    if missing:
        raise OptionError(
            f"--image-column {', '.join(missing)}: no such column (columns: {', '.join(raw.names)})"
        )
    kinds: dict[str, str] = {}
    warnings: list[Problem] = []
    for name in raw.names:
        cells = [_as_paths(c, raw.text) for c in raw.cells[name]]
        paths = [p for c in cells if c is not None for p in (c if isinstance(c, list) else [c])]
        nifti = [p for p in paths if isinstance(p, str) and is_nifti_name(p)]
        if name in named or (nifti and len(nifti) == len(paths)):
            kinds[name] = "image_list" if any(isinstance(c, list) for c in cells) else "image"
        elif nifti:
            warnings.append(
                Problem(
                    name,
                    f"column has {len(nifti)} NIfTI paths and {len(paths) - len(nifti)} other "
                    f"values, so it is kept as text; name it with --image-column to embed them",
                    "warning",
                )
            )
    if not kinds:
        raise InputError(
            "no image columns: no column holds only .nii/.nii.gz paths; "
            "name them with --image-column"
        )
    return kinds, warnings


def _as_paths(cell: Any, text: bool) -> Any:
    """A cell as None, one path, or a list of paths (JSON arrays in text cells are lists)."""
    if text and isinstance(cell, str) and cell.startswith("[") and cell.endswith("]"):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return cell
    return cell


def _resolve_images(
    raw: RawTable, kinds: dict[str, str], folder: str, storage: Storage, threads: int
) -> tuple[dict[tuple[int, str], Any], list[Problem], int]:
    """Stat every named file; refs keyed by (row, column); problems for the ones left out."""
    wanted: list[tuple[int, str, int, str]] = []  # row, column, position in list, path as written
    problems: list[Problem] = []
    invalid = 0
    for name in kinds:
        for r, cell in enumerate(raw.cells[name]):
            paths = _as_paths(cell, raw.text)
            if paths is None:
                continue
            for k, p in enumerate(paths if isinstance(paths, list) else [paths]):
                if isinstance(p, str) and p.strip():
                    wanted.append((r, name, k, p.strip()))
                else:
                    invalid += 1
                    problems.append(
                        Problem(f"row {r + 1}, column {name}", f"not a file path: {p!r}")
                    )
    urls = [_resolve(folder, p) for _, _, _, p in wanted]
    stats = stat_many(urls, storage, threads)
    urls, stats = _legacy_names(urls, stats, storage)
    refs: dict[tuple[int, str], Any] = {}
    seen: dict[str, int] = {}
    for (r, name, _, written), url in zip(wanted, urls):
        where = f"row {r + 1}, column {name}"
        result: StatResult = stats[url]
        if result.problem:
            problems.append(Problem(written, f"{result.problem} ({where})"))
            continue
        seen[url] = seen.get(url, 0) + 1
        renamed = readable_name(basename(url))[1]
        if renamed and seen[url] == 1:
            problems.append(Problem(written, _NOT_UTF8.format(written), "warning"))
        refs.setdefault((r, name), []).append(
            FileRef(url, result.size, written, written, result.version)
        )
    problems += _shared_files(seen)
    return refs, problems, len(wanted) + invalid


def _shared_files(named: dict[str, int]) -> list[Problem]:
    """A table may name one file in many cells (the same template or mask in every row): each
    cell stores the image. Said once, with the count, so that it is never a surprise."""
    shared = {url: n for url, n in named.items() if n > 1}
    if not shared:
        return []
    cells = sum(shared.values())
    example, times = next(iter(shared.items()))
    message = (
        f"{count(len(shared), 'file')} named in more than one cell ({cells:,} cells in all; "
        f"e.g. {basename(example)} in {times:,}): each cell stores its own copy of the image"
    )
    return [Problem("table", message, "warning")]


_NOT_UTF8 = "file name is not valid UTF-8 on disk; stored in `path` as {!r} (read as Latin-1)"


def _legacy_names(
    urls: list[str], stats: dict[str, StatResult], storage: Storage
) -> tuple[list[str], dict[str, StatResult]]:
    """Find files whose names are Latin-1 bytes on disk while the table spells them in Unicode."""
    fixed = []
    for url in urls:
        if stats[url].problem and not is_remote(url) and not url.isascii():
            try:
                legacy = os.fsdecode(url.encode("latin-1"))
            except UnicodeEncodeError:
                legacy = url
            if legacy != url and os.path.exists(legacy):
                stats[legacy] = stat_many([legacy], storage)[legacy]
                url = legacy
        fixed.append(url)
    return fixed, stats


def _resolve(folder: str, path: str) -> str:
    if not is_remote(path) and not is_remote(folder):
        path = os.path.expanduser(path)
    return join(folder, path)


def _build_rows(
    raw: RawTable, kinds: dict[str, str], refs: dict[tuple[int, str], Any], warnings: list[Problem]
) -> tuple[list[Column], list[tuple[Any, ...]]]:
    columns: list[Column] = []
    values: dict[str, list[Any]] = {}
    num_rows = len(next(iter(raw.cells.values()), []))
    for name in raw.names:
        if name in kinds:
            columns.append(Column(name, kinds[name]))  # type: ignore[arg-type]
            values[name] = [_image_cell(raw, name, r, kinds[name], refs) for r in range(num_rows)]
        else:
            arrow_type, converted = _value_column(raw, name, warnings)
            columns.append(Column(name, "value", arrow_type))
            values[name] = converted
    rows = [tuple(values[c.name][r] for c in columns) for r in range(num_rows)]
    return columns, rows


def _image_cell(raw: RawTable, name: str, r: int, kind: str, refs: dict) -> Any:
    """A missing cell stays null, ``[]`` stays ``[]``; files left out are simply absent."""
    written = _as_paths(raw.cells[name][r], raw.text)
    found = refs.get((r, name), [])
    if kind == "image_list":
        return None if written is None else tuple(found)
    return found[0] if found else None


def _value_column(raw: RawTable, name: str, warnings: list[Problem]) -> tuple[pa.DataType, list]:
    cells = raw.cells[name]
    if name in raw.types:
        return raw.types[name], cells
    if raw.text:
        return infer_text_column(cells)
    try:
        inferred = pa.array(cells).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        warnings.append(Problem(name, "column mixes value types; stored as JSON text", "warning"))
        return pa.string(), [None if c is None else json.dumps(c) for c in cells]
    return (pa.string() if pa.types.is_null(inferred) else inferred), cells
