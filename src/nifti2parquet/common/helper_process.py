"""A second process for passes over many small files, so planning uses a second core.

Reading a cached header or sidecar is the interpreter's work, one thread at a time (see
:mod:`.batched`), so a thread pool cannot put a second core to use while planning. A helper
process can: it runs the chunks of a pass from the front while the caller does other work, and
when the caller is free it takes back the chunks the helper has not begun and runs them from the
back, so the two meet wherever the work divides. Nothing is lost when the helper cannot run (one
core, a platform without processes, a helper that dies): the caller runs every chunk itself.

The helper is a fresh interpreter (``spawn``: no copy of the caller's memory, no threads forked
mid-lock), so a pass's work must be a module-level function (or a ``functools.partial`` of one)
over picklable items. Starting it costs ~0.3 s of the other core and ~70 MB, so only passes with
at least ``HELPER_FROM`` items start one.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

HELPER_FROM = 2_000  # items in a scan's passes worth starting a helper for
# Items per chunk: ~60-90 ms of reading small files. Each chunk the helper takes waits for the
# caller's threads to hand it over, and they wait for the caller's interpreter (the GIL, ~5 ms at
# a time), so chunks of a few ms would leave the helper idle half the time; the two sides meet
# within a chunk.
CHUNK = 1024


def spare_cores() -> int:
    """Cores this process may use besides its own (a Slurm job's CPU set, not the machine's)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    return usable - 1


@contextmanager
def helper_process(items: int, start_from: int = HELPER_FROM) -> Iterator[Executor | None]:
    """A one-process pool when ``items`` reach ``start_from`` and a core is spare; else None."""
    if items < start_from or spare_cores() < 1:
        yield None
        return
    pool = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Ctrl-C is the caller's to handle (it stops the helper); the helper prints nothing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SplitPass(Generic[T, R]):
    """``work`` over ``items`` in chunks, begun on the helper now; :meth:`results` finishes it.

    ``work`` maps a chunk of items to a list (a result per item, or one for the chunk), and
    :meth:`results` joins the lists in the chunks' order. Without a helper the items are one
    chunk, run by :meth:`results`."""

    def __init__(
        self,
        helper: Executor | None,
        work: Callable[[Sequence[T]], list[R]],
        items: Sequence[T],
        chunk: int = CHUNK,
    ) -> None:
        self._work = work
        chunk = chunk if helper else max(1, len(items))
        self._chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        self._futures: list[Future[list[R]] | None] = [
            _submitted(helper, work, c) for c in self._chunks
        ]

    def results(self) -> list[R]:
        """The chunks' results joined, in the items' order: chunks the helper has not begun are run
        here, from the last back, until the helper's share is reached."""
        done: list[list[R] | None] = [None] * len(self._chunks)
        for i in reversed(range(len(self._chunks))):
            future = self._futures[i]
            if future is not None and not future.cancel():
                break  # the helper has begun this one, so every one before it too
            done[i] = self._work(self._chunks[i])
        results: list[R] = []
        for i, part in enumerate(done):
            results += part if part is not None else self._from_helper(i)
        return results

    def _from_helper(self, i: int) -> list[R]:
        future = self._futures[i]
        assert future is not None
        try:
            return future.result()
        except BrokenProcessPool:  # the helper died (killed, out of memory): the work is redone
            return self._work(self._chunks[i])


def _submitted(
    helper: Executor | None, work: Callable[[Sequence[T]], list[R]], chunk: Sequence[T]
) -> Future[list[R]] | None:
    if helper is None:
        return None
    try:
        return helper.submit(work, chunk)
    except (BrokenProcessPool, RuntimeError):  # the helper is gone or shut: run it here
        return None
