"""A selection is true when any filter is set, whichever it is (asked of every file of a tree)."""

from __future__ import annotations

import dataclasses

import pytest

from nifti2parquet.common.selection import FILTERS, Selection


def test_every_field_of_a_selection_is_a_filter_option() -> None:
    assert [f.field for f in FILTERS] == [f.name for f in dataclasses.fields(Selection)]


def test_no_filter_selects_everything() -> None:
    assert not Selection()


@pytest.mark.parametrize("name", [f.field for f in FILTERS])
def test_any_one_filter_makes_a_selection(name: str) -> None:
    assert Selection(**{name: ("x*",)})
