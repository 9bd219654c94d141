"""A Hub dataset repo id, checked before any request: ``huggingface_hub``'s own rules (letters,
digits, ``-``, ``_``, ``.``; no ``--`` or ``..``; at most 96 characters) and ours, that a dataset
repo id names its namespace (``NAMESPACE/NAME``). Push, ``verify --repo`` and export use it."""

from __future__ import annotations

from ..common.errors import OptionError


def is_repo_id(text: str) -> bool:
    """Whether ``text`` is a dataset repo id the Hub accepts (``user/name``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if text.count("/") != 1 or not text.isascii():  # its rules let any Unicode letter through
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is a dataset repo id; anything else is refused before any request."""
    if not is_repo_id(repo_id):
        raise OptionError(
            f"{repo_id!r} is not a Hub repo id: write NAMESPACE/NAME, e.g. my-user/my-dataset "
            f"(letters, digits, '-', '_', '.')"
        )
    return repo_id
