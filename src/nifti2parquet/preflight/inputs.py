"""Checks on the inputs that run before any shard is written.

Cheap checks read a few KB per file (the header, and a gzip file's trailer) and catch empty,
truncated, pointer and non-NIfTI files; ``--check deep`` also decompresses and decodes every image
the way `datasets` will. A file that fails is taken out of the rows and recorded with its reason, so
the build can either stop and list every problem (``--on-error fail``) or go on without those files
and say so everywhere (``--on-error skip``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from ..common.errors import InputError, Problem, cannot_read, errors_only
from ..common.nifti import MAX_VALUE_BYTES, ImageCheck, check_stored, deep_check
from ..common.rows import FileRef, SourceRows
from ..common.storage import Storage
from ..common.units import count, plural

CheckLevel = Literal["cheap", "deep"]
OnError = Literal["fail", "skip"]


def check_images(
    rows: SourceRows,
    storage: Storage,
    level: CheckLevel = "cheap",
    threads: int = 8,
    progress: Callable[[int], None] | None = None,
) -> SourceRows:
    """Check every image; return the rows without the bad ones, and every problem recorded.

    ``progress`` is called once per file checked."""
    images = list(dict.fromkeys(img for _, _, img in rows.images()))
    run = _deep_runner(storage) if level == "deep" else _cheap_runner(storage)

    def one(img: FileRef) -> ImageCheck:
        result = run(img)
        if progress:
            progress(1)
        return result

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-check") as pool:
        results = dict(zip(images, pool.map(one, images)))
    bad = {img for img, r in results.items() if not r.ok}
    problems = [p for img in images for p in _one_error_per_file(results[img].problems)]
    return dataclasses.replace(
        without_images(rows, bad),
        left_out=rows.left_out + tuple(errors_only(problems)),
        warnings=rows.warnings + tuple(p for p in problems if p.severity == "warning"),
    )


def _one_error_per_file(problems: tuple[Problem, ...]) -> list[Problem]:
    """A file left out is one line (its errors joined), so counts of files left out add up."""
    errors = errors_only(problems)
    if len(errors) <= 1:
        return list(problems)
    joined = Problem(errors[0].path, "; ".join(p.message for p in errors))
    return [joined] + [p for p in problems if p.severity != "error"]


def _cheap_runner(storage: Storage) -> Callable[[FileRef], ImageCheck]:
    def run(img: FileRef) -> ImageCheck:
        return check_stored(img.display, img.url, img.size, storage)

    return run


def _deep_runner(storage: Storage) -> Callable[[FileRef], ImageCheck]:
    def run(img: FileRef) -> ImageCheck:
        cheap = _cheap_runner(storage)(img)
        if not cheap.ok:
            return cheap
        try:
            with storage.open(img.url) as f:
                data = f.read()
        except OSError as exc:
            return _unreadable(img, exc)
        deep = deep_check(img.display, data)
        warnings = {p.message for p in deep.problems}
        extra = tuple(p for p in cheap.problems if p.message not in warnings)
        return dataclasses.replace(deep, problems=deep.problems + extra)

    return run


def _unreadable(img: FileRef, exc: OSError) -> ImageCheck:
    return ImageCheck(None, (Problem(img.display, cannot_read(exc)),))


def without_images(rows: SourceRows, bad: set[FileRef] | frozenset[FileRef]) -> SourceRows:
    """The same rows with ``bad`` images removed: a lone image becomes null, a list loses it.

    Value columns that describe an image column (``Column.describes``, e.g. a BIDS ``K_info``)
    lose the same element, so they stay aligned. Where a row is one image, the row goes.
    """
    if not bad:
        return rows
    names = {c.name: i for i, c in enumerate(rows.columns)}
    described = {
        names[c.describes]: [i for i, d in enumerate(rows.columns) if d.describes == c.describes]
        for c in rows.columns
        if c.describes in names
    }
    kept_rows = []
    for row in rows.rows:
        cells = list(row)
        emptied = False
        for c in rows.image_columns:
            cell, keep = _without(row[c], bad)
            if keep is None:
                continue
            emptied = emptied or cell is None
            cells[c] = cell
            for d in described.get(c, []):
                cells[d] = _aligned(row[d], keep)
        if not (rows.one_image_per_row and emptied):
            kept_rows.append(tuple(cells))
    return dataclasses.replace(rows, rows=tuple(kept_rows))


def _without(cell: Any, bad: set[FileRef] | frozenset[FileRef]) -> tuple[Any, list[int] | None]:
    """The cell without bad images, and the positions kept (None: nothing changed)."""
    if cell is None:
        return cell, None
    if isinstance(cell, FileRef):
        return (None, []) if cell in bad else (cell, None)
    keep = [k for k, img in enumerate(cell) if img not in bad]
    if len(keep) == len(cell):
        return cell, None
    return tuple(cell[k] for k in keep), keep


def _aligned(cell: Any, keep: list[int]) -> Any:
    """A describing cell cut to the kept positions (a lone value: kept only if its image is)."""
    if cell is None:
        return None
    if isinstance(cell, (list, tuple)):
        return type(cell)(cell[k] for k in keep)
    return cell if keep else None


def row_limit_problems(rows: SourceRows) -> list[Problem]:
    """What Parquet cannot hold however it is cut: a list of images totalling 2 GiB in one row."""
    problems = []
    for r, row in enumerate(rows.rows):
        for c in rows.image_columns:
            cell = row[c]
            if isinstance(cell, tuple) and sum(img.size for img in cell) > MAX_VALUE_BYTES:
                total = sum(img.size for img in cell)
                problems.append(
                    Problem(
                        f"row {r + 1}, column {rows.columns[c].name}",
                        f"the {len(cell)} images of this list total {total:,} bytes; a list in one "
                        f"row must stay under 2 GiB (Parquet's page limit) — split it into rows "
                        f"or columns",
                    )
                )
    return problems


def raise_if_errors(rows: SourceRows, on_error: OnError) -> None:
    """In fail mode, stop before writing with every problem found (not just the first)."""
    errors = errors_only(rows.left_out)
    if errors and on_error == "fail":
        them = plural(len(errors), "it")
        raise InputError(
            f"{count(len(errors), 'input file')} cannot be used; nothing was written "
            f"(fix {them}, or use --on-error skip to build without {them}):",
            errors,
        )
