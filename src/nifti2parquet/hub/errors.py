"""What a failed Hub call means, in one line: the one mapping of the Hub's errors to ours.

``huggingface_hub`` raises its own errors (a repo or revision not found, HTTP errors carrying the
Hub's message), ``httpx2`` its network errors, and ``hf_xet`` (Rust) builtin ``ConnectionError``s
whose text alone names the HTTP status. This module reads them (the status behind an error,
whether hf_xet raised it, what the Hub said) and turns what no retry fixed into what
nifti2parquet reports: a :class:`PushError` for push, a :class:`HubReadError` for a read of a
dataset's bytes, one problem line for a repo that cannot be listed (verify, export). Whether a
failure is worth another try is :mod:`.retry`'s question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..common.errors import N2PError
from ..common.programs import login_hint
from ..common.units import count, plural

# hf_xet errors carry no response object; their text names the status when there was one:
# "... HTTP status client error (401 Unauthorized), domain: <url>" (CAS requests) or
# "... 501 Not Implemented, domain: <url>" (the Hub's token endpoint)
_XET_STATUS = re.compile(
    r"HTTP status (?:client|server) error \((\d{3})\b|\b(\d{3}) [A-Z][A-Za-z ]*, domain:"
)


class PushError(N2PError):
    """The Hub refused the push or kept failing. Every commit made stays; a re-run continues."""

    exit_code = 4


class HubReadError(N2PError):
    """The Hub refused a read or kept failing after the retries (files written so far stay)."""

    exit_code = 4


# reading an error -------------------------------------------------------------------------------
def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error it was raised from (causes and contexts), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an error (looking through wrapped causes), if there is one: the
    response's, or for an ``hf_xet`` error the one its text names."""
    for error in exception_chain(exc):
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    xet = xet_error(exc)
    match = _XET_STATUS.search(str(xet)) if xet is not None else None
    return int(match.group(1) or match.group(2)) if match else None


def xet_error(exc: BaseException) -> BaseException | None:
    """The ``hf_xet`` error behind ``exc``, if any. They come from Rust as builtin
    ``ConnectionError``/``RuntimeError`` or ``hf_xet.Xet*Error`` without a response object."""
    for error in exception_chain(exc):
        if getattr(error, "response", None) is not None:
            continue
        name, module = type(error).__name__, type(error).__module__
        if module.startswith("hf_xet") or name.startswith("Xet") or type(error) is ConnectionError:
            return error
    return None


def _text(exc: BaseException) -> str:
    """The error's text on one line, without the request id the Hub appends."""
    return " ".join(str(exc).split()).split(" (Request ID")[0]


def reason(exc: BaseException) -> str:
    """What went wrong, on one line: the error's text (or its type's name when it has none)."""
    return _text(exc) or type(exc).__name__


def hub_message(exc: BaseException) -> str:
    """What the Hub said (its own message when it sent one), on one line."""
    for error in exception_chain(exc):
        server = getattr(error, "server_message", None)
        if server:
            text = " ".join(str(server).split())
            return f"{exc} ({text})" if error is not exc else text
    return _text(exc)[:400] or type(exc).__name__


def short_reason(exc: BaseException) -> str:
    """The failure in a few words, for a line that says it is being retried: ``HTTP 503``."""
    status = http_status(exc)
    if status is not None:
        return f"HTTP {status}"
    text, name = _text(exc), type(exc).__name__
    return f"{name}: {text[:160]}" if text else name


# our errors -------------------------------------------------------------------------------------
def not_found(exc: BaseException) -> str | None:
    """The words for a repo or revision that is not there (or not visible with this token)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, RevisionNotFoundError):
        return "revision not found on the Hub"
    if isinstance(exc, RepositoryNotFoundError):
        return f"dataset repo not found on the Hub, or not visible to you: {login_hint()}"
    return None


def listing_problem(exc: BaseException) -> str:
    """Why a repo's files cannot be listed (verify --repo, export), as one problem line."""
    return not_found(exc) or f"cannot list the repo on the Hub: {reason(exc)}"


def read_error(exc: BaseException, what: str) -> HubReadError:
    """A read of a dataset's bytes that retrying did not (or cannot) fix."""
    return HubReadError(f"{what}: {reason(exc)}; run the same command again to continue")


def push_error(exc: BaseException, what: str, committed: int = 0) -> PushError:
    """One clear line for a push step that retrying did not (or cannot) fix; ``committed``: the
    commits this push made before it (only then is there anything that "stays")."""
    missing = not_found(exc)
    if missing is not None:
        return PushError(f"{what}: {missing}")
    status = http_status(exc)
    text = hub_message(exc)
    if status in (401, 403):
        return PushError(f"{what}: {_refused(status, text, xet_error(exc) is not None)}")
    detail = f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"
    return PushError(f"{what} failed: {detail}; {_what_now(exc, status, text, committed)}")


def _refused(status: int, text: str, from_xet: bool) -> str:
    if from_xet and "xet-write-token" not in text:
        return (
            f"the Xet storage refused its token (HTTP {status}: {text}); check that your Hub "
            f"token has write access to the repo, or push with --no-xet if this network blocks "
            f"Xet storage"
        )
    return (
        f"the Hub refused the credentials (HTTP {status}: {text}); use a token with write "
        f"access: {login_hint()}"
    )


def _what_now(exc: BaseException, status: int | None, text: str, committed: int) -> str:
    if status in (400, 422) and "sha256" in text.lower():
        again = (
            "a local file no longer has the sha256 its build recorded: check it with "
            "`nifti2parquet verify OUTPUT_DIR` and build again"
        )
    elif committed:
        again = (
            f"the {count(committed, 'commit')} already made {plural(committed, 'stays')}; "
            f"run the same command again to continue"
        )
    else:
        again = "nothing was committed; run the same command again"
    if xet_error(exc) is not None or "xet" in text.lower():
        again += " (if this network blocks Xet storage, add --no-xet)"
    return again
