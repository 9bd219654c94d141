"""The README card against the shards: the ``dataset_info`` and ``configs`` that ``datasets``
reads, the sizes it declares, and the previews it links to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..card.header import CardHeaderError, read_card_header
from ..card.readme import README
from ..common.files_config import FILES_CONFIG
from ..common.schema import features_yaml
from ..shards.manifest import (
    Manifest,
)
from ..shards.output import OutputFolder
from .report import VerifyReport


# the card ----------------------------------------------------------------------------------------
def check_card(
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


def check_preview_files(
    output: OutputFolder, manifests: Sequence[Manifest], report: VerifyReport
) -> None:
    """The card's pictures are there, as the build drew them."""
    report.counts["previews"] += 0  # in the report as checked (none) when none was drawn
    if not any(m.previews for m in manifests):
        return  # and the previews (numpy) are not imported
    from ..card.previews import check_previews

    for manifest in manifests:
        found, checked = check_previews(output, manifest)
        for path, message in found:
            report.add(path, message)
        report.counts["previews"] += checked


def _card_info(text: str, report: VerifyReport) -> dict[str, dict[str, Any]] | None:
    """The card's ``dataset_info`` per config name (one config: a dict; several: a list)."""
    try:
        header = read_card_header(text)
    except CardHeaderError as exc:
        report.add(README, f"the YAML header does not parse ({exc})")
        return None
    info = header.get("dataset_info")
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
