"""Proof that a built dataset is complete and exact.

Every check counts what it checked, so a report can never pass while checking nothing: the summary
reads like "902 rows, 5,164 images, 552 shards, 273.4 GB: OK". The cheap checks (footers, schema,
sizes, card) run at the end of every build.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from .card import README
from .errors import Problem
from .manifest import Manifest, built_splits, read_manifest
from .output import OutputFolder
from .plan import MAX_ROW_GROUP_SIZE
from .units import format_size


@dataclass
class VerifyReport:
    """What was checked (counts) and what is wrong (problems)."""

    counts: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def summary(self) -> str:
        c = self.counts
        text = (
            f"{c['rows']:,} rows, {c['images']:,} images, {c['shards']:,} shards, "
            f"{format_size(c['shard_bytes'])}"
        )
        return f"{text}: {'OK' if self.ok else f'{len(self.problems)} problem(s)'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "checked": dict(self.counts),
            "problems": [p.to_dict() for p in self.problems],
        }


def verify_footers(output: OutputFolder, splits: Sequence[str] | None = None) -> VerifyReport:
    """The cheap checks: every shard's footer, schema, size and rows, and the card, against the
    manifest; no image bytes are read."""
    report = VerifyReport()
    manifests = _manifests(output, splits, report)
    for manifest in manifests:
        _check_data_folder(output, manifest, report)
        for shard in manifest.shards:
            _check_shard_footer(output, manifest, shard.path, report)
        report.counts["rows"] += manifest.num_rows
        report.counts["images"] += manifest.num_images
        report.counts["image_bytes"] += manifest.image_bytes
    if manifests:
        _check_card(output, manifests, report)
    return report


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
        report.add(f"data/{name}", "shard missing")
    for name in sorted(present - expected):
        report.add(
            f"data/{name}", f"stray file matching data/{manifest.split}-* (not in the build)"
        )


def _check_shard_footer(
    output: OutputFolder, manifest: Manifest, path: str, report: VerifyReport
) -> None:
    record = next(s for s in manifest.shards if s.path == path)
    if not output.exists(path):
        return  # reported by the data folder check
    report.counts["shards"] += 1
    size = output.size(path)
    report.counts["shard_bytes"] += size
    if size != record.size:
        report.add(path, f"size is {size:,} bytes, the build recorded {record.size:,}")
        return
    try:
        with output.open_read(path) as f:
            metadata = pq.ParquetFile(f).metadata
            schema = pq.ParquetFile(f).schema_arrow
    except (pa.ArrowException, OSError) as exc:
        report.add(path, f"not a readable Parquet file ({exc})")
        return
    _check_schema(path, schema, manifest, report)
    if metadata.num_rows != record.num_rows:
        report.add(path, f"has {metadata.num_rows} rows, the build recorded {record.num_rows}")
    if metadata.num_row_groups != record.num_row_groups:
        report.add(
            path, f"has {metadata.num_row_groups} row groups, expected {record.num_row_groups}"
        )
    _check_row_groups(path, metadata, report)


def _check_schema(path: str, schema: pa.Schema, manifest: Manifest, report: VerifyReport) -> None:
    raw = (schema.metadata or {}).get(b"huggingface")
    if raw is None:
        report.add(path, "no `huggingface` schema metadata: datasets would not decode the images")
        return
    features = json.loads(raw).get("info", {}).get("features")
    if features != manifest.features:
        report.add(path, "the `huggingface` features differ from the build's")
    if schema.names != list(manifest.features):
        report.add(path, f"columns {schema.names} differ from {list(manifest.features)}")


def _check_row_groups(path: str, metadata: pq.FileMetaData, report: VerifyReport) -> None:
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        report.counts["row_groups"] += 1
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.total_uncompressed_size >= 2**31 - 1:
                report.add(path, f"row group {i}: column {chunk.path_in_schema} is over 2 GiB")
        if group.total_byte_size > max(MAX_ROW_GROUP_SIZE, 2**31 - 1) and group.num_rows > 1:
            report.add(path, f"row group {i} holds {group.total_byte_size:,} bytes")


def _check_card(output: OutputFolder, manifests: Sequence[Manifest], report: VerifyReport) -> None:
    """The README's YAML promises exactly what the shards hold."""
    if not output.exists(README):
        report.add(README, "missing")
        return
    text = output.read_text(README)
    try:
        header = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    except yaml.YAMLError as exc:
        report.add(README, f"the YAML header does not parse ({exc})")
        return
    info = (header or {}).get("dataset_info")
    if not isinstance(info, dict):
        report.add(README, "no dataset_info in the YAML header")
        return
    from .schema import features_yaml

    if info.get("features") != features_yaml(manifests[0].features):
        report.add(README, "dataset_info.features differ from the shards' features")
    splits = {s.get("name"): s for s in info.get("splits") or []}
    for m in manifests:
        entry = splits.get(m.split)
        if not entry:
            report.add(README, f"split {m.split!r} is missing from dataset_info.splits")
        elif (entry.get("num_examples"), entry.get("num_bytes")) != (m.num_rows, m.num_bytes):
            report.add(
                README,
                f"split {m.split!r}: card says {entry.get('num_examples')} rows / "
                f"{entry.get('num_bytes')} bytes, the shards hold {m.num_rows} / {m.num_bytes}",
            )
    if info.get("download_size") != sum(m.download_size for m in manifests):
        report.add(README, "download_size differs from the shards' total size")
    report.counts["cards"] += 1
