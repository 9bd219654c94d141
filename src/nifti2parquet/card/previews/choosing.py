"""Which images of a column a preview shows: a few, spread over the dataset, and cheap to read.

Drawing an image costs reading its whole first volume (see ``slices``), so the cost of a preview
is the size of the files it reads. The column's distinct files are cut, in row order, into
``IMAGES_PER_COLUMN`` consecutive parts (the start, the middle and the end of the dataset); each
part offers its files smallest first (ties in row order), and the preview shows the first of them
that can be drawn. So a preview reads about three of a column's smallest files, whatever the
dataset's size, and still shows its beginning, middle and end.

Inflating a scanner's gzip costs about 2.5 times what the build spends on the same bytes (the
copy and its two sha256), so the previews of a small dataset (a GB or so) of large images would
cost more than a tenth of its build. ``within_budget`` keeps the first part of every column,
then the second parts and then the third while the files they offer first add up to at most
``BUDGET_SHARE`` of the bytes of all the images (``BUDGET_FLOOR`` at least): a large dataset
shows three images per column, a GB of 12 MB T1w scans one or two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

IMAGES_PER_COLUMN = 3
TRIES = 2  # files tried in a part before it is left out (each failure gets a note)
BUDGET_SHARE = 0.02  # of the images' bytes, read for the previews beyond each column's first
BUDGET_FLOOR = 16 << 20  # bytes (about the cost of the build's start): cheap in any dataset

Item = TypeVar("Item")


def candidates(
    items: Sequence[Item], size: Callable[[Item], int], n: int = IMAGES_PER_COLUMN
) -> list[list[Item]]:
    """``n`` parts of ``items`` (already distinct, in row order), each cheapest first."""
    parts = min(n, len(items))
    groups = [items[len(items) * p // parts : len(items) * (p + 1) // parts] for p in range(parts)]
    return [sorted(group, key=size)[:TRIES] for group in groups]  # sorted() is stable


def distinct(items: Sequence[Item], key: Callable[[Item], object]) -> list[Item]:
    """The first of each ``key``, in order (one file in several rows is one candidate)."""
    seen: dict[object, Item] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def within_budget(
    columns: Sequence[Sequence[Sequence[Item]]], size: Callable[[Item], int], total: int
) -> list[list[Sequence[Item]]]:
    """Each column's parts (from ``candidates``), cut to what the previews can afford: every
    column's first part, then the second parts, then the third, each while the bytes of the
    files offered first stay within the budget of ``total`` (the bytes of all the images)."""
    budget = max(BUDGET_FLOOR, BUDGET_SHARE * total)
    kept: list[list[Sequence[Item]]] = [list(parts[:1]) for parts in columns]
    spent = sum(size(parts[0][0]) for parts in columns if parts and parts[0])
    for p in range(1, max((len(parts) for parts in columns), default=0)):
        for parts, chosen in zip(columns, kept):
            if p < len(parts) and parts[p] and spent + size(parts[p][0]) <= budget:
                chosen.append(parts[p])
                spent += size(parts[p][0])
    return kept
