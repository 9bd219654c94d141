"""The output against its source: every source file stored once, byte for byte, nothing else.

The source is read again exactly as ``build`` reads it (:func:`~nifti2parquet.sources.read_source`
with the same options), which lists every image it names now and every other file it publishes
(the ``files`` config). That list is compared with the
build's image records by the path the user knows (the table cell, or the path inside the BIDS
folder), so a source folder that moved still matches: nothing missing, nothing extra, nothing
twice. Then every source file is hashed again (streamed, several at a time) and compared with the
sha256 of the bytes the build stored, which the shard scan proves are the bytes in the shards.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..common.errors import Problem
from ..common.progress import Reporter
from ..common.rows import FileRef
from ..common.storage import Storage
from ..shards.image_index import ImageRecord, other_file_records, read_images
from ..shards.manifest import Manifest
from ..shards.output import OutputFolder
from ..sources import read_source
from ..sources.options import SourceOptions

if TYPE_CHECKING:
    from .report import VerifyOptions, VerifyReport


def compare_with_source(
    source: str,
    options: SourceOptions,
    records: Sequence[ImageRecord],
    left_out_at_build: Sequence[Problem] = (),
    threads: int = 8,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Problem], Counter[str]]:
    """Problems (errors and warnings) and counts (``source_files``, ``source_bytes``)."""
    rows = read_source(source, options)
    now = {img.display: img for _, _, img in rows.images()}
    now.update({f.display: f for f in rows.other_files})
    unusable_now = {p.path: p.message for p in rows.left_out}
    left_out = {p.path: p.message for p in left_out_at_build}
    stored = Counter(r.path for r in records)
    problems = _duplicates(records, stored) if rows.each_file_once else []
    problems += _stored_not_in_source(stored, now, unusable_now)
    problems += _source_not_stored(stored, now, unusable_now, left_out)
    pairs = [(r, now[r.path]) for r in _first_records(records) if r.path in now]
    found, counts = _changed_files(pairs, options.storage, threads, progress)
    return problems + found, counts


def _first_records(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    seen: dict[str, ImageRecord] = {}
    for record in records:
        seen.setdefault(record.path, record)
    return list(seen.values())


def _where(record: ImageRecord) -> str:
    index = "" if record.index is None else f"[{record.index}]"
    return f"row {record.row}, {record.column}{index}"


def _duplicates(records: Sequence[ImageRecord], stored: Counter[str]) -> list[Problem]:
    problems = []
    for path, n in stored.items():
        if n > 1:
            places = "; ".join(_where(r) for r in records if r.path == path)
            problems.append(Problem(path, f"stored {n} times in the output ({places})"))
    return problems


def _stored_not_in_source(
    stored: Counter[str], now: dict[str, FileRef], unusable_now: dict[str, str]
) -> list[Problem]:
    problems = []
    for path in stored:
        if path in now:
            continue
        if path in unusable_now:
            message = f"in the output, but the source file cannot be used now: {unusable_now[path]}"
        else:
            message = "in the output, but the source does not name this file (any more)"
        problems.append(Problem(path, message))
    return problems


def _source_not_stored(
    stored: Counter[str],
    now: dict[str, FileRef],
    unusable_now: dict[str, str],
    left_out: dict[str, str],
) -> list[Problem]:
    """Source images absent from the output: an error, unless the build left them out (and
    recorded why, as the card says): then a warning."""
    problems = []
    named = list(now) + [p for p in unusable_now if p not in now]
    for path in named:
        if path in stored:
            continue
        if path in left_out:
            problems.append(Problem(path, f"left out by the build: {left_out[path]}", "warning"))
        elif path in unusable_now:
            message = f"named by the source but not in the output: {unusable_now[path]}"
            problems.append(Problem(path, message))
        else:
            problems.append(Problem(path, "in the source but not in the output"))
    return problems


def _changed_files(
    pairs: Sequence[tuple[ImageRecord, FileRef]],
    storage: Storage,
    threads: int,
    progress: Callable[[int], None] | None,
) -> tuple[list[Problem], Counter[str]]:
    """Hash each source file now (streamed) and compare with what the build stored."""

    def one(pair: tuple[ImageRecord, FileRef]) -> tuple[ImageRecord, FileRef, str | None]:
        record, image = pair
        if image.size != _source_size(record):
            return record, image, None
        try:
            digest = storage.sha256(image.url)
        except OSError as exc:
            digest = f"error: {exc.strerror or exc}"
        if progress:
            progress(image.size)
        return record, image, digest

    problems: list[Problem] = []
    counts: Counter[str] = Counter()
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-source") as pool:
        for record, image, digest in pool.map(one, pairs):
            counts["source_files"] += 1
            counts["source_bytes"] += image.size
            message = _change(record, image, digest)
            if message:
                problems.append(Problem(record.path, f"{message} ({_where(record)})"))
            elif record.changed:
                counts["changed_on_purpose"] += 1
                problems.append(Problem(record.path, _on_purpose(record), "info"))
    return problems, counts


def _source_size(record: ImageRecord) -> int:
    """What the source file measured at build time (the stored size, unless changed on purpose)."""
    return record.size if record.source_size is None else record.source_size


def _on_purpose(record: ImageRecord) -> str:
    if record.column == "content":  # a file of the files config, rewritten by an exclusion
        what = ", ".join(record.changed) or "--exclude-field/--exclude-column"
    else:
        what = f"{', '.join(record.changed)} blanked by --blank-nifti-headers"
    return f"stored changed on purpose ({what}); the source still matches the build's record"


def _change(record: ImageRecord, image: FileRef, digest: str | None) -> str | None:
    size, expected = _source_size(record), record.source_sha256 or record.sha256
    if digest is None:
        return f"source file changed since the build: {image.size:,} bytes now, {size:,} stored"
    if digest.startswith("error: "):
        return f"cannot read the source file: {digest[7:]}"
    if digest != expected:
        return (
            f"source file differs from the stored image: sha256 {digest[:12]}… now, "
            f"{expected[:12]}… stored"
        )
    return None


def check_source(
    output: OutputFolder,
    manifests: Sequence[Manifest],
    options: VerifyOptions,
    reporter: Reporter,
    report: VerifyReport,
) -> None:
    """Each split against the source it was built from (or the SOURCE given), read the way the
    build read it unless other options are given, for that split (a segmentation dataset's
    imagesTs/ is its test split)."""
    for (source, split), group in _by_source(manifests, options.source or "").items():
        records = [r for m in group for r in read_images(output, m.split)]
        records += [r for m in group for r in other_file_records(output, m)]
        left_out = [p for m in group for p in m.left_out]
        total = sum(r.size for r in records)
        source_options = dataclasses.replace(options.source_options, split=split)
        if options.source_options == SourceOptions():  # nothing given: read it as the build did
            recorded = group[0].settings.source
            source_options = dataclasses.replace(recorded, storage=source_options.storage)
        with reporter.bar(total, f"hashing {len(records):,} source files") as bar:
            found, counts = compare_with_source(
                source,
                source_options,
                records,
                left_out,
                options.thread_count(),
                bar.update,
            )
        report.extend(found, counts)


def _by_source(manifests: Sequence[Manifest], source: str) -> dict[tuple[str, str], list[Manifest]]:
    """Each split with the source it was built from (or the one SOURCE given), each read once:
    a file every split publishes (a dataset-level file) is stored once per split."""
    groups: dict[tuple[str, str], list[Manifest]] = defaultdict(list)
    for manifest in manifests:
        groups[(source or manifest.source, manifest.split)].append(manifest)
    return groups
