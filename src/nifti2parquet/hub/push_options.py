"""What ``push`` takes besides OUTPUT_DIR and REPO_ID, checked before anything is read."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.errors import OptionError
from .retry import RetryPolicy

DEFAULT_MESSAGE = "Upload NIfTI dataset with nifti2parquet"
DEFAULT_FILES_PER_COMMIT = 50


@dataclass(frozen=True)
class PushOptions:
    """Everything ``push`` takes besides OUTPUT_DIR and REPO_ID (see docs/reference/push.md)."""

    private: bool = False
    revision: str | None = None  # branch (created from main when missing) or refs/pr/N
    create_pr: bool = False
    token: str | None = None  # default: HF_TOKEN or the saved login
    message: str | None = None
    files_per_commit: int = DEFAULT_FILES_PER_COMMIT
    dry_run: bool = False
    no_xet: bool = False
    read_timeout: float | None = None  # default: NIFTI2PARQUET_HUB_TIMEOUT, else 600 s
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    upload_threads: int = 5
    publish_identifying_data: bool = False  # push to a public repo despite identifying findings

    def check(self) -> None:
        if self.files_per_commit < 1:
            raise OptionError("--files-per-commit must be at least 1")
        if self.create_pr and self.revision and self.revision.startswith("refs/pr/"):
            raise OptionError(
                "--create-pr opens a new pull request; to add to an open one, pass only "
                f"--revision {self.revision}"
            )
