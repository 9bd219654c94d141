"""``build``: source → rows → checks → plan → shards → card → verify.

The plan decides every shard before any byte is read; each shard is then written to a temp file
and renamed into place by this process only (never by a worker), followed by its completion marker.
A run that is killed leaves finished shards and markers behind; the next run with the same command
recomputes the same plan and reuses every shard whose key and sha256 still match, so it ends with
the same bytes as a run that was never interrupted. With ``part=(i, n)`` a run builds only the
shards ``index % n == i`` (an array-job task); ``finalize`` checks every shard is there and writes
the manifest and card.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ..card.details import CardDetails, card_info, described_columns, read_dictionary
from ..card.previews import make_previews
from ..card.prose import PROSE, read_prose, refuse_edited_card, write_card
from ..card.readme import render_card
from ..preflight.inputs import (
    CheckLevel,
    OnError,
    check_images,
    raise_if_errors,
    row_limit_problems,
    without_images,
)
from ..preflight.privacy import PrivacyOptions, PrivacyReport, scan_privacy
from ..preflight.privacy_rules import load_rules
from ..proof.shard_digest import file_sha256
from ..proof.verify import VerifyReport, verify_footers
from ..common.errors import (
    InputError,
    OptionError,
    OutputError,
    Problem,
    cannot_read,
    errors_only,
    is_filtered,
)
from ..common.progress import Reporter
from ..shards.blanking import ChangedOnPurpose, blank_headers, check_blanking, clear_blanked, on_purpose
from ..shards.rewritten_copies import exclude_in_other_files
from ..shards.manifest import (
    FilesRecord,
    ImageRecord,
    Manifest,
    ShardRecord,
    absolute_source,
    built_splits,
    columns_summary,
    image_records,
    load_plan,
    manifest_path,
    plan_fingerprint_of,
    plan_record_of,
    read_manifest,
    read_marker,
    save_plan,
    save_plan_options,
    saved_plan_path,
    shard_keys,
    source_options_record,
    split_dir,
    write_images,
    write_marker,
)
from ..shards.output import STATE, TMP, OutputFolder
from ..shards.plan import VIEWER_ROW_GROUP_LIMIT, Plan, PlanOptions, ShardPlan, plan_shards
from ..shards.workers import WorkerPool
from ..shards.writer import ShardResult, ShardTask, write_shard
from ..sources.options import SELECTION_FIELDS, SourceOptions
from ..sources import check_source_exists, read_source
from ..common.files_config import FILES_CONFIG, files_rows, stored_files
from ..common.storage import Storage
from ..common.rows import FileRef, SourceRows, images_in_row
from ..common.schema import features_dict
from ..common.units import count, format_size
from .parts import refuse_other_plan

REMOTE_READ_AHEAD = 64 << 20


def usable_cpus() -> int:
    """CPUs this process may run on (a Slurm task's share, not the whole node's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``build`` takes besides SOURCE and OUTPUT_DIR (see docs/reference/cli.md)."""

    split: str = "train"
    max_shard_size: int = 500_000_000
    row_group_size: int = 100_000_000
    image_columns: tuple[str, ...] = ()
    rows: str = "auto"
    derivatives: bool = True
    subjects: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    datatypes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    workers: int = 0  # 0: one per two CPU cores (each writer keeps two busy)
    part: tuple[int, int] | None = None  # (index from 0, count)
    finalize: bool = False
    plan_only: bool = False  # read, check and plan; save the plan for the --part runs
    on_error: OnError = "fail"
    check: CheckLevel = "cheap"
    license: str = ""
    repo_id: str | None = None
    storage: Storage = field(default_factory=Storage)
    read_threads: int = 4  # remote images: range requests at once
    read_ahead: int | None = None  # remote images: bytes fetched ahead of writing (None: 64 MiB)
    # the card's words (a BIDS source says them itself; given ones replace its)
    title: str = ""
    description: str = ""
    citation: str = ""  # how to cite, or a BibTeX entry
    license_name: str = ""  # for a license the Hub has no identifier for
    column_descriptions: str = ""  # a JSON data dictionary like participants.json
    previews: bool = True  # PNG previews of a few images per column for the card
    exclude_fields: tuple[str, ...] = ()  # sidecar JSON keys left out of the published metadata
    exclude_columns: tuple[str, ...] = ()  # table columns left out of it
    blank_nifti_headers: bool = False  # store images with header text blanked, extensions dropped
    privacy_rules: str | None = None  # YAML file of extra identifying/review fields and patterns
    known_identifiers: str | None = None  # file of participant names/IDs to search (never stored)
    privacy_scan: bool = True  # False only to measure the scan's cost (benchmarks)

    def plan_options(self) -> PlanOptions:
        return PlanOptions(self.split, self.max_shard_size, self.row_group_size)

    def source_options(self) -> SourceOptions:
        selection = {name: getattr(self, name) for name in SELECTION_FIELDS}
        return SourceOptions(**selection, storage=self.storage)

    def card_details(self) -> CardDetails:
        return CardDetails(
            self.license,
            self.title,
            self.description,
            self.citation,
            self.license_name,
            self.column_descriptions,
        )

    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else max(1, usable_cpus() // 2)

    def privacy_options(self) -> PrivacyOptions | None:
        """The scan's rules, read now (a bad rules file fails before anything is read)."""
        if not self.privacy_scan:
            return None
        return PrivacyOptions(
            rules=load_rules(self.privacy_rules, self.known_identifiers),
            exclude_fields=self.exclude_fields,
            exclude_columns=self.exclude_columns,
        )


@dataclass(frozen=True)
class BuildResult:
    """What a build did, for the one-line summary and ``--json``."""

    output: str
    split: str
    status: Literal["built", "part-built", "planned"]
    num_rows: int
    num_images: int
    image_bytes: int
    num_shards: int
    shards_written: int
    shards_reused: int
    download_size: int
    files_found: int
    other_files: int  # published in the ``files`` config
    left_out: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    verify: dict[str, Any] | None
    seconds: float
    part: tuple[int, int] | None = None
    plan_shards: int = 0  # shards of the whole plan (a part builds some of them)
    privacy: dict[str, Any] | None = None  # the privacy scan (values masked); None: not run

    @property
    def files_written(self) -> int:
        return self.num_images

    @property
    def files_filtered_out(self) -> int:
        return sum(1 for p in self.left_out if is_filtered(p))

    def summary(self) -> str:
        """One line; a part counts its own shards' rows, images and bytes."""
        where = f" (part {self.part[0] + 1} of {self.part[1]})" if self.part else ""
        verified = f"; verified: {self.verify['summary']}" if self.verify else ""
        shards = count(self.num_shards, "shard") + (
            f" of the plan's {self.plan_shards:,}" if self.part else ""
        )
        verified += f"; {self.privacy['summary']}" if self.privacy else ""
        return (
            f"{self.status}{where} {self.output}: {count(self.num_rows, 'row')}, "
            f"{self._files()}, {format_size(self.image_bytes)} in {shards} "
            f"({self.shards_written} written, {self.shards_reused} reused) in "
            f"{self.seconds:.1f} s{verified}"
        )

    def _files(self) -> str:
        """``2 images + 1 other file of 9 files written (5 filtered out, 1 left out)``: every file
        the source names, in the image rows, in the files config, or left out."""
        if self.part:
            return count(self.num_images, "image")
        filtered = self.files_filtered_out
        reasons = [f"{filtered:,} filtered out"] if filtered else []
        if len(self.left_out) > filtered:
            reasons.append(f"{len(self.left_out) - filtered:,} left out")
        why = f" ({', '.join(reasons)})" if reasons else ""
        written = f"{count(self.num_images, 'image')} + {count(self.other_files, 'other file')}"
        return f"{written} of {count(self.files_found, 'file')} written{why}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["left_out"] = [p.to_dict() for p in self.left_out]
        data["warnings"] = [p.to_dict() for p in self.warnings]
        data["files_written"] = self.files_written
        data["files_left_out"] = len(self.left_out)
        data["files_filtered_out"] = self.files_filtered_out
        data["summary"] = self.summary()
        return data


def build(
    source: str,
    output_dir: str,
    options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> BuildResult:
    """Build SOURCE into OUTPUT_DIR; see the module docstring."""
    options = options or BuildOptions()
    options.plan_options().check()
    _check_part(options)
    output = OutputFolder(output_dir, options.storage)
    check_output_free(output)
    refuse_edited_card(output)
    if not (options.part and output.exists(saved_plan_path(options.split))):
        check_source_exists(source)  # parts with a saved plan do not read the source
    read_dictionary(options.column_descriptions, options.storage, required=True)
    check_blanking(output, options.blank_nifti_headers)
    try:
        return _build(source, output, options, reporter or Reporter())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc):
            raise OutputError(
                f"{output.url}: disk full; free some space and run the same command again "
                f"(finished shards are kept and reused)"
            ) from None
        raise


def _build(
    source: str, output: OutputFolder, options: BuildOptions, reporter: Reporter
) -> BuildResult:
    started = time.monotonic()
    privacy_options = options.privacy_options()
    output.makedirs(TMP)
    lock = f"build-{options.split}" + (f"-part{options.part[0]}" if options.part else "")
    with output.lock(lock):
        rows, plan, found = _rows_and_plan(source, output, options, reporter, privacy_options)
        if options.plan_only:
            job = _Job(output, rows, plan, {}, options, reporter, found)
            return job.result("planned", 0, 0, None, started)
        while True:
            job = _Job(output, rows, plan, shard_keys(plan, rows), options, reporter, found)
            try:
                written, reused = job.run_shards()
                break
            except InputError as exc:
                # A file that broke after the checks (changed, vanished): in skip mode, leave it
                # out and plan again; finished shards whose rows did not change are reused.
                if options.on_error != "skip" or not (rows := _skip_failed(rows, exc)):
                    raise
                plan = plan_shards(rows, options.plan_options())
        if options.part and not options.finalize:
            job.record_part()
            return job.result("part-built", written, reused, None, started)
        report = job.finalize()
        return job.result("built", written, reused, report, started)


@dataclass(frozen=True)
class _Privacy:
    """What the build found (the scan) and changed on purpose (blanked headers, and the other
    files rewritten without the excluded fields and columns)."""

    report: PrivacyReport | None = None
    blanked: tuple[ChangedOnPurpose, ...] = ()
    excluded: tuple[ChangedOnPurpose, ...] = ()

    def record(self) -> dict[str, Any]:
        """The manifest's and the result's privacy record; values masked."""
        if self.report is None:
            return {"scanned": False}
        return self.report.to_dict() | {
            "blanked_images": len(self.blanked),
            "blanked_fields": sorted({c for b in self.blanked for c in b.changed}),
            "rewritten_files": len(self.excluded),
        }


def _rows_and_plan(
    source: str,
    output: OutputFolder,
    options: BuildOptions,
    reporter: Reporter,
    privacy_options: PrivacyOptions | None,
) -> tuple[SourceRows, Plan, _Privacy]:
    """Read, check and plan; or, for an array-job part, load what ``--plan-only`` saved.

    Parts skip reading the source (the listing and every image's header: at millions of files,
    that is most of a part's work). Finalize always reads the source again, so inputs that
    changed since the plan was saved are noticed there.
    """
    fingerprint = plan_fingerprint_of(source, _plan_record(options))
    record = plan_record_of(source, _plan_record(options))
    if options.part or options.finalize:
        refuse_other_plan(output, options.split, record, _run_name(options))
    if options.part:
        saved = load_plan(output, options.split, fingerprint)
        if saved is not None:
            reporter.step("using the plan saved by --plan-only")
            return (*saved, _Privacy())
    rows, plan = prepare(source, options, reporter)
    blanked: tuple[ChangedOnPurpose, ...] = ()
    if options.blank_nifti_headers:
        images = len({img.display for _, _, img in rows.images()})
        with reporter.bar(images, "blanking header text", unit="files") as bar:
            rows, blanked = blank_headers(rows, output, options.storage, progress=bar.update)
        plan = plan_shards(rows, options.plan_options())
    rows, excluded = exclude_in_other_files(
        rows, output, options.storage, options.exclude_fields, options.exclude_columns
    )
    report = scan_source(rows, options, privacy_options, reporter)  # what will be published
    if options.plan_only:
        for name in output.listdir(f"{split_dir(options.split)}/parts"):  # a new plan: parts anew
            output.remove(f"{split_dir(options.split)}/parts/{name}")
        save_plan(output, options.split, fingerprint, rows, plan)
        save_plan_options(output, options.split, record)
    return rows, plan, _Privacy(report, blanked, excluded)


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


def _run_name(options: BuildOptions) -> str:
    if options.part:
        return f"part {options.part[0] + 1} of {options.part[1]}"
    return "--finalize"


def _plan_record(options: BuildOptions) -> dict[str, Any]:
    return {
        "source": source_options_record(options.source_options()),
        "max_shard_size": options.max_shard_size,
        "row_group_size": options.row_group_size,
        "on_error": options.on_error,
        "check": options.check,
        "blank_nifti_headers": options.blank_nifti_headers,
    }


def _check_part(options: BuildOptions) -> None:
    if options.part:
        index, count = options.part
        if not 0 <= index < count:
            raise OptionError(f"--part: part {index} is not between 0 and {count - 1}")
        if options.finalize:
            raise OptionError("--part and --finalize are separate runs: finalize after all parts")
    if options.plan_only and (options.part or options.finalize):
        raise OptionError("--plan-only is its own step: run it before the --part runs")


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


def prepare(
    source: str, options: BuildOptions, reporter: Reporter | None = None, strict: bool = True
) -> tuple[SourceRows, Plan]:
    """Read and check the source, then plan; nothing is written.

    ``strict``: raise on what cannot be built (bad files in ``--on-error fail`` mode, rows over
    Parquet's limits). ``inspect`` passes False to list every problem instead.
    """
    reporter = reporter or Reporter()
    reporter.step(f"reading {source}")
    rows = read_source(source, options.source_options())
    if not rows.rows:
        raise InputError(f"{source}: no rows to build")
    # the card's column descriptions are checked now, before a byte is written
    described_columns(rows.columns, source, options.column_descriptions, options.storage)
    if rows.checked != options.check and rows.checked != "deep":
        images = list(rows.images())
        with reporter.bar(len(images), f"checking {len(images):,} files", unit="files") as bar:
            rows = check_images(rows, options.storage, options.check, progress=bar.update)
    limits = row_limit_problems(rows)
    if limits and strict:
        raise InputError("some rows cannot be stored in Parquet; nothing was written:", limits)
    if strict:
        raise_if_errors(rows, options.on_error)
    plan = plan_shards(rows, options.plan_options())
    return rows, plan


class _Job:
    """One build run over one plan: which shards to write, writing them, recording them."""

    def __init__(
        self,
        output: OutputFolder,
        rows: SourceRows,
        plan: Plan,
        keys: dict[str, str],
        options: BuildOptions,
        reporter: Reporter,
        privacy: _Privacy | None = None,
    ) -> None:
        self.output, self.rows, self.plan, self.keys = output, rows, plan, keys
        self.options, self.reporter = options, reporter
        self.privacy = privacy or _Privacy()
        self.split = options.split
        self.folder = plan.options.folder
        # where its markers and manifest live: the split's own folder, or files/{split}
        self.state = self.split if self.folder == "data" else f"{self.folder}/{self.split}"
        self.records: dict[str, ShardRecord] = {}

    # which shards ----------------------------------------------------------------------------
    def my_shards(self) -> list[ShardPlan]:
        if not self.options.part:
            return list(self.plan.shards)
        index, count = self.options.part
        return [s for s in self.plan.shards if s.index % count == index]

    def run_shards(self) -> tuple[int, int]:
        """Reuse what is finished, write the rest. Returns (written, reused)."""
        if self.options.finalize:
            return 0, 0
        mine = self.my_shards()
        # Partial files of a killed run; a part clears only its own (others may be running).
        for prefix in [s.name for s in mine] if self.options.part else [f"{self.split}-"]:
            self.output.clear_tmp(prefix)
        todo = [s for s in mine if not self._reuse(s)]
        reused = len(mine) - len(todo)
        if todo:
            self._write(todo)
        return len(todo), reused

    def _reuse(self, shard: ShardPlan) -> bool:
        """A finished shard is kept when its key and its bytes on disk still match the record."""
        record = read_marker(self.output, self.state, shard.name)
        if record is None or record.key != self.keys[shard.name] or record.path != shard.path:
            return False
        if not self.output.exists(shard.path) or self.output.size(shard.path) != record.size:
            return False
        if file_sha256(self.output, shard.path)[1] != record.sha256:
            return False
        self.records[shard.name] = record
        return True

    # writing ---------------------------------------------------------------------------------
    def _write(self, todo: list[ShardPlan]) -> None:
        self.output.makedirs(self.folder)
        total = sum(self.rows_bytes(s) for s in todo)
        workers = min(self.options.worker_count(), len(todo))
        label = f"writing {count(len(todo), 'shard')}, {format_size(total)}"
        with self.reporter.bar(total, label) as bar:
            if workers <= 1:
                for shard in todo:
                    self._commit(shard, write_shard(self._task(shard), bar.update))
            else:
                self._write_parallel(todo, workers, bar.update)

    def rows_bytes(self, shard: ShardPlan) -> int:
        rows = self.rows.rows[shard.start : shard.stop]
        return sum(img.size for r in rows for _, img in images_in_row(r, self.rows.image_columns))

    def _task(self, shard: ShardPlan) -> ShardTask:
        return ShardTask(
            shard=shard,
            columns=self.rows.columns,
            rows=self.rows.rows[shard.start : shard.stop],
            tmp_file=self.output.local_tmp(shard.path),
            storage=self.options.storage,
            read_threads=self.options.read_threads,
            prefetch_bytes=self._read_ahead,
        )

    @property
    def _read_ahead(self) -> int:
        """Remote images are fetched ahead of writing, which hides object-store latency (local
        images are copied by the kernel straight from their files and need no read-ahead)."""
        return REMOTE_READ_AHEAD if self.options.read_ahead is None else self.options.read_ahead

    def _write_parallel(self, todo: list[ShardPlan], workers: int, progress: Callable) -> None:
        """Shards in worker processes; each result is committed here, as soon as it arrives."""
        tasks = [self._task(shard) for shard in todo]
        errors = WorkerPool(workers).run(tasks, lambda t, r: self._commit(t.shard, r), progress)
        inputs = [e for e in errors if isinstance(e, InputError)]
        if inputs:
            raise InputError(inputs[0].message, [p for e in inputs for p in e.problems])
        if errors:
            raise errors[0]

    def _commit(self, shard: ShardPlan, result: ShardResult) -> None:
        if result.size > shard.bound:  # the plan's guarantee; never expected to fire
            os.remove(result.tmp_file)
            raise AssertionError(f"{shard.path}: {result.size} bytes is over its planned bound")
        self.output.commit_local(result.tmp_file, shard.path)
        record = ShardRecord(
            path=shard.path,
            key=self.keys[shard.name],
            size=result.size,
            sha256=result.sha256,
            num_rows=result.num_rows,
            num_row_groups=result.num_row_groups,
            num_bytes=result.num_bytes,
            image_sha256=result.image_sha256,
        )
        write_marker(self.output, self.state, record)
        self.records[shard.name] = record

    # parts and finalize ------------------------------------------------------------------------
    def record_part(self) -> None:
        index, count = self.options.part  # type: ignore[misc]
        path = f"{split_dir(self.split)}/parts/part-{index}-of-{count}.json"
        names = [s.name for s in self.my_shards()]
        data = {
            "part": index,
            "of": count,
            "shards": names,
            "keys": [self.keys[n] for n in names],
            "plan": plan_record_of(self.rows.source, _plan_record(self.options)),
        }
        self.output.write_text_atomic(path, json.dumps(data) + "\n")

    def finalize(self) -> VerifyReport:
        """Every shard finished → stale shards removed, the files config, manifest, image list,
        card, checks."""
        self._collect_records()
        self._remove_stale_shards()
        images = list(image_records(self.plan, self.rows, self.records))
        files = self._files_job(images).finish_files(self.privacy.excluded)
        previews = self._previews()
        manifest = dataclasses.replace(self._manifest(), files=files, previews=previews)
        write_images(self.output, self.split, on_purpose(iter(images), self.privacy.blanked))
        self.output.write_text_atomic(manifest_path(self.split), manifest.to_json())
        manifests = _all_manifests(self.output, manifest)
        card = render_card(manifests, self.options.repo_id, prose=read_prose(self.output))
        write_card(self.output, card.encode("utf-8"))
        self.output.clear_tmp()
        clear_blanked(self.output)
        report = verify_footers(self.output)
        if not report.ok:
            raise OutputError("the build finished but its checks failed:", report.problems)
        return report

    def _files_job(self, images: Sequence[ImageRecord]) -> _Job:
        """The ``files`` config: every file of the dataset, the non-image ones with their bytes.

        Built once every image shard is, since it lists the images' sha256 (array-job parts
        build image shards only; ``--finalize`` builds this)."""
        sha256 = {record.path: record.sha256 for record in images}
        sha256.update(self._hash_other_files())
        rows = files_rows(self.rows, sha256)
        options = dataclasses.replace(self.options.plan_options(), folder=FILES_CONFIG)
        plan = plan_shards(rows, options)
        whole = dataclasses.replace(self.options, part=None, finalize=False)
        return _Job(self.output, rows, plan, shard_keys(plan, rows), whole, self.reporter)

    def _hash_other_files(self) -> dict[str, str]:
        """The sha256 of every other file, by URL, several at once (object stores answer one
        request per file); one that cannot be read stops the build, naming it."""
        others = self.rows.other_files
        label = f"hashing {count(len(others), 'other file')}"

        def one(f: FileRef) -> tuple[str, str | Problem]:
            try:
                return f.url, self.options.storage.sha256(f.url)
            except OSError as exc:
                return f.url, Problem(f.display, cannot_read(exc))
            finally:
                bar.update(f.size)

        threads = ThreadPoolExecutor(self.options.read_threads, thread_name_prefix="n2p-hash")
        with self.reporter.bar(sum(f.size for f in others), label) as bar, threads as pool:
            done = dict(pool.map(one, others))
        problems = [p for p in done.values() if isinstance(p, Problem)]
        if problems:
            message = "some files cannot be read; the files config was not written:"
            raise InputError(message, problems)
        return done  # type: ignore[return-value]

    def finish_files(self, changed: Sequence[ChangedOnPurpose] = ()) -> FilesRecord:
        """Write the files config's shards (reusing finished ones) and record them."""
        self.run_shards()
        self._collect_records()
        self._remove_stale_shards()
        stored = stored_files(self.rows)
        return FilesRecord(
            shards=tuple(self.records[s.name] for s in self.plan.shards),
            num_files=len(self.rows.rows),
            stored=len(stored),
            stored_bytes=sum(f.size for f in stored),
            changed=tuple(b.to_dict() for b in changed),
        )

    def _collect_records(self) -> None:
        missing = []
        for shard in self.plan.shards:
            if shard.name in self.records:
                continue
            if self._reuse(shard):
                continue
            missing.append(shard)
        if missing:
            raise OutputError(
                f"{len(missing)} of {len(self.plan.shards)} shards are not built yet"
                f"{_missing_parts(self.output, self.split, missing)}; nothing was finalized:",
                [Problem(s.path, "not built (or built from different inputs)") for s in missing],
            )

    def _previews(self) -> tuple[dict[str, Any], ...]:
        """Draw the card's previews (unless turned off); remove the ones an earlier build of this
        split drew that are not drawn again."""
        previews = (
            make_previews(self.output, self.rows, self.split, self.options.storage)
            if self.options.previews
            else ()
        )
        earlier = read_manifest(self.output, self.split)
        keep = {p.get("path") for p in previews}
        for record in earlier.previews if earlier else ():
            if record.get("path") not in keep and self.output.exists(record["path"]):
                self.output.remove(record["path"])
        return previews

    def _remove_stale_shards(self) -> None:
        keep = {s.name for s in self.plan.shards}
        for name in self.output.listdir(self.folder):
            if name.startswith(f"{self.split}-") and name.endswith(".parquet") and name not in keep:
                self.output.remove(f"{self.folder}/{name}")
        for name in self.output.listdir(f"{split_dir(self.state)}/markers"):
            if name.removesuffix(".json") not in keep:
                self.output.remove(f"{split_dir(self.state)}/markers/{name}")

    def _manifest(self) -> Manifest:
        per_column = {c.name: 0 for c in self.rows.columns if c.is_image}
        rows_with: dict[str, set[int]] = {name: set() for name in per_column}
        for r, c, _ in self.rows.images():
            per_column[self.rows.columns[c].name] += 1
            rows_with[self.rows.columns[c].name].add(r)
        options = self.options
        return Manifest(
            split=self.split,
            source=absolute_source(self.rows.source),
            options=_plan_record(options),
            features=features_dict(self.rows.columns),
            columns=columns_summary(
                described_columns(
                    self.rows.columns,
                    self.rows.source,
                    options.column_descriptions,
                    options.storage,
                )
            ),
            info=card_info(self.rows.info, options.card_details()),
            num_rows=len(self.rows.rows),
            shards=tuple(self.records[s.name] for s in self.plan.shards),
            images_per_column=per_column,
            rows_per_column={name: len(r) for name, r in rows_with.items()},
            first_row_per_column={name: min(r, default=-1) for name, r in rows_with.items()},
            image_bytes=self.rows.image_bytes(),
            files_found=self.rows.files_found,
            left_out=self.rows.left_out,
            warnings=self.rows.warnings + _oversized_warnings(self.plan),
            images_per_kind=_images_per_kind(self.rows),
            privacy={k: v for k, v in self.privacy.record().items() if k != "seconds"},
        )

    def result(
        self, status: Any, written: int, reused: int, report: VerifyReport | None, started: float
    ) -> BuildResult:
        mine = self.my_shards()
        part = self.options.part
        rows = [r for s in mine for r in self.rows.rows[s.start : s.stop]] if part else []
        return BuildResult(
            output=self.output.url,
            split=self.split,
            status=status,
            num_rows=len(rows) if part else len(self.rows.rows),
            num_images=(
                sum(len(list(images_in_row(r, self.rows.image_columns))) for r in rows)
                if part
                else self.rows.image_count()
            ),
            image_bytes=sum(self.rows_bytes(s) for s in mine) if part else self.rows.image_bytes(),
            num_shards=len(self.plan.shards) if not self.options.part else len(mine),
            plan_shards=len(self.plan.shards),
            shards_written=written,
            shards_reused=reused,
            download_size=sum(r.size for r in self.records.values()),
            files_found=self.rows.files_found,
            other_files=len(self.rows.other_files),
            left_out=self.rows.left_out,
            warnings=self.rows.warnings
            + _oversized_warnings(self.plan)
            + _viewer_warning(self.options)
            + _hub_folder_warning(self.plan),
            verify=report.to_dict() if report else None,
            seconds=time.monotonic() - started,
            part=self.options.part,
            privacy=self.privacy.record() if self.privacy.report else None,
        )


def _images_per_kind(rows: SourceRows) -> dict[str, int]:
    """BIDS ``--rows file``: a row is one image, and its ``kind`` column names the image column
    it would have in the session layout; the card counts images per kind from this."""
    names = [c.name for c in rows.columns]
    if not rows.one_image_per_row or "kind" not in names:
        return {}
    kind = names.index("kind")
    counts: dict[str, int] = {}
    for row in rows.rows:
        counts[str(row[kind])] = counts.get(str(row[kind]), 0) + 1
    return counts


def _all_manifests(output: OutputFolder, current: Manifest) -> list[Manifest]:
    """This split's manifest and the other splits already built here (one features schema)."""
    manifests = [current]
    for split in built_splits(output):
        if split == current.split:
            continue
        other = read_manifest(output, split)
        if other and other.features != current.features:
            raise OutputError(
                f"split {current.split!r} has different columns than split {split!r} in "
                f"{output.url}; all splits of a dataset share one schema"
            )
        if other:
            manifests.append(other)
    return sorted(manifests, key=lambda m: (m.split != "train", m.split))


def _missing_parts(output: OutputFolder, split: str, missing: Sequence[ShardPlan]) -> str:
    parts = output.listdir(f"{split_dir(split)}/parts")
    counts = {int(n.split("-of-")[1].removesuffix(".json")) for n in parts if "-of-" in n}
    if len(counts) != 1:
        return ""
    count = counts.pop()
    absent = sorted({s.index % count for s in missing})
    return f" (parts not finished: {', '.join(f'{i}/{count}' for i in absent)})"


def _oversized_warnings(plan: Plan) -> tuple[Problem, ...]:
    limit = format_size(plan.options.max_shard_size)
    return tuple(
        Problem(
            s.path, f"holds one row that alone is larger than --max-shard-size {limit}", "warning"
        )
        for s in plan.oversized
    )


HUB_FILES_PER_FOLDER = 10_000  # a hard limit of the Hub


def _hub_folder_warning(plan: Plan) -> tuple[Problem, ...]:
    """The Hub refuses a folder of more than 10,000 files: say so at build time, not at push."""
    if len(plan.shards) <= HUB_FILES_PER_FOLDER:
        return ()
    message = (
        f"{len(plan.shards):,} shards in data/: the Hub accepts at most "
        f"{HUB_FILES_PER_FOLDER:,} files per folder; use a larger --max-shard-size or split the "
        f"dataset (see docs/explanation/scaling.md)"
    )
    return (Problem("data/", message, "warning"),)


def _viewer_warning(options: BuildOptions) -> tuple[Problem, ...]:
    if options.row_group_size <= VIEWER_ROW_GROUP_LIMIT:
        return ()
    message = "row groups over ~286 MiB cannot be shown by the Hub's dataset viewer"
    return (Problem("--row-group-size", message, "warning"),)


def _skip_failed(rows: SourceRows, error: InputError) -> SourceRows | None:
    """The rows without the files that failed while writing; None if none of them is an image."""
    bad_paths = {p.path for p in errors_only(error.problems)}
    bad = {img for _, _, img in rows.images() if img.display in bad_paths}
    if not bad:
        return None
    kept = without_images(rows, bad)
    return dataclasses.replace(kept, left_out=rows.left_out + tuple(errors_only(error.problems)))
