"""Running a plan: reuse the shards that are finished, write the rest, record each one.

Each shard is written to a temp file and renamed into place by this process only (never by a
worker), followed by its completion marker (:mod:`.markers`). A run that is killed leaves finished
shards and markers behind; the next run with the same plan reuses every shard whose key and sha256
still match, so it ends with the same bytes as a run that was never interrupted. An array-job
part writes only the shards ``index % n == i``.

A shard's key holds each input's size and modification time (or an object store's ETag), as
``rsync`` compares files by default: a file edited in place that kept both is not noticed, but no
input is read to decide. With ``checksum`` (``build --checksum``, as ``rsync -c``), the images of
every shard that would be reused are hashed and compared with the sha256 its marker records; a
shard with any other image is written again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..common.errors import InputError
from ..common.hashing import sha256_of_file
from ..common.progress import Reporter
from ..common.rows import SourceRows, images_in_row
from ..common.storage import Storage
from ..common.units import count, format_size
from .manifest import ShardRecord, split_dir
from .markers import read_marker, write_marker
from .output import OutputFolder
from .plan import Plan, ShardPlan
from .workers import WorkerPool
from .writer import ShardResult, ShardTask, write_shard

REMOTE_READ_AHEAD = 64 << 20


@dataclass(frozen=True)
class RunSettings:
    """How one run writes its shards: which of them, with how many processes, reading how."""

    part: tuple[int, int] | None = None  # (index from 0, count): an array-job part
    finalize: bool = False  # write nothing; only collect what the parts wrote
    workers: int = 1  # processes writing shards
    storage: Storage = field(default_factory=Storage)
    read_threads: int = 4  # remote images: range requests at once
    # Remote images are fetched ahead of writing, which hides object-store latency (local images
    # are copied by the kernel straight from their files and need no read-ahead).
    read_ahead: int = REMOTE_READ_AHEAD
    checksum: bool = False  # compare a reused shard's images with their sources by sha256


class ShardJob:
    """One run over one plan: which shards to write, writing them, recording them."""

    def __init__(
        self,
        output: OutputFolder,
        rows: SourceRows,
        plan: Plan,
        keys: dict[str, str],
        settings: RunSettings,
        reporter: Reporter,
        sha256_column: int | None = None,  # see ShardTask
    ) -> None:
        self.output, self.rows, self.plan, self.keys = output, rows, plan, keys
        self.settings, self.reporter = settings, reporter
        self.sha256_column = sha256_column
        self.split = plan.options.split
        self.folder = plan.options.folder
        # where its markers live: the split's own folder, or files/{split}
        self.state = self.split if self.folder == "data" else f"{self.folder}/{self.split}"
        self.records: dict[str, ShardRecord] = {}

    def my_shards(self) -> list[ShardPlan]:
        if not self.settings.part:
            return list(self.plan.shards)
        index, count = self.settings.part
        return [s for s in self.plan.shards if s.index % count == index]

    def run(self) -> tuple[int, int]:
        """Reuse what is finished, write the rest. Returns (written, reused)."""
        if self.settings.finalize:
            return 0, 0
        mine = self.my_shards()
        # Partial files of a killed run; a part clears only its own (others may be running).
        for prefix in [s.name for s in mine] if self.settings.part else [f"{self.split}-"]:
            self.output.clear_tmp(prefix)
        todo = [s for s in mine if not self._reuse(s)]
        if todo:
            self._write(todo)
        return len(todo), len(mine) - len(todo)

    def missing(self) -> list[ShardPlan]:
        """Every shard of the plan not recorded by this run nor reusable from an earlier one."""
        return [s for s in self.plan.shards if s.name not in self.records and not self._reuse(s)]

    def ordered_records(self) -> tuple[ShardRecord, ...]:
        return tuple(self.records[s.name] for s in self.plan.shards)

    def rows_bytes(self, shard: ShardPlan) -> int:
        rows = self.rows.rows[shard.start : shard.stop]
        columns = self.rows.image_columns  # a property: computed once, not per row
        return sum(img.size for r in rows for _, img in images_in_row(r, columns))

    def remove_stale_shards(self) -> None:
        """Shards and markers of this split that the plan no longer has (an earlier, larger
        build's)."""
        keep = {s.name for s in self.plan.shards}
        for name in self.output.listdir(self.folder):
            if name.startswith(f"{self.split}-") and name.endswith(".parquet") and name not in keep:
                self.output.remove(f"{self.folder}/{name}")
        for name in self.output.listdir(f"{split_dir(self.state)}/markers"):
            if name.removesuffix(".json") not in keep:
                self.output.remove(f"{split_dir(self.state)}/markers/{name}")

    def _reuse(self, shard: ShardPlan) -> bool:
        """A finished shard is kept when its key and its bytes on disk still match the record."""
        record = read_marker(self.output, self.state, shard.name)
        if record is None or record.key != self.keys[shard.name] or record.path != shard.path:
            return False
        if not self.output.exists(shard.path) or self.output.size(shard.path) != record.size:
            return False
        with self.output.open_read(shard.path) as f:  # still the bytes recorded?
            if sha256_of_file(f) != record.sha256:
                return False
        if self.settings.checksum and not self._same_images(shard, record):
            return False
        self.records[shard.name] = record
        return True

    def _same_images(self, shard: ShardPlan, record: ShardRecord) -> bool:
        """Every image of the shard hashed now equals the sha256 its marker records (the files
        config's shards list their files' sha256 in their rows, so their keys compare content)."""
        columns = self.rows.columns
        if any(c.content == "file" for c in columns):
            return True
        rows = self.rows.rows[shard.start : shard.stop]
        images = [img for row in rows for _, img in images_in_row(row, self.rows.image_columns)]
        if len(images) != len(record.image_sha256):
            return False
        storage = self.settings.storage
        threads = ThreadPoolExecutor(self.settings.read_threads, thread_name_prefix="n2p-checksum")
        with threads as pool:
            digests = list(pool.map(lambda img: _sha256_or_none(storage, img.url), images))
        return digests == list(record.image_sha256)

    def _write(self, todo: list[ShardPlan]) -> None:
        self.output.makedirs(self.folder)
        total = sum(self.rows_bytes(s) for s in todo)
        workers = min(self.settings.workers, len(todo))
        label = f"writing {count(len(todo), 'shard')}, {format_size(total)}"
        with self.reporter.bar(total, label) as bar:
            if workers <= 1:
                for shard in todo:
                    self._commit(shard, write_shard(self._task(shard), bar.update))
            else:
                self._write_parallel(todo, workers, bar.update)

    def _task(self, shard: ShardPlan) -> ShardTask:
        return ShardTask(
            shard=shard,
            columns=self.rows.columns,
            rows=self.rows.rows[shard.start : shard.stop],
            tmp_file=self.output.local_tmp(shard.path),
            storage=self.settings.storage,
            read_threads=self.settings.read_threads,
            prefetch_bytes=self.settings.read_ahead,
            sha256_column=self.sha256_column,
        )

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


def _sha256_or_none(storage: Storage, url: str) -> str | None:
    """An image that cannot be read now is not the one recorded: its shard is written again (and
    the writer says what is wrong with it)."""
    try:
        return storage.sha256(url)
    except OSError:
        return None
