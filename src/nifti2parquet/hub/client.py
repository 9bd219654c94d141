"""How ``push`` talks to the Hub: real timeouts, byte progress, an unreachable Hub said at once.

``huggingface_hub`` 2.4 shares one ``httpx2.Client`` created with ``timeout=None``: a stalled
server hangs an upload or a commit forever. :func:`hub_session` installs, for the duration of a
push only, a client factory that wraps the previous one (so a user's own factory — proxies,
certificates — is kept) and adds

* timeouts per socket operation: connect 30 s, read/write ``NIFTI2PARQUET_HUB_TIMEOUT`` seconds
  (default 600: the Hub may take minutes to answer after receiving a 500-800 MB file), and
* a request hook that counts the bytes of upload bodies (LFS ``PUT``s, whole files or parts) as
  they leave, for the progress bar.

Xet uploads do not go through that client (``hf_xet`` has its own, in Rust), and the library
hands ``hf_xet`` a progress callback only when its own bars are on. So, for the push only,
``huggingface_hub.utils._xet.get_xet_session`` (looked up by the library at each upload) is
wrapped: every upload commit it opens also reports to the :class:`UploadMeter` the file bytes
processed (the bar moves as bytes go) and the bytes ``hf_xet`` actually transferred after
deduplication (the summary's "sent").

It also switches the library's own progress bars off (ours replace them) and, with ``no_xet``,
forces the plain LFS transport. Everything is restored on exit. The library offers no public
getter for the current factory, so the previous one is read from
``huggingface_hub.utils._http._GLOBAL_CLIENT_FACTORY`` (falling back to the default factory when
that private name is gone): the only reach into private state, and only to restore it.

Before the first request, :func:`check_hub_access` says in seconds what no retry fixes (offline
mode, no token, a host that does not resolve or refuses connections); which failures later are
worth a retry is decided in :mod:`.retry`, and what they mean to the user in :mod:`.errors`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..common.errors import N2PError, OptionError
from ..common.programs import login_hint

TIMEOUT_ENV = "NIFTI2PARQUET_HUB_TIMEOUT"
DEFAULT_READ_TIMEOUT = 600.0
CONNECT_TIMEOUT = 30.0


def read_timeout_from_env(default: float = DEFAULT_READ_TIMEOUT) -> float:
    """Seconds a socket read or write may stall: ``NIFTI2PARQUET_HUB_TIMEOUT``, else ``default``."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        return default
    return seconds if seconds > 0 else default


# byte progress -------------------------------------------------------------------------------
class UploadMeter:
    """Bytes of upload bodies sent so far, fed to ``progress(delta)``; thread-safe.

    Each upload request is keyed by its URL (one per file or per part): when the library retries
    a request, its earlier bytes are taken back (a negative delta), so the bar shows bytes that
    actually arrived rather than bytes sent twice.
    """

    def __init__(self, progress: Callable[[int], None] | None = None) -> None:
        self.progress = progress
        self._lock = threading.Lock()
        self._sent: dict[str, int] = {}
        self._xet_done: dict[int, int] = {}  # Xet upload commit -> file bytes processed
        self._xet_sent: dict[int, int] = {}  # Xet upload commit -> bytes transferred
        self._xet_commits = 0

    @property
    def total(self) -> int:
        """Bytes of LFS upload bodies that went out (a retried request counts once)."""
        with self._lock:
            return sum(self._sent.values())

    @property
    def sent(self) -> int:
        """Bytes really sent: LFS bodies, plus what Xet transferred after deduplication."""
        with self._lock:
            return sum(self._sent.values()) + sum(self._xet_sent.values())

    def new_xet_commit(self) -> int:
        """A key for one more Xet upload commit."""
        with self._lock:
            self._xet_commits += 1
            return self._xet_commits

    def xet_report(self, commit: int, processed: int, transferred: int) -> None:
        """Absolute figures of one Xet upload commit; the bar moves by the processed bytes."""
        with self._lock:
            delta = processed - self._xet_done.get(commit, 0)
            self._xet_done[commit] = processed
            self._xet_sent[commit] = max(self._xet_sent.get(commit, 0), transferred)
            if delta and self.progress:
                self.progress(delta)

    def xet_failed(self, commit: int) -> None:
        """A failed Xet upload commit: its files will be processed again, take them back."""
        with self._lock:
            processed = self._xet_done.pop(commit, 0)
            if processed and self.progress:
                self.progress(-processed)

    def start(self, key: str) -> None:
        with self._lock:
            previous = self._sent.get(key, 0)
            self._sent[key] = 0
            if previous and self.progress:
                self.progress(-previous)

    def add(self, key: str, n: int) -> None:
        with self._lock:
            self._sent[key] = self._sent.get(key, 0) + n
            if self.progress:
                self.progress(n)


def _counting_stream_class() -> type:
    import httpx2

    class CountingStream(httpx2.SyncByteStream):
        """A request body that reports each chunk to the meter as the transport sends it."""

        def __init__(self, inner: Any, key: str, meter: UploadMeter) -> None:
            self.inner, self.key, self.meter = inner, key, meter

        def __iter__(self) -> Iterator[bytes]:
            self.meter.start(self.key)
            for chunk in self.inner:
                self.meter.add(self.key, len(chunk))
                yield chunk

        def close(self) -> None:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()

    return CountingStream


def _is_upload(request: Any) -> bool:
    """LFS content uploads: PUTs outside the JSON API (presigned URLs, whole files or parts)."""
    return request.method == "PUT" and not request.url.path.startswith("/api/")


class _MeteredXetSession:
    """The library's Xet session, with each upload commit also reporting to the meter."""

    def __init__(self, inner: Any, meter: UploadMeter) -> None:
        self._inner, self._meter = inner, meter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def new_upload_commit(self, **kwargs: Any) -> Any:
        meter = self._meter
        key = meter.new_xet_commit()
        chained = kwargs.get("progress_callback")

        def report(group: Any, items: Any = None) -> None:
            meter.xet_report(key, group.total_bytes_completed, group.total_transfer_bytes_completed)
            if chained is not None:
                chained(group, items)

        kwargs["progress_callback"] = report
        return _MeteredCommit(self._inner.new_upload_commit(**kwargs), meter, key)


class _MeteredCommit:
    """Context manager around an ``hf_xet`` upload commit: final figures on exit."""

    def __init__(self, inner: Any, meter: UploadMeter, key: int) -> None:
        self._inner, self._meter, self._key = inner, meter, key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> Any:
        return self._inner.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        try:
            result = self._inner.__exit__(*exc)
        except BaseException:
            self._meter.xet_failed(self._key)
            raise
        if exc[0] is not None:
            self._meter.xet_failed(self._key)
            return result
        with contextlib.suppress(Exception):  # the callback may not have seen the last bytes
            group = self._inner.progress()
            self._meter.xet_report(
                self._key, group.total_bytes_completed, group.total_transfer_bytes_completed
            )
        return result


@contextlib.contextmanager
def _metered_xet(meter: UploadMeter) -> Iterator[None]:
    """Wrap the library's Xet session getter for the duration of a push (see module doc)."""
    try:
        from huggingface_hub.utils import _xet
    except ImportError:  # pragma: no cover - a library without Xet support
        yield
        return
    previous = getattr(_xet, "get_xet_session", None)
    if previous is None:
        yield
        return
    _xet.get_xet_session = lambda: _MeteredXetSession(previous(), meter)
    try:
        yield
    finally:
        _xet.get_xet_session = previous


@dataclass(frozen=True)
class ClientSettings:
    """What the installed client factory adds to each new client."""

    read_timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT


def _factory(previous: Callable[[], Any], settings: ClientSettings, meter: UploadMeter) -> Any:
    import httpx2

    counting = _counting_stream_class()

    def count_upload(request: Any) -> None:
        if _is_upload(request):
            request.stream = counting(request.stream, str(request.url), meter)

    def make() -> Any:
        client = previous()
        client.timeout = httpx2.Timeout(
            settings.read_timeout,
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.read_timeout,
        )
        hooks = dict(client.event_hooks)
        hooks["request"] = [*hooks.get("request", []), count_upload]
        client.event_hooks = hooks
        return client

    return make


@contextlib.contextmanager
def hub_session(
    settings: ClientSettings, meter: UploadMeter, no_xet: bool = False
) -> Iterator[None]:
    """Install the timeout + progress client factory (and the transport choice) for one push."""
    import warnings

    from huggingface_hub import constants, set_client_factory
    from huggingface_hub.utils import _http, disable_progress_bars

    previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)
    xet_was_disabled = constants.HF_HUB_DISABLE_XET
    set_client_factory(_factory(previous, settings, meter))
    if no_xet:
        constants.HF_HUB_DISABLE_XET = True  # is_xet_available() re-reads it on every call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # HF_HUB_DISABLE_PROGRESS_BARS=0 refuses, and warns
            quiet = disable_progress_bars()
        with quiet, _metered_xet(meter):  # re-enables the bars on exit if they were on
            yield
    finally:
        constants.HF_HUB_DISABLE_XET = xet_was_disabled
        set_client_factory(previous)


# before the first request -------------------------------------------------------------------
class HubUnreachableError(N2PError):
    """The Hub cannot be reached at all (offline mode, a name that does not resolve, a refused
    connection): no retry can fix that, so it is said at once."""

    exit_code = 4


REACH_TIMEOUT = 10.0


def check_hub_access(token: str | None, need_token: bool, what: str, reach: bool = True) -> None:
    """Fail in seconds, with one line, on what retrying cannot fix: offline mode, no token (when
    ``need_token``), a Hub host that does not resolve or refuses connections (unless not
    ``reach``: a caller whose first request says it, at no round trip's cost). ``what`` names
    the command's goal for the messages ("push", "verify --repo")."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise HubUnreachableError(
            f"HF_HUB_OFFLINE is set: {what} needs the Hub (unset HF_HUB_OFFLINE)"
        )
    if need_token and not (token or _saved_token(get_token)):
        raise OptionError(f"no Hugging Face token: {login_hint()}; nothing was pushed")
    if reach:
        check_reachable(constants.ENDPOINT, what)


def _saved_token(get_token: Callable[[], str | None]) -> str | None:
    try:
        return get_token()
    except Exception:  # an unreadable token file is no token
        return None


def check_reachable(endpoint: str, what: str, timeout: float = REACH_TIMEOUT) -> None:
    """Resolve the Hub's host and open one TCP connection to it. A timeout or an unreachable
    network is left to the retries; behind a proxy (``HTTPS_PROXY``...) the proxy decides, so
    nothing is checked."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if not host or (urllib.request.getproxies().get(parts.scheme) and not _bypassed(host)):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"cannot reach the Hub at {endpoint}"
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4]
    except socket.gaierror:
        raise HubUnreachableError(
            f"{where}: the name {host} does not resolve (no network, or a wrong HF_ENDPOINT?); "
            f"nothing was done"
        ) from None
    try:
        socket.create_connection(address[:2], timeout=timeout).close()
    except ConnectionRefusedError:
        raise HubUnreachableError(f"{where}: connection refused; nothing was done") from None
    except OSError:
        return  # slow or flaky: the retries are for this


def _bypassed(host: str) -> bool:
    return bool(urllib.request.proxy_bypass(host))


# secrets --------------------------------------------------------------------------------------
def scrub(text: str, secrets: Iterator[str | None] | tuple[str | None, ...]) -> str:
    """``text`` with every known secret (tokens) replaced: errors must never show a token."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<token>")
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9_.~+/=-]+", r"\1<token>", text)
