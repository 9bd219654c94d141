"""Which images of a column a preview shows: a few, spread over the dataset, and cheap to read.

Drawing an image costs reading its whole first volume (see ``slices``), so the cost of a preview
is the size of the files it reads. The column's distinct files are cut, in row order, into
``IMAGES_PER_COLUMN`` consecutive parts (the start, the middle and the end of the dataset); each
part offers its files smallest first (ties in row order), and the preview shows the first of them
that can be drawn. So a preview reads about three of a column's smallest files, whatever the
dataset's size, and still shows its beginning, middle and end.

Inflating a scanner's gzip costs about 2.5 times what the build spends on the same bytes (the
copy and its two sha256), so the previews of a small dataset (a GB or so) of large images would
cost more than a tenth of its build. ``within_budget`` keeps the cheapest part of every column
(the one whose first file is smallest), then each column's next cheapest, and so on, while the
files they offer first add up to at most ``BUDGET_SHARE`` of the bytes of all the images
(``BUDGET_FLOOR`` at least): a large dataset shows three images per column, a GB of 12 MB T1w
scans one or two, and a GB of 10-150 MB scans the column's smallest file (10 MB to inflate, not
the 50 MB that the smallest of its first third may be).

An image also costs its drawing, whatever its size: resampling its three views, its caption and
its share of the PNG take about 4 ms of CPU for a small image, about what inflating a MB of a
scanner's gzip takes. So each image counts ``IMAGE_COST`` bytes more than its file: a GB of many
small images (an ARC-shaped tree: eight columns of 0.01-7 MB files) shows each column's cheapest
image, not twenty images whose drawing alone would cost a twentieth of the build, and a dataset
of a few GB three per column again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

IMAGES_PER_COLUMN = 3
TRIES = 2  # files tried in a part before it is left out (each failure gets a note)
BUDGET_SHARE = 0.02  # of the images' bytes, read for the previews beyond each column's first
BUDGET_FLOOR = 16 << 20  # bytes (about the cost of the build's start): cheap in any dataset
IMAGE_COST = 1 << 20  # bytes: drawing an image costs about what reading a MB more would

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
    column's cheapest part (by the file it offers first; the earlier of equals), then each
    column's next cheapest, and so on, each while the bytes of the files offered first stay
    within the budget of ``total`` (the bytes of all the images), each image counting
    ``IMAGE_COST`` more than its file. The parts kept stay in their order (the start, the
    middle, the end of the dataset)."""
    budget = max(BUDGET_FLOOR, BUDGET_SHARE * total)
    orders = [_cheapest_first(parts, size) for parts in columns]
    kept: list[set[int]] = [set(order[:1]) for order in orders]

    def cost(parts: Sequence[Sequence[Item]], p: int) -> int:
        return size(parts[p][0]) + IMAGE_COST

    spent = sum(cost(parts, order[0]) for parts, order in zip(columns, orders) if order)
    for rank in range(1, max(map(len, orders), default=0)):
        for parts, order, chosen in zip(columns, orders, kept):
            if rank < len(order) and spent + cost(parts, order[rank]) <= budget:
                chosen.add(order[rank])
                spent += cost(parts, order[rank])
    return [[parts[p] for p in sorted(chosen)] for parts, chosen in zip(columns, kept)]


def _cheapest_first(parts: Sequence[Sequence[Item]], size: Callable[[Item], int]) -> list[int]:
    """The indices of the parts that offer a file, by the size of the file each offers first."""
    offering = [p for p, part in enumerate(parts) if part]
    return sorted(offering, key=lambda p: size(parts[p][0]))  # sorted() is stable
