"""A Hub dataset repo as a :class:`~nifti2parquet.retrieval.ranges.ShardStore`: byte ranges over HTTP.

Export and the lazy reader read a remote dataset the way the Hub's HTTP range requests allow: a
shard's footer, its small columns, and for each selected file the byte range of its page, never a
whole shard. Ranges are read through ``huggingface_hub``'s own file system (``HfFileSystem``),
opened with ``cache_type="none"`` so that fsspec reads exactly the bytes asked for (its default
read-ahead would fetch megabytes around every page); the library resolves each file, whether
stored with Git LFS or Xet, to a URL that serves ranges, with the user's token.

The revision is resolved once to its commit id, and every read uses that commit: a branch that
moves during an export cannot mix two versions of the dataset.
"""

from __future__ import annotations

import time
from typing import Any

from ..common.errors import InputError, N2PError
from .ranges import StoredFile
from ..hub.client import RetryPolicy, retry_delay
from ..hub.remote import hub_error, hub_files

READ_ATTEMPTS = RetryPolicy(attempts=5, base_delay=1.0, max_delay=20.0)


class HubReadError(N2PError):
    """The Hub refused a read or kept failing after the retries (files written so far stay)."""

    exit_code = 4


class HubStore:
    """The files of dataset repo ``repo_id`` at one commit, read by ranges (thread-safe)."""

    def __init__(self, repo_id: str, revision: str | None = None, token: str | None = None) -> None:
        from huggingface_hub import HfApi, HfFileSystem

        self.repo_id = repo_id
        self.where = f"{repo_id}@{revision or 'main'}"
        api = HfApi(token=token)
        try:
            self.commit = api.dataset_info(repo_id, revision=revision).sha or revision
            files = hub_files(api, repo_id, self.commit)
        except Exception as exc:  # not found, no access, network: one line, never a traceback
            raise InputError(f"{self.where}: {hub_error(exc)}") from None
        self.files = {path: StoredFile(path, f.size) for path, f in files.items()}
        self._fs: Any = HfFileSystem(token=token)

    def list(self, folder: str) -> list[StoredFile]:
        prefix = f"{folder}/"
        return [
            f
            for p, f in sorted(self.files.items())
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        ]

    def read(self, path: str, start: int, length: int) -> bytes:
        """One range request (retried on network errors, 5xx and 429)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._read(path, start, length)
            except Exception as exc:
                delay = retry_delay(exc, attempt, READ_ATTEMPTS)
                if delay is None:
                    reason = " ".join(str(exc).split()).split(" (Request ID")[0]
                    raise HubReadError(
                        f"{self.where}: {path}: cannot read bytes {start}-{start + length - 1}: "
                        f"{reason or type(exc).__name__}; run the same command again to continue"
                    ) from None
                time.sleep(delay)

    def _read(self, path: str, start: int, length: int) -> bytes:
        size = self.files[path].size
        remote = f"datasets/{self.repo_id}/{path}"
        with self._fs.open(remote, "rb", revision=self.commit, cache_type="none", size=size) as f:
            f.seek(start)
            data = f.read(length)
        if len(data) != length:
            raise OSError(f"short read: {len(data)} of {length} bytes")
        return data
