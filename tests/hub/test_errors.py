"""What a failed Hub call means to the user: the status behind it, who refused, one line."""

from __future__ import annotations

import httpx2
from huggingface_hub.errors import RepositoryNotFoundError

from nifti2parquet.common.programs import login_hint
from nifti2parquet.hub.errors import (
    http_status,
    listing_problem,
    push_error,
    read_error,
)
from nifti2parquet.hub.retry import RetryPolicy, retry_delay

# the texts hf_xet 1.8 raises (ConnectionError, no response object), as seen against the test CAS
XET_401 = (
    "Network error: Request error: HTTP status client error (401 Unauthorized), domain: "
    "http://127.0.0.1:503/cas/v1/xorbs/default/5000a1"
)
XET_500 = (
    "Server error: Request error: HTTP status server error (500 Internal Server Error), "
    "domain: http://127.0.0.1:41647/cas/v1/shards"
)
XET_TOKEN_501 = (
    "Request error: 501 Not Implemented, domain: http://h/api/datasets/u/r/xet-write-token/main"
)
XET_DROPPED = "Request error: error sending request for url (http://127.0.0.1:4/cas/v1/shards)"


def test_hf_xet_errors_are_judged_by_the_status_their_text_names() -> None:
    policy = RetryPolicy(attempts=3, base_delay=2, max_delay=60)
    assert http_status(ConnectionError(XET_401)) == 401
    assert retry_delay(ConnectionError(XET_401), 1, policy) is None  # a port 503 is no 503
    assert http_status(ConnectionError(XET_500)) == 500
    assert retry_delay(ConnectionError(XET_500), 1, policy) is not None
    assert http_status(ConnectionError(XET_TOKEN_501)) == 501
    assert retry_delay(ConnectionError(XET_TOKEN_501), 1, policy) is None
    assert http_status(ConnectionError(XET_DROPPED)) is None
    assert retry_delay(ConnectionError(XET_DROPPED), 1, policy) is not None  # no status: network
    assert retry_delay(RuntimeError(XET_500), 1, policy) is None  # not an hf_xet error


def test_xet_refusals_say_who_refused_in_one_line() -> None:
    storage = str(push_error(ConnectionError(XET_401), "commit (3 shards)"))
    assert storage.startswith("commit (3 shards): the Xet storage refused its token (HTTP 401")
    assert "--no-xet" in storage and "\n" not in storage
    token_401 = XET_TOKEN_501.replace("501 Not Implemented", "401 Unauthorized")
    hub = str(push_error(ConnectionError(token_401), "commit (3 shards)"))
    assert "the Hub refused the credentials (HTTP 401" in hub and "--token" in hub
    failed = str(push_error(ConnectionError(XET_500), "commit (3 shards)"))
    assert "HTTP 500" in failed and failed.endswith(
        "(if this network blocks Xet storage, add --no-xet)"
    )


def test_a_missing_repo_is_said_the_same_way_by_push_verify_and_export() -> None:
    request = httpx2.Request("GET", "http://hub.test/api/datasets/u/r")
    missing = RepositoryNotFoundError("404", response=httpx2.Response(404, request=request))
    listed = listing_problem(missing)
    pushed = str(push_error(missing, "reading the remote"))
    assert listed.startswith("dataset repo not found on the Hub") and login_hint() in listed
    assert pushed == f"reading the remote: {listed}"


def test_a_failed_read_names_what_it_read_and_how_to_continue() -> None:
    error = read_error(OSError("short read: 3 of 10 bytes (Request ID: abc)"), "u/r@main: f: x")
    assert str(error) == (
        "u/r@main: f: x: short read: 3 of 10 bytes; run the same command again to continue"
    )
    assert error.exit_code == 4
