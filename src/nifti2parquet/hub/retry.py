"""Which failed Hub calls are worth another try, how long to wait, and the one loop that retries.

``huggingface_hub`` retries its uploads but never the commit POST, and gives up on reads after a
few seconds; nifti2parquet retries those steps itself under a :class:`RetryPolicy`:
timeouts, dropped connections, 408/412/5xx, and 429 with the wait the Hub asks for
(``Retry-After`` or ``RateLimit: "api";r=0;t=N``). :class:`HubCalls` is the loop every retried
call site uses (push's reads and commits, export's range reads); what it cannot fix becomes the
caller's error (see :mod:`.errors`), one line, never a traceback.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..common.errors import N2PError
from .errors import exception_chain, http_status, short_reason, xet_error

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 412, 429, 500, 502, 503, 504})
_TRANSIENT_TEXT = re.compile(
    r"timed? ?out|connection (?:reset|refused|closed|aborted)|broken pipe|"
    r"temporarily unavailable|error sending request|unexpected end of file|incomplete message",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts with exponential backoff (and jitter) between them."""

    attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * random.uniform(0.8, 1.0)


def rate_limit_wait(exc: BaseException) -> float | None:
    """Seconds a 429 asks us to wait: ``RateLimit: "api";r=0;t=N`` or ``Retry-After: N``."""
    from huggingface_hub.utils import parse_ratelimit_headers

    for error in exception_chain(exc):
        response = getattr(error, "response", None)
        if getattr(response, "status_code", None) != 429:
            continue
        headers = response.headers  # type: ignore[union-attr]
        info = parse_ratelimit_headers(headers)
        if info is not None and info.remaining == 0:
            return float(info.reset_in_seconds) + 1
        value = (headers.get("retry-after") or "").strip()
        if value.isdigit():
            return float(value) + 1  # +1 s like huggingface_hub: the reset is rounded down
        return None
    return None


def _is_network_error(exc: BaseException) -> bool:
    import httpx2

    network = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
    return any(isinstance(e, network) for e in exception_chain(exc))


def _is_transient_transfer_error(exc: BaseException) -> bool:
    """An hf_xet error that names no HTTP status (judged above when it does): a network
    failure its own retries did not get through (dropped connection, timeout)."""
    xet = xet_error(exc)
    return xet is not None and bool(_TRANSIENT_TEXT.search(str(xet)))


def retry_delay(exc: BaseException, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before trying again after ``exc``, or None when retrying cannot help.

    A 412 (the branch moved: someone else, or our own earlier attempt whose answer was lost,
    committed) is retried at once — the caller re-reads the remote before anything else.
    """
    if attempt >= policy.attempts:
        return None
    status = http_status(exc)
    if status is not None:
        if status not in RETRY_STATUSES:
            return None
        if status == 412:
            return 0.0
        if status == 429:
            wait = rate_limit_wait(exc)
            return wait if wait is not None else policy.backoff(attempt)
        return policy.backoff(attempt)
    if _is_network_error(exc) or _is_transient_transfer_error(exc):
        return policy.backoff(attempt)
    return None


class HubCalls:
    """Hub calls retried under one policy; what retrying cannot fix becomes ``give_up(exc, what)``.

    ``note``, when given, is told of each retry and its wait (push prints it: batch-job logs show
    it). Our own errors (:class:`N2PError`) raised inside a call pass through untouched.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        give_up: Callable[[Exception, str], N2PError],
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.policy, self.give_up, self.note = policy, give_up, note

    def call(self, fn: Callable[[], T], what: str) -> T:
        """``fn()``, tried again after each failure worth it; ``what`` names it in messages."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except N2PError:
                raise
            except Exception as exc:
                self._wait_or_give_up(exc, attempt, what)

    def call_until_landed(
        self, fn: Callable[[], None], what: str, still_needed: Callable[[], bool]
    ) -> None:
        """For a call that may land although its answer was lost (a commit POST): after each
        failure and its wait, ``still_needed()`` re-reads the remote, sets up what ``fn`` will
        send next, and says whether anything is left to send."""
        attempt = 0
        while True:
            attempt += 1
            try:
                fn()
                return
            except N2PError:
                raise
            except Exception as exc:
                self._wait_or_give_up(exc, attempt, what)
            if not still_needed():
                return

    def _wait_or_give_up(self, exc: Exception, attempt: int, what: str) -> None:
        wait = retry_delay(exc, attempt, self.policy)
        if wait is None:
            raise self.give_up(exc, what) from None
        if self.note is not None:
            self.note(
                f"{what}: {short_reason(exc)}; retrying in {wait:.0f} s "
                f"(attempt {attempt + 1} of {self.policy.attempts})"
            )
        time.sleep(wait)
