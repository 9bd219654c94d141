"""Counted nouns are written one way: ``count()`` (and ``plural()`` for the words that agree)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nifti2parquet
from nifti2parquet.common.units import count, plural


@pytest.mark.parametrize(
    "n,noun,written",
    [
        (0, "file", "0 files"),
        (1, "file", "1 file"),
        (2, "file", "2 files"),
        (1_234, "image", "1,234 images"),
        (1, "metadata file", "1 metadata file"),
        (3, "other file", "3 other files"),
        (2, "entry", "2 entries"),
        (1, "identifying value", "1 identifying value"),
    ],
)
def test_count(n: int, noun: str, written: str) -> None:
    assert count(n, noun) == written


@pytest.mark.parametrize(
    "word,one,many", [("was", "was", "were"), ("is", "is", "are"), ("has", "has", "have")]
)
def test_words_that_agree(word: str, one: str, many: str) -> None:
    assert plural(1, word) == one and plural(2, word) == many and plural(0, word) == many


NOUNS = "file|image|shard|row|subject|session|commit|value|problem|column|error|warning|line"
HAND_MADE = re.compile(rf"""'s' if|"s" if|== 1 else ["'](?:was|were|has|have|is|are|{NOUNS})""")
IN_TEXT = re.compile(rf"\b(?:{NOUNS})\(s\)")  # "file(s)", inside a string


def hand_made(line: str) -> bool:
    if HAND_MADE.search(line):
        return True
    return any(line[: m.start()].count('"') % 2 for m in IN_TEXT.finditer(line))


def test_no_plural_is_made_by_hand() -> None:
    package = Path(nifti2parquet.__file__).parent
    found = [
        f"{p.relative_to(package)}:{i}: {line.strip()}"
        for p in sorted(package.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if hand_made(line)
    ]
    assert found == []
