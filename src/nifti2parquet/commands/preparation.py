"""Everything ``build`` does before the first shard byte: read, check, plan, and prepare what is
published (header text blanked, other files rewritten without excluded fields), then the
privacy preflight over it. ``inspect`` runs the same steps and writes nothing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..card.details import described_columns
from ..card.prose import PROSE
from ..common.data_dictionary import read_dictionary
from ..common.errors import InputError, OutputError
from ..common.gc_pause import collector_paused
from ..common.nifti import is_nifti_name
from ..common.progress import Reporter
from ..common.rows import SourceRows
from ..common.units import count
from ..preflight.inputs import check_images, raise_if_errors, row_limit_problems
from ..preflight.privacy import PrivacyOptions, PrivacyReport, scan_privacy
from ..preflight.privacy_record import PrivacyRecord
from ..shards.blanking import ChangedOnPurpose, blank_headers
from ..shards.manifest import split_dir
from ..shards.output import STATE, TMP, OutputFolder
from ..shards.plan import Plan, plan_shards
from ..shards.rewritten_copies import exclude_in_other_files
from ..shards.saved_plan import (
    load_plan,
    plan_fingerprint_of,
    plan_record_of,
    save_plan,
    save_plan_options,
)
from ..shards.table_copy import store_table_paths
from ..sources import read_source
from .parts import refuse_other_plan, run_name

if TYPE_CHECKING:
    from .build import BuildOptions


@dataclass(frozen=True)
class Prepared:
    """The rows and plan a build writes, and what it found and changed on purpose: the privacy
    scan's report, images stored with their header text blanked, other files rewritten without
    the excluded fields and columns."""

    rows: SourceRows
    plan: Plan
    report: PrivacyReport | None = None
    blanked: tuple[ChangedOnPurpose, ...] = ()
    rewritten: tuple[ChangedOnPurpose, ...] = ()
    left_out: dict[str, int] = field(default_factory=dict)  # participants the filter left out

    def privacy_record(self) -> PrivacyRecord:
        """The manifest's and the result's privacy record; values masked."""
        if self.report is None:
            return PrivacyRecord()
        return dataclasses.replace(
            self.report.record(),
            blanked_images=len(self.blanked),
            blanked_fields=tuple(sorted({c for b in self.blanked for c in b.changed})),
            rewritten_files=len(self.rewritten),
            **self.left_out,
        )


def check_output_free(output: OutputFolder) -> None:
    """Write only into a new or empty folder, or one this tool made; never over other files.
    Checks only: nothing is created until the source is found."""
    if not output.remote and os.path.isfile(output.url):
        raise OutputError(f"{output.url}: is a file; OUTPUT_DIR must be a folder")
    if output.exists(STATE) or not output.exists(""):
        return
    if set(output.listdir("")) <= {PROSE}:  # empty, or only the card prose written beforehand
        return
    raise OutputError(
        f"{output.url}: folder is not empty and was not made by nifti2parquet; "
        f"choose a new or empty folder"
    )


def discard_untouched(output: OutputFolder) -> None:
    """Remove a local OUTPUT_DIR this run created when nothing but its own state (an empty temp
    folder, lock files) is in it: a build refused before the first shard leaves no folder."""
    import shutil

    state = set(output.listdir(STATE))
    if output.listdir("") != [STATE] or output.listdir(TMP):
        return
    if all(name == "tmp" or name.endswith(".lock") for name in state):
        shutil.rmtree(output.url, ignore_errors=True)


def prepare_build(
    source: str,
    output: OutputFolder,
    options: BuildOptions,
    reporter: Reporter,
    privacy_options: PrivacyOptions | None,
    dictionary: dict[str, Any] | None = None,
) -> Prepared:
    """Read, check and plan; or, for an array-job part, load what ``--plan-only`` saved.

    Parts skip reading the source (the listing and every image's header: at millions of files,
    that is most of a part's work). Finalize always reads the source again, so inputs that
    changed since the plan was saved are noticed there.
    """
    record = plan_record_of(source, options.settings().to_record())
    fingerprint = plan_fingerprint_of(source, options.settings().to_record())
    if options.part or options.finalize:
        refuse_other_plan(output, options.split, record, run_name(options.part))
    if options.part:
        saved = load_plan(output, options.split, fingerprint)
        if saved is not None:
            reporter.step("using the plan saved by --plan-only")
            return Prepared(*saved)
    with collector_paused():
        return _read_and_plan(source, output, options, reporter, privacy_options, dictionary)


def _read_and_plan(
    source: str,
    output: OutputFolder,
    options: BuildOptions,
    reporter: Reporter,
    privacy_options: PrivacyOptions | None,
    dictionary: dict[str, Any] | None,
) -> Prepared:
    rows, plan = prepare(source, options, reporter, dictionary=dictionary)
    blanked: tuple[ChangedOnPurpose, ...] = ()
    if options.blank_nifti_headers:
        names = {img.display for _, _, img in rows.images()}
        names |= {f.display for f in rows.other_files if is_nifti_name(f.display)}
        with reporter.bar(len(names), "blanking header text", unit="files") as bar:
            rows, blanked = blank_headers(rows, output, options.storage, progress=bar.update)
        plan = plan_shards(rows, options.plan_options())
    rows, rewritten, left_out = exclude_in_other_files(
        rows, output, options.storage, options.published_edits()
    )
    blanked, rewritten = _files_config_blanked(rows, blanked, rewritten)
    rows, rewritten = store_table_paths(rows, output, options.storage, rewritten)
    report = scan_source(rows, options, privacy_options, reporter)  # what will be published
    if options.plan_only:
        for name in output.listdir(f"{split_dir(options.split)}/parts"):  # a new plan: parts anew
            output.remove(f"{split_dir(options.split)}/parts/{name}")
        settings = options.settings().to_record()
        save_plan(output, options.split, plan_fingerprint_of(source, settings), rows, plan)
        save_plan_options(output, options.split, plan_record_of(source, settings))
    return Prepared(rows, plan, report, blanked, rewritten, left_out)


def _files_config_blanked(
    rows: SourceRows,
    blanked: tuple[ChangedOnPurpose, ...],
    rewritten: tuple[ChangedOnPurpose, ...],
) -> tuple[tuple[ChangedOnPurpose, ...], tuple[ChangedOnPurpose, ...]]:
    """The blanked NIfTI files that only the ``files`` config publishes are recorded with the
    files it rewrote on purpose (``verify --source`` names them so); the rows' images stay with
    the blanked images."""
    others = {f.display for f in rows.other_files}
    how = "blanked by --blank-nifti-headers"
    files = tuple(
        dataclasses.replace(b, changed=(f"{', '.join(b.changed)} {how}",))
        for b in blanked
        if b.path in others
    )
    return tuple(b for b in blanked if b.path not in others), (*rewritten, *files)


def scan_source(
    rows: SourceRows,
    options: BuildOptions,
    privacy_options: PrivacyOptions | None,
    reporter: Reporter,
) -> PrivacyReport | None:
    """The privacy preflight over what ``rows`` would publish (headers, metadata, paths)."""
    if privacy_options is None:
        return None
    reporter.step("scanning headers, metadata and paths for identifying information")
    return scan_privacy(rows, options.storage, privacy_options)


def prepare(
    source: str,
    options: BuildOptions,
    reporter: Reporter | None = None,
    strict: bool = True,
    dictionary: dict[str, Any] | None = None,
) -> tuple[SourceRows, Plan]:
    """Read and check the source, then plan; nothing is written.

    ``strict``: raise on what cannot be built (bad files in ``--on-error fail`` mode, rows over
    Parquet's limits). ``inspect`` passes False to list every problem instead. ``dictionary``:
    the ``--column-descriptions`` file, when the caller has read it already.
    """
    reporter = reporter or Reporter()
    reporter.step(f"reading {source}")
    rows = read_source(source, options.source)
    if not rows.rows:
        raise InputError(f"{source}: no rows to build")
    path = options.card.column_descriptions
    if path:  # the user's data dictionary, checked now, before a byte is written
        if dictionary is None:
            dictionary = read_dictionary(path, options.storage, required=True)
        rows = dataclasses.replace(rows, columns=described_columns(rows.columns, dictionary, path))
    if rows.checked != options.check and rows.checked != "deep":
        images = list(rows.images())
        label = f"checking {count(len(images), 'file')}"
        with reporter.bar(len(images), label, unit="files") as bar:
            rows = check_images(rows, options.storage, options.check, progress=bar.update)
    limits = row_limit_problems(rows)
    if limits and strict:
        raise InputError("some rows cannot be stored in Parquet; nothing was written:", limits)
    if strict:
        raise_if_errors(rows, options.on_error)
    plan = plan_shards(rows, options.plan_options())
    return rows, plan
