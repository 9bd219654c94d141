"""The output folder against its manifests: exactly the recorded shards in ``data/``, and the
``files`` config's shards and the files they store."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq

from ..common.files_config import FILES_CONFIG
from ..common.units import count
from ..shards.manifest import (
    Manifest,
    ShardRecord,
)
from ..shards.output import OutputFolder
from .report import VerifyReport
from .shard_pass import hashed_values


def check_data_folder(output: OutputFolder, manifest: Manifest, report: VerifyReport) -> None:
    """Exactly the manifest's shards match ``data/{split}-*``: nothing missing, nothing stray."""
    expected = {s.path.split("/", 1)[1] for s in manifest.shards}
    present = {n for n in output.listdir("data") if n.startswith(f"{manifest.split}-")}
    for name in sorted(expected - present):
        record = next(s for s in manifest.shards if s.path == f"data/{name}")
        report.add(
            f"data/{name}",
            f"shard missing ({count(record.num_rows, 'row')}, "
            f"{count(len(record.image_sha256), 'image')})",
        )
    for name in sorted(present - expected):
        report.add(
            f"data/{name}", f"stray file matching data/{manifest.split}-* (not in the build)"
        )


def check_files_config(
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
            report.add(path, f"shard missing ({count(record.num_rows, 'file')})")
            continue
        rows += _check_files_shard(output, record, content, report)
    if rows == sum(s.num_rows for s in manifest.files.shards):
        report.counts["files"] += manifest.files.num_files


def _check_files_shard(
    output: OutputFolder, record: ShardRecord, content: bool, report: VerifyReport
) -> int:
    """The rows of one ``files`` shard that check out (0 when the shard itself does not)."""
    if not content:
        size = output.size(record.path)
        if size != record.size:
            report.add(record.path, _differs(size, record))
            return 0
        return record.num_rows
    done, values = hashed_values(output, record.path, "content")  # one read: shard and files
    if done.size != record.size or done.sha256 != record.sha256:
        report.add(record.path, _differs(done.size, record))
        return 0
    if values is None:  # pages not framed as the build frames them: read them with pyarrow
        return _check_files_rows(output, record, report)
    good = 0
    with output.open_read(record.path) as f:
        index = pq.read_table(f, columns=["path", "size", "sha256"])
    for row, (path, size, sha256) in enumerate(zip(*(c.to_pylist() for c in index.columns))):
        value = values.get(row)
        if (
            value is not None
            and value.size is not None
            and (value.size != size or value.sha256 != sha256)
        ):
            report.add(record.path, f"{path}: bytes differ from their sha256")
        else:
            good += 1
    return good


def _differs(size: int, record: ShardRecord) -> str:
    return f"differs from the build ({size:,} bytes, recorded {record.size:,})"


def _check_files_rows(output: OutputFolder, record: ShardRecord, report: VerifyReport) -> int:
    """Each stored file against its row's size and sha256, read by pyarrow (64 rows at a time)."""
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
