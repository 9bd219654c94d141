"""``build``: source → rows → checks → plan → shards → card → verify.

The plan decides every shard before any byte is read (:mod:`nifti2parquet.shards.plan`); the
shards are then written, or reused where a killed run finished them
(:mod:`nifti2parquet.shards.runner`), so a run ends with the same bytes as one never interrupted.
With ``part=(i, n)`` a run builds only the shards ``index % n == i`` (an array-job task, see
:mod:`.parts`); ``finalize`` checks every shard is there and writes the files config, the
manifest and the card.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..card.details import CardDetails, card_info
from ..card.label_overlay import with_label_overlays
from ..card.prose import read_prose, refuse_edited_card, write_card
from ..card.readme import render_card
from ..common.data_dictionary import read_dictionary
from ..common.errors import InputError, N2PError, OutputError, Problem, errors_only
from ..common.progress import Reporter
from ..common.rows import SourceRows
from ..common.schema import features_dict
from ..common.storage import Storage
from ..common.units import count, plural
from ..preflight.inputs import CheckLevel, OnError, without_images
from ..preflight.privacy import PrivacyOptions
from ..preflight.privacy_report import withheld
from ..preflight.privacy_rules import load_rules
from ..proof.report import VerifyReport
from ..proof.verify import verify_footers
from ..shards.blanking import check_blanking, clear_blanked, on_purpose
from ..shards.files_config_writer import write_files_config
from ..shards.image_index import image_records, write_images
from ..shards.manifest import (
    BuildSettings,
    ColumnRecord,
    Manifest,
    PreviewRecord,
    absolute_source,
    manifest_path,
    read_manifest,
    read_manifests,
)
from ..shards.markers import shard_keys
from ..shards.output import TMP, OutputFolder
from ..shards.plan import (
    DEFAULT_MAX_SHARD_SIZE,
    DEFAULT_ROW_GROUP_SIZE,
    DEFAULT_SPLIT,
    PlanOptions,
    plan_shards,
)
from ..shards.rewritten_copies import Edits
from ..shards.runner import REMOTE_READ_AHEAD, RunSettings, ShardJob
from ..shards.saved_plan import plan_record_of, saved_plan_path
from ..shards.undo import Guard, leave_as_found
from ..sources import check_source_exists
from ..sources.options import SourceOptions
from .build_result import BuildResult, build_result
from .parts import check_part, missing_parts_hint, record_part
from .preparation import Prepared, check_output_free, discard_untouched, prepare_build

if TYPE_CHECKING:  # the previews (and numpy) are imported only when a build draws them
    from ..card.previews import PreviewDrawing

__all__ = ["BuildOptions", "BuildResult", "build", "usable_cpus"]


def usable_cpus() -> int:
    """CPUs this process may run on (a Slurm task's share, not the whole node's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``build`` takes besides SOURCE and OUTPUT_DIR (see docs/reference/cli.md)."""

    source: SourceOptions = field(default_factory=SourceOptions)  # which files, which rows
    split: str = DEFAULT_SPLIT
    max_shard_size: int = DEFAULT_MAX_SHARD_SIZE
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE
    workers: int = 0  # 0: one per two CPU cores (each writer keeps two busy)
    part: tuple[int, int] | None = None  # (index from 0, count)
    finalize: bool = False
    plan_only: bool = False  # read, check and plan; save the plan for the --part runs
    on_error: OnError = "fail"
    check: CheckLevel = "cheap"
    repo_id: str | None = None  # shown in the card's snippets (push renders it for the real one)
    read_threads: int = 4  # remote images: range requests at once
    read_ahead: int = REMOTE_READ_AHEAD  # remote images: bytes fetched ahead of writing
    card: CardDetails = field(default_factory=CardDetails)  # the card's words
    previews: bool = True  # PNG previews of a few images per column for the card
    blank_nifti_headers: bool = False  # store images with header text blanked, extensions dropped
    exclude_dicom_tags: bool = False  # publish DICOM files without PS3.15's profile attributes
    privacy_rules: str | None = None  # YAML file of extra identifying/review fields and patterns
    known_identifiers: str | None = None  # file of participant names/IDs to search (never stored)
    privacy_scan: bool = True  # False only to measure the scan's cost (benchmarks)
    checksum: bool = False  # reuse a shard only if its images' sha256 still match (rsync -c)

    def __post_init__(self) -> None:
        """The source is read for the split being built (a segmentation dataset's imagesTs/
        is its test split)."""
        if self.source.split != self.split:
            object.__setattr__(self, "source", dataclasses.replace(self.source, split=self.split))

    @property
    def storage(self) -> Storage:
        """How remote files are reached: SOURCE's, and OUTPUT_DIR's when it is remote."""
        return self.source.storage

    def plan_options(self) -> PlanOptions:
        return PlanOptions(self.split, self.max_shard_size, self.row_group_size)

    def settings(self) -> BuildSettings:
        """What decides the rows and shards, as the manifest and the saved plan record it."""
        return BuildSettings(
            self.source,
            self.max_shard_size,
            self.row_group_size,
            self.on_error,
            self.check,
            self.blank_nifti_headers,
        )

    def run_settings(self) -> RunSettings:
        workers = self.workers if self.workers > 0 else max(1, usable_cpus() // 2)
        return RunSettings(
            self.part,
            self.finalize,
            workers,
            self.storage,
            self.read_threads,
            self.read_ahead,
            self.checksum,
        )

    def privacy_options(self) -> PrivacyOptions | None:
        """The scan's rules, read now (a bad rules file fails before anything is read)."""
        if not self.privacy_scan:
            return None
        return PrivacyOptions(
            rules=load_rules(self.privacy_rules, self.known_identifiers),
            exclude_fields=self.source.exclude_fields,
            exclude_columns=self.source.exclude_columns,
            exclude_dicom_tags=self.exclude_dicom_tags,
            selection=self.source.selection,
        )

    def published_edits(self) -> Edits:
        """What the remedies and the subject/session filter change in the published copies of
        the other files."""
        return Edits(
            self.source.exclude_fields,
            self.source.exclude_columns,
            self.source.selection,
            self.exclude_dicom_tags,
        )


def build(
    source: str,
    output_dir: str,
    options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> BuildResult:
    """Build SOURCE into OUTPUT_DIR; see the module docstring."""
    options = options or BuildOptions()
    options.plan_options().check()
    options.source.exclude_patterns.check()
    check_part(options.part, options.finalize, options.plan_only)
    output = OutputFolder(output_dir, options.storage)
    check_output_free(output)
    fresh = not output.remote and not output.exists("")
    refuse_edited_card(output)
    if not (options.part and output.exists(saved_plan_path(options.split))):
        check_source_exists(source)  # parts with a saved plan do not read the source
    path = options.card.column_descriptions
    dictionary = read_dictionary(path, options.storage, required=True) if path else None
    check_blanking(output, options.blank_nifti_headers)
    try:
        return _build(source, output, options, reporter or Reporter(), dictionary)
    except N2PError:
        if fresh:  # a folder this run made, and the inputs were refused: leave nothing behind
            discard_untouched(output)
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc):
            raise OutputError(
                f"{output.url}: disk full; free some space and run the same command again "
                f"(finished shards are kept and reused)"
            ) from None
        raise


def _build(
    source: str,
    output: OutputFolder,
    options: BuildOptions,
    reporter: Reporter,
    dictionary: dict[str, Any] | None,
) -> BuildResult:
    started = time.monotonic()
    privacy_options = options.privacy_options()
    lock = f"build-{options.split}" + (f"-part{options.part[0]}" if options.part else "")
    with leave_as_found(output) as guard, _locked(output, lock, guard):
        prepared = prepare_build(source, output, options, reporter, privacy_options, dictionary)
        if options.plan_only:
            rows, plan = prepared.rows, prepared.plan
            job = ShardJob(output, rows, plan, {}, options.run_settings(), reporter)
            return build_result(options, job, prepared, "planned", (0, 0), None, started)
        # a whole build draws its previews while it writes the shards; a part draws none, and
        # --finalize draws them at the end
        early = options.previews and not options.part and not options.finalize
        drawing = _start_previews(prepared, options) if early else None
        job, done = _write_shards(output, prepared, options, reporter)
        if options.part and not options.finalize:
            record = plan_record_of(job.rows.source, options.settings().to_record())
            record_part(output, options.split, options.part, job, record)
            return build_result(options, job, prepared, "part-built", done, None, started)
        job.rows.let_go_of_values()  # written: what follows reads the images only
        report = _finalize(job, prepared, options, drawing)
        return build_result(options, job, prepared, "built", done, report, started)


def _start_previews(prepared: Prepared, options: BuildOptions) -> PreviewDrawing:
    from ..card.previews import PreviewDrawing

    return PreviewDrawing(prepared.rows, options.storage)


@contextlib.contextmanager
def _locked(output: OutputFolder, lock: str, guard: Guard) -> Iterator[None]:
    """The folder's lock for this split (or part); a failed run then undoes what it created,
    keeping only finished shards (see :mod:`..shards.undo`)."""
    output.makedirs(TMP)
    with output.lock(lock):
        guard.owned = True
        yield


def _write_shards(
    output: OutputFolder, prepared: Prepared, options: BuildOptions, reporter: Reporter
) -> tuple[ShardJob, tuple[int, int]]:
    """Write (or reuse) this run's shards. A file that broke after the checks (changed,
    vanished) is, with ``--on-error skip``, left out and the rows planned again; finished shards
    whose rows did not change are reused."""
    rows, plan = prepared.rows, prepared.plan
    while True:
        job = ShardJob(output, rows, plan, shard_keys(plan, rows), options.run_settings(), reporter)
        try:
            return job, job.run()
        except InputError as exc:
            if options.on_error != "skip" or not (rows := _without_failed(rows, exc)):
                raise
            plan = plan_shards(rows, options.plan_options())


def _without_failed(rows: SourceRows, error: InputError) -> SourceRows | None:
    """The rows without the files that failed while writing; None if none of them is an image."""
    bad_paths = {p.path for p in errors_only(error.problems)}
    bad = {img for _, _, img in rows.images() if img.display in bad_paths}
    if not bad:
        return None
    kept = without_images(rows, bad)
    return dataclasses.replace(kept, left_out=rows.left_out + tuple(errors_only(error.problems)))


def _finalize(
    job: ShardJob, prepared: Prepared, options: BuildOptions, drawing: PreviewDrawing | None
) -> VerifyReport:
    """Every shard finished → stale shards removed, the files config, manifest, image list,
    card, checks."""
    output, split = job.output, options.split
    missing = job.missing()
    if missing:
        raise OutputError(
            f"{len(missing):,} of {count(len(job.plan.shards), 'shard')} "
            f"{plural(len(missing), 'is')} not built yet"
            f"{missing_parts_hint(output, split, missing)}; nothing was finalized:",
            [Problem(s.path, "not built (or built from different inputs)") for s in missing],
        )
    job.remove_stale_shards()
    files = write_files_config(
        output,
        job.rows,
        image_records(job.plan, job.rows, job.records),
        {shard.path: shard.start for shard in job.plan.shards},
        options.plan_options(),
        options.run_settings(),
        job.reporter,
        prepared.rewritten,
    )
    manifest = dataclasses.replace(
        _manifest(job, options, prepared), files=files, previews=_previews(job, options, drawing)
    )
    images = image_records(job.plan, job.rows, job.records)  # again: no list of them is kept
    write_images(output, split, on_purpose(images, prepared.blanked))
    output.write_text_atomic(manifest_path(split), manifest.to_json())
    manifests = _all_manifests(output, manifest)
    card = render_card(manifests, options.repo_id, prose=read_prose(output))
    write_card(output, card.encode("utf-8"), options.repo_id)
    output.clear_tmp()
    clear_blanked(output)
    report = verify_footers(output)
    if not report.ok:
        raise OutputError("the build finished but its checks failed:", report.problems)
    return report


def _previews(
    job: ShardJob, options: BuildOptions, drawing: PreviewDrawing | None
) -> tuple[PreviewRecord, ...]:
    """Write the card's previews (unless turned off; drawn now, or already by ``drawing``);
    remove the ones an earlier build of this split drew that are not drawn again."""
    if drawing is not None:
        drawn = drawing.records(job.output, job.rows, options.split)
    elif options.previews:
        from ..card.previews import make_previews

        drawn = make_previews(job.output, job.rows, options.split, options.storage)
    else:
        drawn = ()
    if options.previews:  # label columns (Column.overlays), drawn over the images they label
        drawn = with_label_overlays(drawn, job.output, job.rows, options.split, options.storage)
    previews = tuple(PreviewRecord.from_record(p) for p in drawn)
    earlier = read_manifest(job.output, options.split)
    keep = {p.path for p in previews}
    for record in earlier.previews if earlier else ():
        if record.path not in keep and job.output.exists(record.path):
            job.output.remove(record.path)
    return previews


def _manifest(job: ShardJob, options: BuildOptions, prepared: Prepared) -> Manifest:
    rows = job.rows
    per_column = {c.name: 0 for c in rows.columns if c.is_image}
    rows_with: dict[str, set[int]] = {name: set() for name in per_column}
    for r, c, _ in rows.images():
        per_column[rows.columns[c].name] += 1
        rows_with[rows.columns[c].name].add(r)
    return Manifest(
        split=options.split,
        source=absolute_source(rows.source),
        settings=options.settings(),
        features=features_dict(rows.columns),
        columns=tuple(ColumnRecord.of(c) for c in rows.columns),
        info=card_info(withheld(rows.info, prepared.report), options.card),
        num_rows=len(rows.rows),
        shards=job.ordered_records(),
        images_per_column=per_column,
        rows_per_column={name: len(r) for name, r in rows_with.items()},
        first_row_per_column={name: min(r, default=-1) for name, r in rows_with.items()},
        image_bytes=rows.image_bytes(),
        files_found=rows.files_found,
        left_out=rows.left_out,
        warnings=rows.warnings + job.plan.warnings(),
        images_per_kind=rows.images_per_kind(),
        privacy=prepared.privacy_record(),
        skipped=rows.skipped,
        table_paths=rows.stored_paths,
    )


def _all_manifests(output: OutputFolder, current: Manifest) -> list[Manifest]:
    """This split's manifest and the other splits already built here (one features schema)."""
    others = [m for m in read_manifests(output) if m.split != current.split]
    for other in others:
        if other.features != current.features:
            raise OutputError(
                f"split {current.split!r} has different columns than split {other.split!r} in "
                f"{output.url}; all splits of a dataset share one schema"
            )
    return sorted([current, *others], key=lambda m: (m.split != "train", m.split))
