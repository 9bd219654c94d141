"""Which images of a column a preview shows: a few, spread over the dataset, and cheap to read.

Drawing an image costs reading its whole first volume (see ``slices``), so the cost of a preview
is the size of the files it reads. The column's distinct files are cut, in row order, into
``IMAGES_PER_COLUMN`` consecutive parts (the start, the middle and the end of the dataset); each
part offers its files smallest first (ties in row order), and the preview shows the first of them
that can be drawn. So a preview reads about three of a column's smallest files, whatever the
dataset's size, and still shows its beginning, middle and end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

IMAGES_PER_COLUMN = 3
TRIES = 2  # files tried in a part before it is left out (each failure gets a note)

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
