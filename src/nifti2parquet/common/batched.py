"""Many small jobs on a few threads: items handed out in batches, results in the items' order.

Planning touches every file once or twice (a header, a sidecar, a privacy scan), and a million
files would be a million futures on a plain ``ThreadPoolExecutor.map``: each costs more than the
read it waits for when the file is in the page cache, and all of them are created up front. Here
a thread takes a batch of items at a time, so the pool costs a few hundred futures whatever the
number of files, while slow storage (network disks, object stores) still has ``threads`` reads in
flight: batches are small enough that every thread gets several.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

LARGEST_BATCH = 64  # items per task; small enough that a thread's share of slow reads overlaps
BATCHES_PER_THREAD = 4  # at least this many batches per thread, so the work stays balanced


def map_batched(
    work: Callable[[T], R],
    items: Iterable[T],
    threads: int,
    name: str = "n2p-batch",
    pool: Executor | None = None,
) -> list[R]:
    """``[work(item) for item in items]`` on ``threads`` threads, in batches; on ``pool`` when
    given (several passes over the same files share its threads instead of starting their own)."""
    items = items if isinstance(items, Sequence) else list(items)
    if threads <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    size = batch_size(len(items), threads)
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    if pool is not None:
        return _joined(pool.map(lambda batch: [work(item) for item in batch], batches))
    with ThreadPoolExecutor(min(threads, len(batches)), thread_name_prefix=name) as own:
        return _joined(own.map(lambda batch: [work(item) for item in batch], batches))


def _joined(done: Iterable[list[R]]) -> list[R]:
    results: list[R] = []
    for batch in done:
        results += batch
    return results


def batch_size(count: int, threads: int) -> int:
    """Items per batch: up to LARGEST_BATCH, and at least BATCHES_PER_THREAD batches a thread."""
    return max(1, min(LARGEST_BATCH, count // (threads * BATCHES_PER_THREAD)))
