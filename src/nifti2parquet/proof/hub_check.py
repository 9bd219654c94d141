"""The Hub's copy against the build: every shard, preview and the README, by the Hub's own sizes
and sha256 (no download); ``deep`` downloads them."""

from __future__ import annotations

from ..common.progress import Reporter
from ..shards.manifest import (
    read_manifests,
)
from ..shards.output import OutputFolder
from .report import VerifyOptions, VerifyReport


# the Hub -----------------------------------------------------------------------------------------
def check_hub_copy(
    output: OutputFolder, options: VerifyOptions, reporter: Reporter, report: VerifyReport
) -> None:
    """All built splits (whatever ``splits`` says: the remote README promises all of them)."""
    from ..card.published import publication
    from ..hub.remote import LocalFile, check_hub, local_card, small_file

    assert options.repo_id is not None
    published = publication(read_manifests(output))
    expected = [LocalFile(s.path, s.size, s.sha256) for s in published.shards]
    for preview in published.previews:  # as they are here: the local check says if they changed
        if output.exists(preview.path):
            with output.open_read(preview.path) as f:
                expected.append(small_file(preview.path, f.read()))
    if output.exists(published.card):
        with output.open_read(published.card) as f:
            expected.append(local_card(published.card, f.read()))
    globs = list(published.data_globs)
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
