"""``export``: a built dataset (a local OUTPUT_DIR or a Hub repo) back to its tree of files.

The ``files`` config lists every file of the dataset with its sha256; images are in the image
rows, every other file in the config's own rows. Export reads that index (footers and small
columns only), keeps the files the filters select, and writes each at its relative path in DEST,
streamed from exactly the byte range of its page and checked against its sha256 before it gets
its name (``shards.restore``). From the Hub, only the shards holding selected files are read
beyond their footers and small columns; pages close together are read with one request, and
several requests run at once (``shards.pagereads``).

What a filtered export keeps, with the same options and rules as ``build``: files under (or
naming) a selected ``sub-<label>`` and ``ses-<label>``, inside datatype folders the selected
datatypes, suffixes and tasks, and every dataset-level file (the root's and each derivative
pipeline's: dataset_description.json, README, participants.tsv, .bidsignore, ...), and every
file those name (an empty-room recording, stimuli, the images a field map corrects: see
``retrieval.references``), so the result is a valid BIDS dataset of those subjects. A filter that
selects no file of the dataset is an error.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from ..common.errors import OptionError, OutputError, Problem
from ..common.gc_pause import collector_paused
from ..common.progress import Reporter
from ..common.units import count, format_size
from ..retrieval.dataset import ExportOptions, open_built_dataset, read_index


@dataclass(frozen=True)
class ExportResult:
    """What an export did, for the one-line summary and ``--json``."""

    source: str
    dest: str
    split: str
    files_selected: int  # the dataset's files the filters kept
    files_in_dataset: int  # every file the dataset lists
    files_written: int
    files_present: int  # already in DEST, byte-identical: kept, not fetched
    bytes_written: int
    bytes_fetched: int  # everything read from the source: indexes and pages
    requests: int  # reads from the source (HTTP range requests for a Hub repo)
    shards_indexed: int  # shards whose footer and small columns were read
    shards_read: int  # shards that selected bytes were read from
    left_out: tuple[Problem, ...]
    seconds: float
    commit: str | None = None  # the Hub commit every read used
    files_referenced: int = 0  # selected because a selected file names them (filtered exports)
    shards_total: int = 0  # every shard of the split

    def summary(self) -> str:
        left = f", {len(self.left_out)} left out" if self.left_out else ""
        if self.files_referenced:
            left += f", {self.files_referenced:,} named by the others"
        present = f", {self.files_present:,} already there" if self.files_present else ""
        return (
            f"exported {self.source} to {self.dest}: {count(self.files_selected, 'file')} of "
            f"{self.files_in_dataset:,} ({self.files_written:,} written{present}{left}), "
            f"{format_size(self.bytes_written)} written, {format_size(self.bytes_fetched)} read "
            f"in {count(self.requests, 'request')} from {self.shards_read} of "
            f"{count(self.shards_total, 'shard')} in {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["left_out"] = [p.to_dict() for p in self.left_out]
        data["summary"] = self.summary()
        return data


def export(
    source: str,
    dest: str,
    options: ExportOptions | None = None,
    reporter: Reporter | None = None,
) -> ExportResult:
    """Write the files of the dataset at SOURCE that the filters select into DEST."""
    started = time.monotonic()
    options = options or ExportOptions()
    reporter = reporter or Reporter()
    dest = os.path.abspath(dest)
    if os.path.isdir(source) and os.path.exists(dest) and os.path.samefile(source, dest):
        raise OptionError(f"{dest}: the destination is the dataset folder itself")
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise OutputError(f"{dest}: exists and is not a folder")
    # opening imports most of what an export runs and reading the index makes an object or more
    # per file, none of them in a reference cycle: the collector, walking them again and again,
    # is paused meanwhile
    with collector_paused():
        src = open_built_dataset(source, options)  # from the Hub: imports what follows meanwhile
        from ..retrieval.restore import clear_partials, locked, plan_restore, restore

        catalog = read_index(src, options, reporter)
        plan = plan_restore(dest, catalog.files, reporter)  # refuses before creating anything
    with locked(dest):
        clear_partials(dest)
        written = restore(dest, src.fetches(plan.write, catalog.held), reporter, options.threads)
    return ExportResult(
        source=source,
        dest=dest,
        split=catalog.split,
        files_selected=len(catalog.files),
        files_in_dataset=catalog.files_total,
        files_written=len(plan.write),
        files_present=len(plan.present),
        bytes_written=written,
        bytes_fetched=src.counter.bytes,
        requests=src.counter.requests,
        shards_indexed=catalog.shards_read,
        shards_read=len({f.location.shard for f in plan.write}),
        left_out=plan.unsafe,
        seconds=time.monotonic() - started,
        commit=src.commit,
        files_referenced=catalog.referenced,
        shards_total=catalog.shards_total,
    )
