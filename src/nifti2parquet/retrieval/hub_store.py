"""A Hub dataset repo as a :class:`~nifti2parquet.retrieval.ranges.ShardStore`: ranges over HTTP.

Export and the lazy reader read a remote dataset the way the Hub's HTTP range requests allow: a
shard's footer, its small columns, and for each selected file the byte range of its page, never a
whole shard. Every request is a round trip (two when the Hub redirects a file to its CDN), so:

- one request lists the repo, sent as soon as the store is made and answered in the background
  (what reading the index needs is imported meanwhile, once :meth:`HubStore.wait_sending` says
  the request is on its way; the first use of ``files`` or ``commit`` waits for it; a Hub that
  cannot be reached is told apart only when it fails, so a reachable one costs no connection of
  its own to check). It is the repo's info with the files' sizes
  (``dataset_info(files_metadata=True)``'s request, made here on the library's session:
  importing ``HfApi`` would cost more than the rest of a small export); it pins the revision to
  its commit id (every read uses that commit: a branch that moves during an export cannot mix
  two versions) and lists the shards; a repo of 1,000 files or more, whose list the Hub may cut
  short, is listed with ``HfApi``'s paged tree instead;
- ranges are plain ``GET``s with a ``Range`` header on ``huggingface_hub``'s shared HTTP client
  (one connection pool, connections kept alive and reused by every thread, the user's client
  factory and token honoured; each response is read to its end, since one closed before it
  closes its connection and the next request would pay for a new one), whether the file is
  stored with Git LFS or Xet (the Hub serves both by range); nothing is read ahead;
- where the Hub redirects a file to another host (its CDN), the URL it redirected to is kept and
  the next ranges of that file go there directly, without the token (a URL that stopped working,
  e.g. expired, is dropped and the file resolved again);
- a range is streamed as it arrives (:meth:`HubStore.stream`), and a connection that drops midway
  is resumed from the last byte received. Network errors, 5xx and 429 are retried with backoff;
  a refusal (401, 403, 404) is one line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote, urlsplit

from ..common.errors import InputError
from ..hub.client import (
    CONNECT_TIMEOUT,
    HubUnreachableError,
    check_reachable,
    read_timeout_from_env,
)
from ..hub.errors import HubReadError, listing_problem, not_found, read_error
from ..hub.retry import RetryPolicy, retry_delay
from .ranges import StoredFile

READ_ATTEMPTS = RetryPolicy(attempts=5, base_delay=1.0, max_delay=20.0)
READ_TIMEOUT = 60.0  # seconds a range read may stall (NIFTI2PARQUET_HUB_TIMEOUT overrides it)
SIBLINGS_TRUSTED = 1000  # the Hub may cut the file list of repo info short above this


class _ShortRead(Exception):
    """The connection closed before the range was complete (resumed from where it stopped)."""


class HubStore:
    """The files of dataset repo ``repo_id`` at one commit, read by ranges (thread-safe)."""

    remote = True

    def __init__(self, repo_id: str, revision: str | None = None, token: str | None = None) -> None:
        import httpx2
        from huggingface_hub import constants
        from huggingface_hub.utils import build_hf_headers

        self.repo_id = repo_id
        self.where = f"{repo_id}@{revision or 'main'}"
        self._endpoint = constants.ENDPOINT
        self._headers = build_hf_headers(token=token)
        self._session: Any = None  # the library's client, made with the listing (see _list)
        self._timeout = httpx2.Timeout(read_timeout_from_env(READ_TIMEOUT), connect=CONNECT_TIMEOUT)
        self._direct: dict[str, str] = {}  # path -> where the Hub redirected it
        self._lock = threading.Lock()
        self._listed: Future[tuple[str, dict[str, StoredFile]]] = Future()
        self._sending = threading.Event()  # the listing's request is being sent (or it failed)
        threading.Thread(
            target=self._list, args=(revision, token), name="n2p-listing", daemon=True
        ).start()

    def wait_sending(self) -> None:
        """Wait until the listing's request is on its way: what is imported while it travels
        then does not hold back the making of the client (it shares the interpreter's lock)."""
        self._sending.wait()

    @property
    def commit(self) -> str:
        """The commit id every read uses (waits for the listing)."""
        return self._listed.result()[0]

    @property
    def files(self) -> dict[str, StoredFile]:
        """Every file of the repo at that commit, by path (waits for the listing)."""
        return self._listed.result()[1]

    def _list(self, revision: str | None, token: str | None) -> None:
        """The listing, in the background; the client is made here too (its TLS context loads
        certificates, GIL released, while the caller imports what comes next)."""
        from huggingface_hub.utils import get_session

        try:
            self._session = get_session()
            self._listed.set_result(self._listing(revision, token))
        except Exception as exc:  # not found, no access, network: one line, never a traceback
            self._listed.set_exception(self._listing_error(exc))
        finally:
            self._sending.set()

    def _listing_error(self, exc: Exception) -> Exception:
        if not_found(exc) is not None:
            return InputError(f"{self.where}: {listing_problem(exc)}")
        try:  # a name that does not resolve, a refused connection: said as push says it
            check_reachable(self._endpoint, "export")
        except HubUnreachableError as unreachable:
            return unreachable
        return HubReadError(f"{self.where}: {listing_problem(exc)}")  # exit 4

    def list(self, folder: str) -> list[StoredFile]:
        prefix = f"{folder}/"
        return [
            f
            for p, f in sorted(self.files.items())
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        ]

    def read(self, path: str, start: int, length: int) -> bytes:
        """One range request (retried on network errors, 5xx and 429)."""
        return b"".join(self.stream(path, start, length))

    def stream(self, path: str, start: int, length: int) -> Iterator[bytes]:
        """One range request, its body yielded as it arrives; a dropped connection is resumed
        from the last byte received, other failures retried or reported in one line."""
        position, end, attempt = start, start + length, 0
        while position < end:
            try:
                for piece in self._get(path, position, end):
                    position += len(piece)
                    attempt = 0  # progress: the next failure starts a new count
                    yield piece
                if position < end:
                    raise _ShortRead(f"the connection closed after {position - start} bytes")
            except Exception as exc:
                attempt += 1
                delay = _retry(exc, attempt)
                if delay is None:
                    what = f"{self.where}: {path}: cannot read bytes {start}-{end - 1}"
                    raise read_error(exc, what) from None
                time.sleep(delay)

    def _get(self, path: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end) of ``path``: from where the Hub redirected it before, if it did."""
        with self._lock:
            direct = self._direct.get(path)
        if direct is not None:
            try:
                yield from self._ranged(direct, path, start, end)
                return
            except _Refused:  # e.g. the signed URL expired: resolve the file again
                with self._lock:
                    self._direct.pop(path, None)
        yield from self._ranged(self._url(path), path, start, end)

    def _listing(
        self, revision: str | None, token: str | None
    ) -> tuple[str, dict[str, StoredFile]]:
        """The commit ``revision`` points to, and every file of the repo there with its size."""
        from huggingface_hub.utils import hf_raise_for_status

        url = f"{self._endpoint}/api/datasets/{self.repo_id}"
        if revision is not None:
            url += f"/revision/{quote(revision, safe='')}"
        self._sending.set()
        response = self._session.get(
            url, params={"blobs": "true"}, headers=self._headers, timeout=self._timeout
        )
        hf_raise_for_status(response)
        info = response.json()
        commit = info.get("sha") or revision or "main"
        siblings = info.get("siblings") or []
        if len(siblings) < SIBLINGS_TRUSTED and all("size" in s for s in siblings):
            return commit, {s["rfilename"]: StoredFile(s["rfilename"], s["size"]) for s in siblings}
        from huggingface_hub import HfApi

        from ..hub.remote import hub_files  # rarely needed: not imported before the listing

        files = hub_files(HfApi(token=token), self.repo_id, commit)
        return commit, {path: StoredFile(path, f.size) for path, f in files.items()}

    def _url(self, path: str) -> str:
        """The file's ``/resolve/`` URL at the commit (what ``hf_hub_url`` makes)."""
        return (
            f"{self._endpoint}/datasets/{self.repo_id}/resolve/"
            f"{quote(self.commit, safe='')}/{quote(path)}"
        )

    def _ranged(self, url: str, path: str, start: int, end: int) -> Iterator[bytes]:
        from huggingface_hub.utils import hf_raise_for_status

        # identity: a compressed answer would not be the bytes at these offsets
        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        if _origin(url) == _origin(self._url(path)):
            headers = {**self._headers, **headers}  # the token goes to the Hub only
        else:
            headers["user-agent"] = self._headers.get("user-agent", "")
        self._listed.result()  # the client is made with the listing
        with self._session.stream("GET", url, headers=headers, timeout=self._timeout) as response:
            if response.status_code in (401, 403, 404, 410) and url != self._url(path):
                raise _Refused
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            _check_range(response, start, end)
            if response.history and str(response.url) != url:
                with self._lock:
                    self._direct[path] = str(response.url)
            # read to the end of the body even once every byte asked for is here: a response
            # closed before its end closes its connection, and the next request pays a new one
            for piece in response.iter_bytes():
                if start < end:
                    yield piece[: end - start]
                start += len(piece)


class _Refused(Exception):
    """A URL the Hub redirected to before no longer serves the file."""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _check_range(response: Any, start: int, end: int) -> None:
    """The server answered the range asked for: not another one, and not the whole file (unless
    the whole file was asked for, which a server may answer with a plain 200)."""
    if response.status_code == 206:
        answered = response.headers.get("content-range", "")
        if answered.startswith(f"bytes {start}-{end - 1}/"):
            return
        raise OSError(f"the server answered another range ({answered or 'none'})")
    if start == 0 and response.headers.get("content-length") == str(end):
        return
    raise OSError(f"the server ignored the byte range (HTTP {response.status_code})")


def _retry(exc: BaseException, attempt: int) -> float | None:
    if isinstance(exc, _ShortRead):
        return READ_ATTEMPTS.backoff(attempt) if attempt < READ_ATTEMPTS.attempts else None
    return retry_delay(exc, attempt, READ_ATTEMPTS)
