"""Pytest fixtures for the public BIDS examples corpus (``corpus.py``) and the BIDS validator
(``validator.py``).

- ``corpus``: the corpus extracted and filled once per test session (a ``corpus.Corpus``); tests
  read ``corpus.path(name)`` and never change it. Skips, saying why, where the corpus is absent.
- ``corpus_copy``: ``corpus_copy(name)`` is a fresh copy of one dataset under the test's
  ``tmp_path``, for a test that changes it (or builds into it).
- ``bids_validator``: the ``validator.validate`` function; skips where the validator cannot run.

Parametrise over the datasets with ``corpus.dataset_names(with_images=True)`` (read from the
archive's member list; empty where it is absent, and pytest then skips the test).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from corpus import Corpus, find_archive, missing_reason, prepare
from validator import Validation, unavailable_reason, validate


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    archive = find_archive()
    if archive is None:
        pytest.skip(missing_reason())
    return prepare(archive, tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def corpus_copy(corpus: Corpus, tmp_path: Path) -> Callable[[str], Path]:
    def copy(name: str) -> Path:
        return corpus.copy(name, tmp_path / "corpus" / name)

    return copy


@pytest.fixture(scope="session")
def bids_validator() -> Callable[..., Validation]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return validate
