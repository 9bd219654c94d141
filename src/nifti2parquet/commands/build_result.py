"""What a build did: the one-line summary, the ``--json`` record."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..common.dataset_folder import skipped_line
from ..common.errors import Problem, is_filtered
from ..common.path_patterns import is_excluded
from ..common.rows import images_in_row
from ..common.units import count, format_size
from ..preflight.privacy_record import PrivacyRecord
from ..shards.runner import ShardJob

if TYPE_CHECKING:
    from ..proof.report import VerifyReport
    from .build import BuildOptions
    from .preparation import Prepared


@dataclass(frozen=True)
class BuildResult:
    """What a build did, for the one-line summary and ``--json``."""

    output: str
    split: str
    status: Literal["built", "part-built", "planned"]
    num_rows: int
    num_images: int
    image_bytes: int
    num_shards: int
    shards_written: int
    shards_reused: int
    download_size: int
    files_found: int
    other_files: int  # published in the ``files`` config
    left_out: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    verify: dict[str, Any] | None
    seconds: float
    part: tuple[int, int] | None = None
    plan_shards: int = 0  # shards of the whole plan (a part builds some of them)
    privacy: PrivacyRecord | None = None  # the privacy scan (values masked); None: not run
    skipped: tuple[Problem, ...] = ()  # folders not read (version control, builds), each once

    @property
    def files_written(self) -> int:
        return self.num_images

    @property
    def files_filtered_out(self) -> int:
        return sum(1 for p in self.left_out if is_filtered(p))

    @property
    def files_excluded(self) -> int:
        return sum(1 for p in self.left_out if is_excluded(p))

    def summary(self) -> str:
        """One line; a part counts its own shards' rows, images and bytes."""
        where = f" (part {self.part[0] + 1} of {self.part[1]})" if self.part else ""
        verified = f"; verified: {self.verify['summary']}" if self.verify else ""
        shards = count(self.num_shards, "shard") + (
            f" of the plan's {self.plan_shards:,}" if self.part else ""
        )
        verified += f"; {self.privacy.summary}" if self.privacy else ""
        verified += f"; {skipped_line(self.skipped)}" if self.skipped else ""
        return (
            f"{self.status}{where} {self.output}: {count(self.num_rows, 'row')}, "
            f"{self._files()}, {format_size(self.image_bytes)} in {shards} "
            f"({self.shards_written} written, {self.shards_reused} reused) in "
            f"{self.seconds:.1f} s{verified}"
        )

    def _files(self) -> str:
        """``2 images + 1 other file of 9 files written (5 filtered out, 1 excluded, 1 left out)``:
        every file the source names, in the image rows, in the files config, or left out."""
        if self.part:
            return count(self.num_images, "image")
        filtered, excluded = self.files_filtered_out, self.files_excluded
        reasons = [f"{filtered:,} filtered out"] if filtered else []
        reasons += [f"{excluded:,} excluded"] if excluded else []
        if len(self.left_out) > filtered + excluded:
            reasons.append(f"{len(self.left_out) - filtered - excluded:,} left out")
        why = f" ({', '.join(reasons)})" if reasons else ""
        written = f"{count(self.num_images, 'image')} + {count(self.other_files, 'other file')}"
        return f"{written} of {count(self.files_found, 'file')} written{why}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["left_out"] = [p.to_dict() for p in self.left_out]
        data["warnings"] = [p.to_dict() for p in self.warnings]
        data["files_written"] = self.files_written
        data["files_left_out"] = len(self.left_out)
        data["files_filtered_out"] = self.files_filtered_out
        data["privacy"] = self.privacy.to_dict() if self.privacy else None
        data["files_excluded"] = self.files_excluded
        data["skipped"] = [p.to_dict() for p in self.skipped]
        data["summary"] = self.summary()
        return data


def build_result(
    options: BuildOptions,
    job: ShardJob,
    prepared: Prepared,
    status: Literal["built", "part-built", "planned"],
    done: tuple[int, int],
    report: VerifyReport | None,
    started: float,
) -> BuildResult:
    """The result of a run; a part counts only its own shards' rows, images and bytes."""
    rows = job.rows
    mine = job.my_shards()
    if options.part:
        part_rows = [r for s in mine for r in rows.rows[s.start : s.stop]]
        num_rows = len(part_rows)
        num_images = sum(len(list(images_in_row(r, rows.image_columns))) for r in part_rows)
        image_bytes = sum(job.rows_bytes(s) for s in mine)
    else:
        num_rows, num_images, image_bytes = len(rows.rows), rows.image_count(), rows.image_bytes()
    return BuildResult(
        output=job.output.url,
        split=options.split,
        status=status,
        num_rows=num_rows,
        num_images=num_images,
        image_bytes=image_bytes,
        num_shards=len(mine) if options.part else len(job.plan.shards),
        plan_shards=len(job.plan.shards),
        shards_written=done[0],
        shards_reused=done[1],
        download_size=sum(r.size for r in job.records.values()),
        files_found=rows.files_found,
        other_files=len(rows.other_files),
        left_out=rows.left_out,
        warnings=rows.warnings + job.plan.warnings(),
        verify=report.to_dict() if report else None,
        seconds=time.monotonic() - started,
        part=options.part,
        privacy=prepared.privacy_record() if prepared.report else None,
        skipped=rows.skipped,
    )
