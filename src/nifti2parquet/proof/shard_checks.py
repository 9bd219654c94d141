"""Every shard against its manifest: footer, schema and row groups within limits; with ``content``,
its sha256 and every image cell's sha256 at the row and column the build recorded (see
:mod:`.shard_digest`)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.parquet as pq

from ..common.progress import Reporter
from ..common.schema import NIFTI_LIST_TYPE, NIFTI_TYPE
from ..common.units import count, format_size
from ..shards.image_index import ImageRecord, read_images
from ..shards.manifest import (
    Manifest,
    ShardRecord,
)
from ..shards.output import OutputFolder
from ..shards.plan import MAX_ROW_GROUP_SIZE, MAX_ROWS_PER_ROW_GROUP, VIEWER_ROW_GROUP_LIMIT
from .report import VerifyOptions, VerifyReport
from .shard_digest import CellDigest, ShardDigest, digest_shards

MAX_CHUNK_BYTES = 2**31 - 1  # a NIfTI column chunk this big cannot be read back (Arrow offsets)


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


def check_shards(
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
        digests = _digests(output, places, options, reporter)
    else:
        records = {}
        digests = (_footer_digest(output, p.record.path) for p in places)
    for place, digest in zip(places, digests):
        _check_one_shard(place, digest, report)
        if digest.metadata is not None and not digest.error:
            totals = measured[place.manifest.split]
            totals[0] += digest.metadata.num_rows
            totals[1] += digest.size
            totals[2] += 1
        if options.content:
            expected = records.get(place.record.path, [])
            _check_cells(place, digest, expected, report)
    if not options.content:
        for manifest in manifests:
            report.counts["images"] += manifest.num_images
            report.counts["image_bytes"] += manifest.image_bytes
    return {
        m.split: (measured[m.split][0], measured[m.split][1])
        for m in manifests
        if measured[m.split][2] == len(m.shards)
    }


def _digests(
    output: OutputFolder, places: Sequence[_Place], options: VerifyOptions, reporter: Reporter
) -> Iterable[ShardDigest]:
    total = sum(output.size(p.record.path) for p in places)
    label = f"verifying {len(places):,} shards, {format_size(total)}"
    jobs = [(p.record.path, p.manifest.image_columns, p.record.sha256) for p in places]
    with reporter.bar(total, label) as bar:
        yield from digest_shards(output, jobs, options.deep, options.thread_count(), bar.update)


def _footer_digest(output: OutputFolder, path: str) -> ShardDigest:
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
        return ShardDigest(
            path, size, "", None, None, (), f"not a readable Parquet file ({message})"
        )


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


def _check_one_shard(place: _Place, digest: ShardDigest, report: VerifyReport) -> None:
    record, path = place.record, place.record.path
    report.counts["shard_bytes"] += digest.size
    if digest.size != record.size:
        report.add(path, f"size is {digest.size:,} bytes, the build recorded {record.size:,}")
    elif digest.sha256 and digest.sha256 != record.sha256:
        report.add(
            path,
            f"sha256 {digest.sha256[:12]}… differs from the build's {record.sha256[:12]}… "
            "(same size: bytes changed in place)",
        )
    if digest.sha256:
        report.counts["shards_hashed"] += 1
    if digest.metadata is None or digest.schema is None:
        images = len(record.image_sha256)
        report.add(path, f"{digest.error}; its {count(images, 'image')} were not checked")
        return
    report.counts["shards"] += 1
    report.counts["rows"] += digest.metadata.num_rows
    _check_schema(path, digest.schema, place.manifest, report)
    if digest.metadata.num_rows != record.num_rows:
        report.add(
            path,
            f"has {count(digest.metadata.num_rows, 'row')}, the build recorded "
            f"{record.num_rows:,} (rows removed or added)",
        )
    if digest.metadata.num_row_groups != record.num_row_groups:
        report.add(
            path,
            f"has {count(digest.metadata.num_row_groups, 'row group')}, the build recorded "
            f"{record.num_row_groups}",
        )
    _check_row_groups(path, digest.metadata, place.manifest, report)
    if digest.error:
        report.add(path, f"{digest.error}; its rows from {digest.rows_read} on were not checked")


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
    for name, kind in manifest.image_columns.items():
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
    target = min(manifest.settings.row_group_size, MAX_ROW_GROUP_SIZE)
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
    place: _Place, digest: ShardDigest, expected: Sequence[ImageRecord], report: VerifyReport
) -> None:
    """Every image cell against the build's record for the same row and column.

    Cells match records by position first; what is left is matched by content, so a removed row
    is named as the row that is missing (its images are gone) and the rows after it as moved,
    rather than every later image as "different".
    """
    path = place.record.path
    found: dict[_Key, CellDigest] = {}
    for cell in digest.cells:
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
    if digest.metadata is None:
        return  # nothing could be read: reported once for the whole shard
    last = place.first_row + digest.rows_read  # rows after an unreadable row group: not checked
    records = {(r.row, r.column, r.index): r for r in expected if r.row < last}
    if digest.intact:  # the shard's bytes are the build's: each image is the one recorded there
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
