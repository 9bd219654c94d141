"""``inspect``: what ``build`` would make of SOURCE, without writing anything.

It runs the same first stages as ``build`` (:func:`nifti2parquet.commands.build.prepare`: read the
source, check every image's header, plan the shards) and reports rows, columns with their types,
images per column, total bytes, the planned shards, and every file found that will not be in the
output with the reason. Only headers are read (a few KB per image), never the voxels. Problems that
would stop ``build`` (bad files in ``--on-error fail`` mode, rows over Parquet's limits) are
reported instead of raised, so one run shows all of them.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..common.dataset_folder import skipped_line
from ..common.errors import Problem, errors_only
from ..common.file_groups import LeftOutLists
from ..common.files_config import FILES_CONFIG
from ..common.gc_pause import collector_paused
from ..common.progress import Reporter
from ..common.rows import SourceRows, images_in_row
from ..common.schema import column_feature, type_label
from ..common.units import count, format_size, plural
from ..preflight.inputs import row_limit_problems
from ..preflight.privacy import PrivacyReport
from ..preflight.privacy_record import PrivacyRecord, record_lines
from ..shards.output import OutputFolder
from ..shards.plan import Plan
from ..shards.table_copy import store_table_paths
from ..sources.registry import noun_of
from .build import BuildOptions
from .preparation import prepare, scan_source

MAX_SHARD_LINES = 20  # human output lists every shard up to this many, else a summary


@dataclass(frozen=True)
class ColumnReport:
    name: str
    content: str  # image, image_list or value
    type: str  # Nifti(), List(Nifti()), int64, struct(22 fields), ...
    feature: Any  # the `datasets` feature as JSON
    description: str
    images: int
    image_bytes: int


@dataclass(frozen=True)
class ShardReport:
    path: str
    rows: int
    row_groups: int
    images: int
    image_bytes: int
    max_bytes: int  # the plan's upper bound of the file's size on disk


@dataclass(frozen=True)
class InspectReport:
    """What ``build`` would do with SOURCE and these options."""

    source: str
    kind: str  # the kind of source (sources/registry.py): table, bids...
    layout: str  # how rows are laid out (BIDS: session, subject, file); "" for a table
    num_rows: int
    columns: tuple[ColumnReport, ...]
    num_images: int
    image_bytes: int
    shards: tuple[ShardReport, ...]
    max_shard_size: int
    row_group_size: int
    files_found: int
    other_files: int
    other_bytes: int
    left_out: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    blocking: tuple[Problem, ...]  # what would make `build` stop before writing
    stop_reason: str  # "" when build would go ahead
    privacy: PrivacyRecord | None = None  # the privacy scan, values masked
    selection: str = ""  # the filters given (``--subject 01``), as the left-out lists say them
    exclude: tuple[str, ...] = ()  # the ``--exclude`` patterns given
    skipped: tuple[Problem, ...] = ()  # folders not read (version control, builds)

    @property
    def files_written(self) -> int:
        return self.num_images

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("left_out", "warnings", "blocking", "skipped"):
            data[key] = [p.to_dict() for p in getattr(self, key)]
        data["files_written"] = self.files_written
        data["files_left_out"] = len(self.left_out)
        data["num_shards"] = len(self.shards)
        data["privacy"] = self.privacy.to_dict() if self.privacy else None
        return data

    def lines(self) -> list[str]:
        """The report as a person reads it."""
        what = noun_of(self.kind)
        layout = f" (one row per {self.layout})" if self.layout else ""
        out = [
            f"{what} {self.source}{layout}",
            f"{count(self.num_rows, 'row')}, {count(self.num_images, 'image')}, "
            f"{format_size(self.image_bytes)}",
            "",
            "columns:",
        ]
        width = max((len(c.name) for c in self.columns), default=10) + 2
        for c in self.columns:
            images = (
                f"  {count(c.images, 'image')}, {format_size(c.image_bytes)}"
                if c.content != "value"
                else ""
            )
            out.append(f"  {c.name:<{width}}{c.type}{images}")
        out += ["", *self._shard_lines(), ""]
        out.append(
            f"the {FILES_CONFIG!r} config: {count(self.other_files, 'other file')}, "
            f"{format_size(self.other_bytes)} (their bytes), and the "
            f"{count(self.num_images, 'image')} listed with their sha256"
        )
        out.append(
            f"files: {self.files_found:,} named by the source = "
            f"{count(self.files_written, 'image')} to write + "
            f"{count(self.other_files, 'other file')} (the {FILES_CONFIG!r} config) + "
            f"{len(self.left_out):,} left out"
        )
        if self.skipped:
            out.append(skipped_line(self.skipped))
        lists = LeftOutLists.of(self.left_out).terminal_lines(
            self.selection, self.exclude, _each_left_out
        )
        out += ["", *lists] if lists else []
        if self.warnings:
            out += ["", f"warnings ({len(self.warnings):,}):"]
            out += [f"  {p}" for p in self.warnings]
        if self.privacy:
            out += ["", *record_lines(self.privacy)]
        if self.stop_reason:
            out += ["", f"build would stop: {self.stop_reason}"]
            out += [f"  {p}" for p in self.blocking]
        return out

    def _shard_lines(self) -> list[str]:
        sizes = [s.max_bytes for s in self.shards]
        lines = [
            f"planned shards: {len(self.shards):,} (--max-shard-size "
            f"{format_size(self.max_shard_size)}, --row-group-size "
            f"{format_size(self.row_group_size)}); each at most {format_size(max(sizes))}"
        ]
        shown = self.shards if len(self.shards) <= MAX_SHARD_LINES else ()
        for s in shown:
            lines.append(
                f"  {s.path}  {count(s.rows, 'row')}, {count(s.row_groups, 'row group')}, "
                f"{count(s.images, 'image')}, "
                f"{format_size(s.image_bytes)}, at most {format_size(s.max_bytes)} on disk"
            )
        if not shown:
            lines.append(f"  smallest at most {format_size(min(sizes))}; --json lists every shard")
        return lines


def _each_left_out(problems: Sequence[Problem]) -> list[str]:
    return [f"left out ({len(problems):,}):", *(f"  [{p.severity}] {p}" for p in problems)]


def inspect_source(
    source: str, options: BuildOptions | None = None, reporter: Reporter | None = None
) -> InspectReport:
    """Read, check and plan SOURCE as ``build`` would; write nothing, raise on nothing fixable."""
    options = options or BuildOptions()
    options.plan_options().check()  # the options first, as build checks them
    privacy_options = options.privacy_options()
    # the report too: made with the collector on, its records' allocations set off the
    # collector's walks over every object planning made (0.5-1 s at 180,000 files)
    with collector_paused():
        rows, plan = prepare(source, options, reporter, strict=False)
        with tempfile.TemporaryDirectory(prefix="n2p-inspect-") as folder:  # the table as published
            scanned, _ = store_table_paths(rows, OutputFolder(folder), options.storage)
            privacy = scan_source(scanned, options, privacy_options, reporter or Reporter())
        return _report(source, options, rows, plan, privacy)


def _report(
    source: str, options: BuildOptions, rows: SourceRows, plan: Plan, privacy: PrivacyReport | None
) -> InspectReport:
    blocking, stop_reason = _blocking(rows, options)
    return InspectReport(
        source=source,
        kind=rows.kind,
        layout=rows.info.layout,
        num_rows=len(rows.rows),
        columns=_columns(rows),
        num_images=rows.image_count(),
        image_bytes=rows.image_bytes(),
        shards=_shards(rows, plan),
        max_shard_size=options.max_shard_size,
        row_group_size=options.row_group_size,
        files_found=rows.files_found,
        other_files=len(rows.other_files),
        other_bytes=sum(f.size for f in rows.other_files),
        left_out=rows.left_out,
        warnings=rows.warnings,
        blocking=tuple(blocking),
        stop_reason=stop_reason,
        privacy=privacy.record() if privacy else None,
        selection=" ".join(options.source.selection.flags()),
        exclude=options.source.exclude,
        skipped=rows.skipped,
    )


def _blocking(rows: SourceRows, options: BuildOptions) -> tuple[list[Problem], str]:
    limits = row_limit_problems(rows)
    if limits:
        return limits, "some rows cannot be stored in Parquet"
    errors = errors_only(rows.left_out)
    if errors and options.on_error == "fail":
        them = plural(len(errors), "it")
        return errors, (
            f"{count(len(errors), 'input file')} cannot be used (fix {them}, or use --on-error "
            f"skip to build without {them})"
        )
    return [], ""


def _columns(rows: SourceRows) -> tuple[ColumnReport, ...]:
    counts = {c: 0 for c in rows.image_columns}
    sizes = {c: 0 for c in rows.image_columns}
    for _, c, img in rows.images():
        counts[c] += 1
        sizes[c] += img.size
    return tuple(
        ColumnReport(
            name=column.name,
            content=column.content,
            type=type_label(column_feature(column)),
            feature=column_feature(column),
            description=column.description,
            images=counts.get(i, 0),
            image_bytes=sizes.get(i, 0),
        )
        for i, column in enumerate(rows.columns)
    )


def _shards(rows: SourceRows, plan: Plan) -> tuple[ShardReport, ...]:
    reports = []
    for shard in plan.shards:
        images = [
            img
            for row in rows.rows[shard.start : shard.stop]
            for _, img in images_in_row(row, rows.image_columns)
        ]
        reports.append(
            ShardReport(
                path=shard.path,
                rows=shard.num_rows,
                row_groups=len(shard.row_groups),
                images=len(images),
                image_bytes=sum(img.size for img in images),
                max_bytes=shard.bound,
            )
        )
    return tuple(reports)
