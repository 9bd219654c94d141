"""Byte sizes as people write them ("500MB", "1.5GiB") and as people read them."""

from __future__ import annotations

import re

from .errors import OptionError

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Parse "500MB" (decimal, as `datasets` counts) or "512MiB" (binary) into bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise OptionError(f"not a byte size: {text!r} (write e.g. 500MB, 100MB or 1GiB)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").upper()])


def format_size(n: float) -> str:
    """Human-readable decimal size: 273.4 GB, 1.2 MB, 512 B."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


# Plurals that are not the noun plus "s", and verbs that agree with a count ("1 file was").
_IRREGULAR = {
    "entry": "entries",
    "query": "queries",
    "is": "are",
    "was": "were",
    "has": "have",
    "stays": "stay",
    "disagrees": "disagree",
    "names": "name",
    "does": "do",
    "this": "these",
    "that": "those",
    "it": "them",
}


def plural(n: int, word: str) -> str:
    """``word`` as it agrees with ``n``: a noun (``file`` → ``files``; the last word of
    ``metadata file``) or a verb (``was`` → ``were``, ``has`` → ``have``)."""
    if n == 1:
        return word
    head, _, last = word.rpartition(" ")
    many = _IRREGULAR.get(last, last + "s")
    return f"{head} {many}" if head else many


def count(n: int, noun: str) -> str:
    """The one way a count is written: "1 shard", "552 shards", "5,164 images", "2 entries"."""
    return f"{n:,} {plural(n, noun)}"


def short_size(n: int) -> str:
    """How an option's default is written: ``500MB``, ``1GiB``, or bytes."""
    for unit in ("TB", "GB", "MB", "KB", "TiB", "GiB", "MiB", "KiB"):
        factor = _UNITS[unit.upper()]
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)
