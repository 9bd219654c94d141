"""A dataset card's YAML header, read in one place (push's remote check, verify's card check)."""

from __future__ import annotations

import pytest

from nifti2parquet.card.header import CardHeaderError, read_card_header


def test_the_header_is_read_as_a_mapping() -> None:
    card = "---\nlicense: cc0-1.0\nconfigs:\n- config_name: default\n---\n\n# Title\n---\n"
    assert read_card_header(card) == {"license": "cc0-1.0", "configs": [{"config_name": "default"}]}


@pytest.mark.parametrize("card", ["# no header\n", "", "---\n- a list\n---\n", "---\n---\n"])
def test_no_header_or_one_that_is_no_mapping_is_empty(card: str) -> None:
    assert read_card_header(card) == {}


def test_a_header_that_does_not_parse_says_why_on_one_line() -> None:
    with pytest.raises(CardHeaderError) as caught:
        read_card_header("---\nlicense: [unclosed\n---\n")
    assert str(caught.value) and "\n" not in str(caught.value)
