"""Shards written in parallel by worker processes (``python -m nifti2parquet.shards.workers``).

Workers are plain subprocesses that read pickled :class:`ShardTask`s on stdin and answer with
progress, results or errors on a pipe. This works from any caller (no ``if __name__ ==
"__main__"`` needed, no fork of a threaded parent) and each worker loads only what writing needs.
A worker never moves a shard into place: it returns the temp file and the parent commits it, so a
worker that outlives a killed parent can never publish anything. Workers also die with their
parent (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from queue import Empty, Queue
from typing import Any

from ..common.errors import N2PError
from ..common.pipes import child_channel, receive, send
from ..common.startup import keep_pandas_out
from .writer import ShardResult, ShardTask, write_shard


class WorkerPool:
    """N worker processes; ``run`` hands out tasks in order and calls back in this process."""

    def __init__(self, workers: int) -> None:
        self._count = workers
        self._lock = threading.Lock()

    def run(
        self,
        tasks: Iterable[ShardTask],
        on_result: Callable[[ShardTask, ShardResult], None],
        on_progress: Callable[[int], None],
    ) -> list[BaseException]:
        """Write every task; stop handing out new ones after the first error. Returns errors."""
        pending: Queue[ShardTask] = Queue()
        for task in tasks:
            pending.put(task)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=self._drive,
                args=(pending, on_result, on_progress, errors),
                name=f"n2p-worker-{i}",
                daemon=True,
            )
            for i in range(self._count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return errors

    def _drive(
        self,
        pending: Queue,
        on_result: Callable,
        on_progress: Callable,
        errors: list[BaseException],
    ) -> None:
        """One worker process: feed it tasks until there are none left or something failed."""
        process = subprocess.Popen(
            [sys.executable, "-c", "from nifti2parquet.shards.workers import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            while not errors:
                try:
                    task = pending.get_nowait()
                except Empty:
                    break
                send(process.stdin, task)
                self._follow(process, task, on_result, on_progress, errors)
        finally:
            process.stdin.close()
            process.wait()

    def _follow(
        self,
        process: subprocess.Popen,
        task: ShardTask,
        on_result: Callable,
        on_progress: Callable,
        errors: list[BaseException],
    ) -> None:
        while True:
            try:
                kind, payload = receive(process.stdout)
            except EOFError:
                with self._lock:
                    errors.append(RuntimeError(f"a worker process died writing {task.shard.path}"))
                return
            with self._lock:
                if kind == "progress":
                    on_progress(payload)
                    continue
                if kind == "result":
                    try:
                        on_result(task, payload)
                    except BaseException as exc:
                        errors.append(exc)
                else:
                    errors.append(payload)
                return


def main() -> None:
    """Worker loop: tasks in on stdin, messages out on the original stdout."""
    keep_pandas_out()
    channel = child_channel()
    lock = threading.Lock()  # reader threads report progress concurrently

    def say(message: Any) -> None:
        with lock:
            send(channel, message)

    while True:
        try:
            task = receive(sys.stdin.buffer)
        except EOFError:
            return
        try:
            say(("result", write_shard(task, lambda n: say(("progress", n)))))
        except N2PError as exc:
            say(("error", exc))
        except OSError as exc:  # e.g. disk full: the parent turns it into advice
            say(("error", OSError(exc.errno, str(exc))))
        except Exception as exc:  # a bug: hand it to the parent with its description
            say(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


if __name__ == "__main__":
    main()
