"""Writing the ``files`` config: every file of the dataset, the non-image ones with their bytes.

It is written once every image shard is, since it lists the images' sha256 (array-job parts write
image shards only; ``--finalize`` writes this). The other files are hashed first, several at once
(object stores answer one request per file); one that cannot be read stops the build, naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from ..common.batched import map_batched
from ..common.errors import InputError, OutputError, Problem, cannot_read
from ..common.files_config import (
    FILES_CONFIG,
    SHA256,
    ImagePlaces,
    files_rows,
    stored_files,
)
from ..common.progress import Reporter
from ..common.rows import FileRef, SourceRows
from ..common.units import count
from .blanking import ChangedOnPurpose
from .image_index import ImageRecord
from .manifest import FilesRecord
from .markers import shard_keys
from .output import OutputFolder
from .plan import PlanOptions, plan_shards
from .runner import RunSettings, ShardJob


def write_files_config(
    output: OutputFolder,
    rows: SourceRows,
    images: Iterable[ImageRecord],
    first_rows: Mapping[str, int],
    plan_options: PlanOptions,
    settings: RunSettings,
    reporter: Reporter,
    changed: Sequence[ChangedOnPurpose] = (),
) -> FilesRecord:
    """Write the files config's shards of ``rows``' dataset (reusing finished ones), record them.

    ``first_rows``: the row of the split each image shard starts at (the config gives an image's
    row in its shard)."""
    places = ImagePlaces()
    for image in images:
        row = image.row - first_rows[image.shard]
        places.add(image.path, image.sha256, image.shard, row, image.column, image.index)
    files = files_rows(rows, places, _hash_other_files(rows.other_files, settings, reporter))
    del places
    plan = plan_shards(files, dataclasses.replace(plan_options, folder=FILES_CONFIG))
    whole = dataclasses.replace(settings, part=None, finalize=False)
    job = ShardJob(output, files, plan, shard_keys(plan, files), whole, reporter, SHA256)
    job.run()
    missing = job.missing()
    if missing:  # the job just wrote every shard: never expected
        raise OutputError(
            "the files config was not written completely:",
            [Problem(s.path, "not written") for s in missing],
        )
    job.remove_stale_shards()
    stored = stored_files(files)
    return FilesRecord(
        shards=job.ordered_records(),
        num_files=len(files.rows),
        stored=len(stored),
        stored_bytes=sum(f.size for f in stored),
        changed=tuple(changed),
    )


def _hash_other_files(
    others: Sequence[FileRef], settings: RunSettings, reporter: Reporter
) -> list[str]:
    """The sha256 of every other file, in ``others``' order."""
    label = f"hashing {count(len(others), 'other file')}"

    def one(f: FileRef) -> str | Problem:
        try:
            return settings.storage.sha256(f.url)
        except OSError as exc:
            return Problem(f.display, cannot_read(exc))
        finally:
            bar.update(f.size)

    with reporter.bar(sum(f.size for f in others), label) as bar:
        done = map_batched(one, others, settings.read_threads, "n2p-hash")
    problems = [p for p in done if isinstance(p, Problem)]
    if problems:
        message = "some files cannot be read; the files config was not written:"
        raise InputError(message, problems)
    return done  # type: ignore[return-value]
