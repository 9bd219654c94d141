"""map_batched: every item's result in the items' order; threads only for work that waits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from nifti2parquet.common.batched import map_batched


def _on_threads(work_seconds: float, count: int) -> tuple[list[int], set[int]]:
    where: set[int] = set()

    def work(item: int) -> int:
        where.add(threading.get_ident())
        if work_seconds:
            time.sleep(work_seconds)  # a read waiting for a disk or a network
        return item * 2

    return map_batched(work, range(count), threads=8), where


def test_work_that_keeps_the_thread_busy_stays_on_the_calling_thread() -> None:
    results, where = _on_threads(0.0, 5_000)
    assert results == [i * 2 for i in range(5_000)]
    assert where == {threading.get_ident()}  # no handing the GIL between threads for nothing


def test_work_that_waits_goes_to_the_threads_in_the_items_order() -> None:
    results, where = _on_threads(0.002, 400)
    assert results == [i * 2 for i in range(400)]
    assert len(where) > 2  # the calling thread's first batch, then the pool's threads


def test_one_thread_or_one_item_runs_here() -> None:
    here = threading.get_ident()
    assert map_batched(lambda i: (i, threading.get_ident()), [1], threads=8) == [(1, here)]
    assert map_batched(lambda i: threading.get_ident(), range(10), threads=1) == [here] * 10


def test_work_that_waits_for_a_core_taken_by_others_stays_on_the_calling_thread() -> None:
    """On a loaded machine a busy batch gets part of a core: it waited, but for the CPU, not a
    read, and more threads would only add the GIL's hand-offs to the load."""
    cores = os.cpu_count() or 1
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * cores)]
    try:
        time.sleep(0.2)  # the hogs running
        where: set[int] = set()

        def work(item: int) -> int:
            where.add(threading.get_ident())
            end = time.thread_time() + 0.0002  # 0.2 ms of the interpreter's work
            while time.thread_time() < end:
                pass
            return item

        assert map_batched(work, range(2_000), threads=8) == list(range(2_000))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert where == {threading.get_ident()}


def test_work_that_waits_for_the_gil_held_by_this_process_stays_on_the_calling_thread() -> None:
    """Another thread of this process busy with Python (as a helper's pickling thread is): the
    batch waited, but for the interpreter, which more threads would only hand around more."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1_000))  # the interpreter's work, holding the GIL

    other = threading.Thread(target=busy)
    other.start()
    try:
        where: set[int] = set()

        def work(item: int) -> int:
            where.add(threading.get_ident())
            with open(__file__, "rb") as f:  # a read of a file in the page cache
                f.read()
            return item

        assert map_batched(work, range(120), threads=8) == list(range(120))
    finally:
        stop.set()
        other.join()
    assert where == {threading.get_ident()}
