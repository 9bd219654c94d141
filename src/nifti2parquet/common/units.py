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


def count(n: int, noun: str) -> str:
    """ "1 shard", "552 shards", "5,164 images"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
