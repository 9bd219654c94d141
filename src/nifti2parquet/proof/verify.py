"""Proof that a built dataset is complete and exact, on disk, against its source, and on the Hub.

Every check counts what it checked, so a report can never pass while checking nothing: the summary
reads like "902 rows, 5,164 images, 552 shards, 273.4 GB: OK", and a failure lists each problem with
its file (and row and column for an image). Levels:

* footers (:func:`verify_footers`, run by every ``build``): every shard is there and nothing else
  matches ``data/{split}-*``; each opens, has the exact schema and ``huggingface`` metadata, the
  recorded size, rows and row groups, row groups within limits; the README card agrees.
* content (``verify`` default): also every shard's sha256 against the manifest, and every image
  cell (read row group by row group) looks like NIfTI and has the sha256 the build recorded for
  that row and column; ``deep`` decodes each one as ``datasets`` would. See
  :mod:`.shard_checks` and :mod:`.shard_digest`.
* ``source``: every source image is stored exactly once and equals the file now
  (:mod:`.against_source`).
* ``repo_id``: the Hub repo holds exactly these shards and README, by the Hub's own sizes and
  sha256 (no download); ``deep`` also downloads them (:mod:`.hub_check`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..common.errors import OutputError
from ..common.progress import Reporter
from ..shards.manifest import (
    Manifest,
    built_splits,
    read_manifest,
)
from ..shards.output import OutputFolder
from .against_source import check_source
from .card_checks import check_card, check_preview_files
from .folder_checks import check_data_folder, check_files_config
from .hub_check import check_hub_copy
from .report import VerifyOptions, VerifyReport
from .shard_checks import check_shards


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
        from ..hub.repo_id import check_repo_id

        check_repo_id(options.repo_id)
        check_hub_access(options.token, need_token=False, what="verify --repo")
    report = VerifyReport()
    manifests = _manifests(output, options.splits, report)
    for manifest in manifests:
        check_data_folder(output, manifest, report)
        check_files_config(output, manifest, options.content, report)
    measured = check_shards(output, manifests, options, reporter, report)
    if manifests:
        check_card(output, manifests, measured, report)
        check_preview_files(output, manifests, report)
    if manifests and options.source is not None:
        check_source(output, manifests, options, reporter, report)
    if options.repo_id:
        check_hub_copy(output, options, reporter, report)
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
