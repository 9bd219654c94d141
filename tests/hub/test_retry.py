"""Which failures push and export retry, how long they wait, and the one loop that retries."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest
from huggingface_hub.errors import HfHubHTTPError

from nifti2parquet.common.errors import N2PError, OptionError
from nifti2parquet.hub.retry import HubCalls, RetryPolicy, retry_delay


def http_error(status: int, **headers: str) -> HfHubHTTPError:
    request = httpx2.Request("POST", "http://hub.test/api/datasets/u/r/commit/main")
    response = httpx2.Response(status, headers=headers, request=request)
    return HfHubHTTPError(f"{status} error", response=response)


def test_retry_policy() -> None:
    policy = RetryPolicy(attempts=3, base_delay=2, max_delay=60)
    assert retry_delay(http_error(429, **{"Retry-After": "7"}), 1, policy) == 8
    assert retry_delay(http_error(429, RateLimit='"api";r=0;t=30'), 1, policy) == 31
    assert retry_delay(http_error(412), 1, policy) == 0
    assert 1.6 <= retry_delay(http_error(503), 1, policy) <= 2
    assert 3.2 <= retry_delay(httpx2.ReadTimeout("slow"), 2, policy) <= 4
    wrapped = RuntimeError("Error while uploading 'x' to the Hub.")
    wrapped.__cause__ = http_error(502)
    assert retry_delay(wrapped, 1, policy) is not None
    assert retry_delay(http_error(503), 3, policy) is None  # attempts used up
    for status in (400, 401, 403, 404, 422):
        assert retry_delay(http_error(status), 1, policy) is None
    assert retry_delay(ConnectionError("HTTP status 501 Not Implemented, xet"), 1, policy) is None
    assert retry_delay(ValueError("LFS batch API returned errors"), 1, policy) is None


# the loop -----------------------------------------------------------------------------------------
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.01)


def failing(*errors: Exception, then: object = "done") -> Callable[[], object]:
    """A call that raises each of ``errors`` in turn, then returns ``then``."""
    pending = list(errors)

    def call() -> object:
        if pending:
            raise pending.pop(0)
        return then

    return call


def give_up(exc: Exception, what: str) -> N2PError:
    return N2PError(f"{what}: gave up on {type(exc).__name__}")


def test_a_call_is_retried_and_each_retry_is_told() -> None:
    notes: list[str] = []
    calls = HubCalls(QUICK, give_up, notes.append)
    call = failing(http_error(503), httpx2.ReadTimeout("slow"))
    assert calls.call(call, "reading the remote") == "done"
    assert notes[0] == "reading the remote: HTTP 503; retrying in 0 s (attempt 2 of 3)"
    assert notes[1].startswith("reading the remote: ReadTimeout: slow; retrying in 0 s")
    assert len(notes) == 2


def test_what_no_retry_fixes_becomes_our_error_at_once() -> None:
    notes: list[str] = []
    calls = HubCalls(QUICK, give_up, notes.append)
    with pytest.raises(N2PError, match=r"^listing: gave up on HfHubHTTPError$"):
        calls.call(failing(http_error(404)), "listing")
    with pytest.raises(N2PError, match="gave up"):  # attempts used up
        calls.call(failing(*[http_error(503)] * 3), "listing")
    assert len(notes) == 2  # the two retries of the second call, none for the 404


def test_our_own_errors_pass_through_untouched() -> None:
    refused = OptionError("--revision v1: is a tag on user/x; push to a branch")
    with pytest.raises(OptionError) as caught:
        HubCalls(QUICK, give_up).call(failing(refused), "reading the remote")
    assert caught.value is refused


def test_a_call_that_landed_though_its_answer_was_lost_is_not_made_again() -> None:
    sent: list[str] = []
    checks: list[str] = []

    def commit() -> None:
        sent.append("commit")
        raise httpx2.ReadTimeout("no answer")  # the commit landed; its answer did not

    def still_needed() -> bool:
        checks.append("re-read")
        return False  # the remote has every file

    HubCalls(QUICK, give_up).call_until_landed(commit, "commit (3 shards)", still_needed)
    assert sent == ["commit"] and checks == ["re-read"]


def test_a_call_that_did_not_land_is_sent_again_until_it_does() -> None:
    outcomes = [http_error(502), http_error(502), None]

    def commit() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    HubCalls(QUICK, give_up).call_until_landed(commit, "commit", lambda: True)
    assert outcomes == []
