"""Proof that a built dataset is complete and exact, on disk, against its source, and on the Hub.

Every check counts what it checked, so a report can never pass while checking nothing: the summary
reads like "902 rows, 5,164 images, 552 shards, 273.4 GB: OK", and a failure lists each problem with
its file (and row and column for an image). Levels:

* footers (:func:`verify_footers`, run by every ``build``): every shard is there and nothing else
  matches ``data/{split}-*``; each opens, has the exact schema and ``huggingface`` metadata, the
  recorded size, rows and row groups, row groups within limits; the README card agrees.
* content (``verify`` default): also every shard's sha256 against the manifest, and every image
  cell (read row group by row group) looks like NIfTI and has the sha256 the build recorded for
  that row and column; ``deep`` decodes each one as ``datasets`` would. See :mod:`.scan`.
* ``source``: every source image is stored exactly once and equals the file now
  (:mod:`.sourcecheck`).
* ``repo_id``: the Hub repo holds exactly these shards and README, by the Hub's own sizes and
  sha256 (no download); ``deep`` also downloads them (:mod:`.remote`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ..card.readme import README
from ..common.errors import OutputError, Problem
from ..common.progress import Reporter
from ..shards.manifest import (
    ImageRecord,
    Manifest,
    ShardRecord,
    built_splits,
    other_file_records,
    read_images,
    read_manifest,
    recorded_source_options,
)
from ..shards.output import OutputFolder
from ..shards.plan import MAX_ROW_GROUP_SIZE, MAX_ROWS_PER_ROW_GROUP, VIEWER_ROW_GROUP_LIMIT
from ..sources.options import SourceOptions
from ..common.files_config import FILES_CONFIG
from ..common.schema import NIFTI_LIST_TYPE, NIFTI_TYPE, features_yaml
from ..common.units import count, format_size
from .shard_digest import CellDigest, ShardDigest, file_sha256, digest_shards

MAX_CHUNK_BYTES = 2**31 - 1  # a NIfTI column chunk this big cannot be read back (Arrow offsets)


@dataclass
class VerifyReport:
    """What was checked (counts), what is wrong (problems) and what to know (warnings)."""

    counts: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    hub: str | None = None  # "user/name@revision" when the Hub was checked
    on_purpose: list[Problem] = field(default_factory=list)  # images the build changed on purpose

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(path, message, "warning"))

    def extend(self, found: Iterable[Problem], counts: Counter | None = None) -> None:
        """Take a sub-check's findings: errors to problems, the rest to warnings."""
        for problem in found:
            if problem.severity == "info":
                self.on_purpose.append(problem)
                continue
            (self.problems if problem.severity == "error" else self.warnings).append(problem)
        self.counts.update(counts or {})

    def summary(self) -> str:
        """One line of what was checked, then OK or the number of problems."""
        c = self.counts
        parts = [count(c["rows"], "row"), count(c["images"], "image")]
        parts += [count(c["shards"], "shard"), format_size(c["shard_bytes"])]
        if "files" in c:
            parts.append(f"{count(c['files'], 'file')} in the {FILES_CONFIG!r} config")
        if "source_files" in c:
            parts.append(count(c["source_files"], "source file"))
        if c["changed_on_purpose"]:
            parts.append(f"{c['changed_on_purpose']:,} changed on purpose")
        if self.hub:
            parts.append(f"{count(c['remote_files'], 'file')} on the Hub ({self.hub})")
        return f"{', '.join(parts)}: {'OK' if self.ok else count(len(self.problems), 'problem')}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "checked": dict(self.counts),
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "changed_on_purpose": [p.to_dict() for p in self.on_purpose],
        }


@dataclass(frozen=True)
class VerifyOptions:
    """What to check besides the footers and the card (see the module docstring)."""

    splits: tuple[str, ...] = ()  # default: every split built in the folder
    content: bool = True  # sha256 of every shard and every image cell
    deep: bool = False  # decode every image (and download every remote file)
    source: str | None = None  # compare with this source; "" = the source recorded by the build
    source_options: SourceOptions = field(default_factory=SourceOptions)
    repo_id: str | None = None
    revision: str | None = None
    token: str | None = None
    threads: int = 0  # shards (and files) checked at once; 0: one per core, at most 8

    def thread_count(self) -> int:
        return self.threads if self.threads > 0 else min(8, os.cpu_count() or 1)


def verify(
    output_dir: str | OutputFolder,
    options: VerifyOptions | None = None,
    reporter: Reporter | None = None,
) -> VerifyReport:
    """Check the built dataset in ``output_dir``; the report says what was checked and found."""
    options = options or VerifyOptions()
    reporter = reporter or Reporter()
    output = (
        output_dir
        if isinstance(output_dir, OutputFolder)
        else OutputFolder(output_dir, options.source_options.storage)
    )
    if not output.exists(""):
        raise OutputError(f"{output.url}: no such folder")
    if options.repo_id:  # before the local checks: an unreachable Hub is said in seconds
        from ..hub.client import check_hub_access

        check_hub_access(options.token, need_token=False, what="verify --repo")
    report = VerifyReport()
    manifests = _manifests(output, options.splits, report)
    for manifest in manifests:
        _check_data_folder(output, manifest, report)
        _check_files_config(output, manifest, options.content, report)
    measured = _check_shards(output, manifests, options, reporter, report)
    if manifests:
        _check_card(output, manifests, measured, report)
        _check_previews(output, manifests, report)
    if manifests and options.source is not None:
        _check_source(output, manifests, options, reporter, report)
    if options.repo_id:
        _check_hub(output, options, reporter, report)
    return report


def verify_footers(output: OutputFolder, splits: Sequence[str] | None = None) -> VerifyReport:
    """The cheap checks ``build`` runs at its end: no shard's content is read, only footers."""
    return verify(output, VerifyOptions(splits=tuple(splits or ()), content=False))


# manifests and the data folder -------------------------------------------------------------------
def _manifests(
    output: OutputFolder, splits: Sequence[str] | None, report: VerifyReport
) -> list[Manifest]:
    names = list(splits) if splits else built_splits(output)
    manifests = []
    for split in names:
        manifest = read_manifest(output, split)
        if manifest is None:
            report.add(output.display(""), f"no finished build of split {split!r} here")
        else:
            manifests.append(manifest)
    if not names:
        report.add(output.display(""), "no finished nifti2parquet build in this folder")
    return manifests


def _check_data_folder(output: OutputFolder, manifest: Manifest, report: VerifyReport) -> None:
    """Exactly the manifest's shards match ``data/{split}-*``: nothing missing, nothing stray."""
    expected = {s.path.split("/", 1)[1] for s in manifest.shards}
    present = {n for n in output.listdir("data") if n.startswith(f"{manifest.split}-")}
    for name in sorted(expected - present):
        record = next(s for s in manifest.shards if s.path == f"data/{name}")
        report.add(
            f"data/{name}",
            f"shard missing ({record.num_rows:,} rows, {len(record.image_sha256):,} images)",
        )
    for name in sorted(present - expected):
        report.add(
            f"data/{name}", f"stray file matching data/{manifest.split}-* (not in the build)"
        )


def _check_files_config(
    output: OutputFolder, manifest: Manifest, content: bool, report: VerifyReport
) -> None:
    """The ``files`` config: exactly its shards, each complete; with ``content``, every stored
    file's bytes have the size and sha256 its row states."""
    if manifest.files is None:
        return
    folder, prefix = FILES_CONFIG, f"{manifest.split}-"
    expected = {s.path: s for s in manifest.files.shards}
    present = {f"{folder}/{n}" for n in output.listdir(folder) if n.startswith(prefix)}
    for path in sorted(present - set(expected)):
        report.add(path, f"stray file matching {folder}/{prefix}* (not in the build)")
    rows = 0
    for path, record in expected.items():
        if path not in present:
            report.add(path, f"shard missing ({record.num_rows:,} files)")
            continue
        rows += _check_files_shard(output, record, content, report)
    if rows == sum(s.num_rows for s in manifest.files.shards):
        report.counts["files"] += manifest.files.num_files


def _check_files_shard(
    output: OutputFolder, record: ShardRecord, content: bool, report: VerifyReport
) -> int:
    """The rows of one ``files`` shard that check out (0 when the shard itself does not)."""
    size, sha256 = file_sha256(output, record.path) if content else (output.size(record.path), "")
    if size != record.size or (content and sha256 != record.sha256):
        report.add(
            record.path, f"differs from the build ({size:,} bytes, recorded {record.size:,})"
        )
        return 0
    if not content:
        return record.num_rows
    good = 0
    with output.open_read(record.path) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=64):
            for row in batch.to_pylist():
                data = (row["content"] or {}).get("bytes")
                if data is not None and (
                    len(data) != row["size"] or hashlib.sha256(data).hexdigest() != row["sha256"]
                ):
                    report.add(record.path, f"{row['path']}: bytes differ from their sha256")
                else:
                    good += 1
    return good


# shards ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Place:
    """A shard of the build: its record, its split's manifest, the split row of its first row."""

    manifest: Manifest
    record: ShardRecord
    first_row: int


def _places(output: OutputFolder, manifests: Sequence[Manifest]) -> list[_Place]:
    places = []
    for manifest in manifests:
        first = 0
        for record in manifest.shards:
            if output.exists(record.path):
                places.append(_Place(manifest, record, first))
            first += record.num_rows
    return places


def _image_kinds(manifest: Manifest) -> dict[str, str]:
    return {c["name"]: c["kind"] for c in manifest.columns if c["kind"] in ("image", "image_list")}


def _check_shards(
    output: OutputFolder,
    manifests: Sequence[Manifest],
    options: VerifyOptions,
    reporter: Reporter,
    report: VerifyReport,
) -> dict[str, tuple[int, int]]:
    """Check every shard present; returns (rows, bytes) per split whose shards all read."""
    places = _places(output, manifests)
    measured: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # rows, bytes, shards read
    if options.content:
        records = _image_records(output, manifests, report)
        scans = _scans(output, places, options, reporter)
    else:
        records = {}
        scans = (_footer_scan(output, p.record.path) for p in places)
    for place, scan in zip(places, scans):
        _check_one_shard(place, scan, report)
        if scan.metadata is not None and not scan.error:
            totals = measured[place.manifest.split]
            totals[0] += scan.metadata.num_rows
            totals[1] += scan.size
            totals[2] += 1
        if options.content:
            expected = records.get(place.record.path, [])
            _check_cells(place, scan, expected, report)
    if not options.content:
        for manifest in manifests:
            report.counts["images"] += manifest.num_images
            report.counts["image_bytes"] += manifest.image_bytes
    return {
        m.split: (measured[m.split][0], measured[m.split][1])
        for m in manifests
        if measured[m.split][2] == len(m.shards)
    }


def _scans(
    output: OutputFolder, places: Sequence[_Place], options: VerifyOptions, reporter: Reporter
) -> Iterable[ShardDigest]:
    total = sum(output.size(p.record.path) for p in places)
    label = f"verifying {len(places):,} shards, {format_size(total)}"
    jobs = [(p.record.path, _image_kinds(p.manifest), p.record.sha256) for p in places]
    with reporter.bar(total, label) as bar:
        yield from digest_shards(output, jobs, options.deep, options.thread_count(), bar.update)


def _footer_scan(output: OutputFolder, path: str) -> ShardDigest:
    """Size and footer only (the build's cheap check): no sha256, no cells."""
    size = output.size(path)
    try:
        with output.open_read(path) as f:
            parquet = pq.ParquetFile(f)
            metadata = parquet.metadata
            return ShardDigest(
                path, size, "", metadata, parquet.schema_arrow, (), None, metadata.num_rows
            )
    except (pa.ArrowException, OSError) as exc:
        message = " ".join(str(exc).split())
        return ShardDigest(path, size, "", None, None, (), f"not a readable Parquet file ({message})")


def _image_records(
    output: OutputFolder, manifests: Sequence[Manifest], report: VerifyReport
) -> dict[str, list[ImageRecord]]:
    """The build's image records, per shard path."""
    by_shard: dict[str, list[ImageRecord]] = defaultdict(list)
    for manifest in manifests:
        try:
            records = read_images(output, manifest.split)
        except (OSError, ValueError, TypeError) as exc:
            report.add(output.display(""), f"the build's image list cannot be read ({exc})")
            continue
        if len(records) != manifest.num_images:
            report.add(
                output.display(""),
                f"the build's image list holds {len(records):,} images, the manifest "
                f"{manifest.num_images:,}",
            )
        for record in records:
            by_shard[record.shard].append(record)
    return by_shard


def _check_one_shard(place: _Place, scan: ShardDigest, report: VerifyReport) -> None:
    record, path = place.record, place.record.path
    report.counts["shard_bytes"] += scan.size
    if scan.size != record.size:
        report.add(path, f"size is {scan.size:,} bytes, the build recorded {record.size:,}")
    elif scan.sha256 and scan.sha256 != record.sha256:
        report.add(
            path,
            f"sha256 {scan.sha256[:12]}… differs from the build's {record.sha256[:12]}… "
            "(same size: bytes changed in place)",
        )
    if scan.sha256:
        report.counts["shards_hashed"] += 1
    if scan.metadata is None or scan.schema is None:
        images = len(record.image_sha256)
        report.add(path, f"{scan.error}; its {images:,} images were not checked")
        return
    report.counts["shards"] += 1
    report.counts["rows"] += scan.metadata.num_rows
    _check_schema(path, scan.schema, place.manifest, report)
    if scan.metadata.num_rows != record.num_rows:
        report.add(
            path,
            f"has {scan.metadata.num_rows:,} rows, the build recorded {record.num_rows:,} "
            "(rows removed or added)",
        )
    if scan.metadata.num_row_groups != record.num_row_groups:
        report.add(
            path,
            f"has {scan.metadata.num_row_groups} row groups, the build recorded "
            f"{record.num_row_groups}",
        )
    _check_row_groups(path, scan.metadata, place.manifest, report)
    if scan.error:
        report.add(path, f"{scan.error}; its rows from {scan.rows_read} on were not checked")


def _check_schema(path: str, schema: pa.Schema, manifest: Manifest, report: VerifyReport) -> None:
    raw = (schema.metadata or {}).get(b"huggingface")
    if raw is None:
        report.add(path, "no `huggingface` schema metadata: datasets would not decode the images")
        return
    try:
        features = json.loads(raw).get("info", {}).get("features")
    except (ValueError, AttributeError):
        features = None  # not the JSON datasets writes: reported as differing features
    if features != manifest.features:
        report.add(path, "the `huggingface` features differ from the build's")
    if schema.names != list(manifest.features):
        report.add(path, f"columns {schema.names} differ from {list(manifest.features)}")
        return
    for name, kind in _image_kinds(manifest).items():
        found = schema.field(name)
        expected = NIFTI_TYPE if kind == "image" else NIFTI_LIST_TYPE
        if found.type != expected or not found.nullable:
            report.add(
                path,
                f"column {name} is {found.type}, not the nullable {expected} datasets decodes "
                "as Nifti (it would load raw dicts)",
            )


def _check_row_groups(
    path: str, metadata: pq.FileMetaData, manifest: Manifest, report: VerifyReport
) -> None:
    """Readable (each column chunk < 2 GiB), within the build's byte target unless one row, and
    small enough for the Hub viewer (a warning)."""
    target = min(
        int(manifest.options.get("row_group_size", MAX_ROW_GROUP_SIZE)), MAX_ROW_GROUP_SIZE
    )
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        report.counts["row_groups"] += 1
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.total_uncompressed_size >= MAX_CHUNK_BYTES:
                report.add(
                    path,
                    f"row group {i}: column {chunk.path_in_schema} holds "
                    f"{chunk.total_uncompressed_size:,} bytes, over 2 GiB: nobody can read it back",
                )
        if group.num_rows > 1 and group.total_byte_size > target:
            report.add(
                path,
                f"row group {i} holds {group.total_byte_size:,} bytes in {group.num_rows} rows, "
                f"over the build's row group size {target:,}",
            )
        if group.num_rows > MAX_ROWS_PER_ROW_GROUP:
            report.add(path, f"row group {i} holds {group.num_rows:,} rows")
        if group.total_byte_size > VIEWER_ROW_GROUP_LIMIT:
            report.warn(
                path,
                f"row group {i} holds {format_size(group.total_byte_size)}: the Hub dataset "
                "viewer reads at most ~286 MiB per row group",
            )


# image cells -------------------------------------------------------------------------------------
_Key = tuple[int, str, "int | None"]  # (row in the split, column, index in a list)


def _where(key: _Key) -> str:
    row, column, index = key
    return f"row {row}, {column}" + ("" if index is None else f"[{index}]")


def _check_cells(
    place: _Place, scan: ShardDigest, expected: Sequence[ImageRecord], report: VerifyReport
) -> None:
    """Every image cell against the build's record for the same row and column.

    Cells match records by position first; what is left is matched by content, so a removed row
    is named as the row that is missing (its images are gone) and the rows after it as moved,
    rather than every later image as "different".
    """
    path = place.record.path
    found: dict[_Key, CellDigest] = {}
    for cell in scan.cells:
        key = (place.first_row + cell.row, cell.column, cell.index)
        found[key] = cell
        report.counts["images"] += 1
        report.counts["image_bytes"] += cell.size
        if cell.decoded:
            report.counts["images_decoded"] += 1
        for message in cell.problems:
            report.add(path, f"{_where(key)} ({_stored_name(expected, key)}): {message}")
        for message in cell.notes:
            report.warn(path, f"{_where(key)}: {message}")
    if scan.metadata is None:
        return  # nothing could be read: reported once for the whole shard
    last = place.first_row + scan.rows_read  # rows after an unreadable row group: not checked
    records = {(r.row, r.column, r.index): r for r in expected if r.row < last}
    if scan.intact:  # the shard's bytes are the build's: each image is the one recorded there
        found = {
            k: replace(c, sha256=records[k].sha256) if k in records else c for k, c in found.items()
        }
    _compare_positions(path, found, records, report)


def _stored_name(expected: Sequence[ImageRecord], key: _Key) -> str:
    for record in expected:
        if (record.row, record.column, record.index) == key:
            return record.path
    return "not in the build"


def _compare_positions(
    path: str,
    found: dict[_Key, CellDigest],
    records: dict[_Key, ImageRecord],
    report: VerifyReport,
) -> None:
    same = {k for k in found.keys() & records.keys() if found[k].sha256 == records[k].sha256}
    report.counts["images_matched"] += len(same)
    extra = {k: found[k] for k in found.keys() - same if found[k].sha256 is not None}
    missing = {k: records[k] for k in records.keys() - same}
    moved = _moved(extra, missing)
    for key in sorted(extra.keys() & missing.keys(), key=_order):
        record = missing.pop(key)
        cell = extra.pop(key)
        report.add(
            path,
            f"{_where(key)} ({record.path}): image bytes differ from the build's "
            f"(sha256 {cell.sha256[:12]}…, recorded {record.sha256[:12]}…)",
        )
    for key in sorted(missing, key=_order):
        if key not in found or found[key].sha256 is not None:  # no bytes: reported already
            report.add(path, f"{_where(key)}: image missing ({missing[key].path} was stored here)")
    for key in sorted(extra, key=_order):
        report.add(path, f"{_where(key)}: holds an image the build did not store here")
    if moved:
        first_to, first_from = moved[0]
        report.add(
            path,
            f"{len(moved):,} images are not at the rows the build recorded (rows removed, added "
            f"or reordered); e.g. {_where(first_to)} holds the image of {_where(first_from)} "
            f"({records[first_from].path})",
        )


def _moved(extra: dict[_Key, CellDigest], missing: dict[_Key, ImageRecord]) -> list[tuple]:
    """Pairs (where it is, where it was recorded) of images found at another position; the pairs
    are taken out of ``extra`` and ``missing``."""
    by_content: dict[tuple[str, str], list[_Key]] = defaultdict(list)
    for key, record in sorted(missing.items(), key=lambda kv: _order(kv[0])):
        by_content[(key[1], record.sha256)].append(key)
    pairs = []
    for key in sorted(extra, key=_order):
        candidates = by_content.get((key[1], extra[key].sha256 or ""))
        if candidates:
            origin = candidates.pop(0)
            pairs.append((key, origin))
            del extra[key], missing[origin]
    return pairs


def _order(key: _Key) -> tuple[int, str, int]:
    return key[0], key[1], -1 if key[2] is None else key[2]


# the card ----------------------------------------------------------------------------------------
def _check_card(
    output: OutputFolder,
    manifests: Sequence[Manifest],
    measured: dict[str, tuple[int, int]],
    report: VerifyReport,
) -> None:
    """The README's YAML promises exactly what the shards hold (rows and file sizes as read from
    the shards when they all read; features and Arrow bytes as the build recorded them)."""
    if not output.exists(README):
        report.add(README, "missing")
        return
    infos = _card_info(output.read_text(README), report)
    if infos is None:
        return
    info = infos.get("default", {})
    _check_files_info(infos.get(FILES_CONFIG), manifests, report)
    if info.get("features") != features_yaml(manifests[0].features):
        report.add(README, "dataset_info.features differ from the shards' features")
    splits = {s.get("name"): s for s in info.get("splits") or [] if isinstance(s, dict)}
    for m in manifests:
        entry = splits.get(m.split)
        if not entry:
            report.add(README, f"split {m.split!r} is missing from dataset_info.splits")
            continue
        rows = measured.get(m.split, (m.num_rows, 0))[0]
        if entry.get("num_examples") != rows:
            report.add(
                README,
                f"split {m.split!r}: the card says {entry.get('num_examples')} rows, "
                f"the shards hold {rows:,}",
            )
        if entry.get("num_bytes") != m.num_bytes:
            report.add(
                README,
                f"split {m.split!r}: the card says num_bytes {entry.get('num_bytes')}, "
                f"the build wrote {m.num_bytes:,}",
            )
    _check_card_sizes(info, manifests, measured, report)
    report.counts["cards"] += 1


def _check_previews(
    output: OutputFolder, manifests: Sequence[Manifest], report: VerifyReport
) -> None:
    """The card's pictures are there, as the build drew them."""
    from ..card.previews import check_previews

    for manifest in manifests:
        found, checked = check_previews(output, manifest)
        for path, message in found:
            report.add(path, message)
        report.counts["previews"] += checked


def _card_info(text: str, report: VerifyReport) -> dict[str, dict[str, Any]] | None:
    """The card's ``dataset_info`` per config name (one config: a dict; several: a list)."""
    try:
        header = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    except yaml.YAMLError as exc:
        report.add(README, f"the YAML header does not parse ({' '.join(str(exc).split())})")
        return None
    info = header.get("dataset_info") if isinstance(header, dict) else None
    if isinstance(info, dict):
        return {"default": info}
    if isinstance(info, list) and all(isinstance(i, dict) for i in info):
        return {i.get("config_name", "default"): i for i in info}
    report.add(README, "no dataset_info in the YAML header")
    return None


def _check_files_info(
    info: dict[str, Any] | None, manifests: Sequence[Manifest], report: VerifyReport
) -> None:
    """The ``files`` config's entry lists every split's files, as many as the build recorded."""
    with_files = [m for m in manifests if m.files]
    if not with_files:
        return
    if info is None:
        report.add(README, f"no dataset_info for the {FILES_CONFIG!r} config")
        return
    splits = {s.get("name"): s for s in info.get("splits") or [] if isinstance(s, dict)}
    for m in with_files:
        said = splits.get(m.split, {}).get("num_examples")
        if said != m.files.num_files:  # type: ignore[union-attr]
            report.add(
                README,
                f"config {FILES_CONFIG!r}, split {m.split!r}: the card says {said} files, "
                f"the build stored {m.files.num_files:,}",  # type: ignore[union-attr]
            )


def _check_card_sizes(
    info: dict[str, Any],
    manifests: Sequence[Manifest],
    measured: dict[str, tuple[int, int]],
    report: VerifyReport,
) -> None:
    files = sum(measured.get(m.split, (0, m.download_size))[1] for m in manifests)
    if info.get("download_size") != files:
        report.add(
            README,
            f"download_size is {info.get('download_size')}, the shards total {files:,} bytes",
        )
    arrow = sum(m.num_bytes for m in manifests)
    if info.get("dataset_size") != arrow:
        report.add(README, f"dataset_size is {info.get('dataset_size')}, the build wrote {arrow:,}")


# the source --------------------------------------------------------------------------------------
def _check_source(
    output: OutputFolder,
    manifests: Sequence[Manifest],
    options: VerifyOptions,
    reporter: Reporter,
    report: VerifyReport,
) -> None:
    from .against_source import compare_with_source

    for source, group in _by_source(manifests, options.source or "").items():
        records = [r for m in group for r in read_images(output, m.split)]
        records += [r for m in group for r in other_file_records(output, m)]
        left_out = [p for m in group for p in m.left_out]
        total = sum(r.size for r in records)
        source_options = options.source_options
        if source_options == SourceOptions(storage=source_options.storage):
            # nothing given: read the source the way the build did
            source_options = recorded_source_options(group[0], source_options.storage)
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


def _by_source(manifests: Sequence[Manifest], source: str) -> dict[str, list[Manifest]]:
    """One given SOURCE is compared with all the splits at once; without one, each split with the
    source it was built from."""
    groups: dict[str, list[Manifest]] = defaultdict(list)
    for manifest in manifests:
        groups[source or manifest.source].append(manifest)
    return groups


# the Hub -----------------------------------------------------------------------------------------
def _check_hub(
    output: OutputFolder, options: VerifyOptions, reporter: Reporter, report: VerifyReport
) -> None:
    """All built splits (whatever ``splits`` says: the remote README promises all of them)."""
    from ..hub.remote import LocalFile, check_hub, local_card, small_file

    assert options.repo_id is not None
    manifests = [m for s in built_splits(output) if (m := read_manifest(output, s))]
    expected = [LocalFile(s.path, s.size, s.sha256) for m in manifests for s in m.all_shards]
    for record in (r for m in manifests for r in m.previews if r.get("path")):
        if output.exists(record["path"]):
            with output.open_read(record["path"]) as f:
                expected.append(small_file(record["path"], f.read()))
    if output.exists(README):
        with output.open_read(README) as f:
            expected.append(local_card(README, f.read()))
    globs = [g for m in manifests for g in m.data_globs()]
    report.hub = f"{options.repo_id}@{options.revision or 'main'}"
    total = sum(f.size for f in expected) if options.deep else 0
    with reporter.bar(total, f"downloading {len(expected):,} files from the Hub") as bar:
        found, counts = check_hub(
            options.repo_id,
            expected,
            globs,
            options.revision,
            options.token,
            options.deep,
            options.thread_count(),
            bar.update,
        )
    report.extend(found, counts)
