"""Fixtures shared by the push tests: one small build per module, copied fresh for each test.

A module that needs another dataset overrides ``template`` (``test_push_previews`` builds one
with previews); ``out`` is always a fresh copy, so a test may change it freely.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pushtools import build_dataset, copy_build


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("push"))


@pytest.fixture
def out(template: Path, tmp_path: Path) -> Path:
    return copy_build(template, tmp_path / "out")
