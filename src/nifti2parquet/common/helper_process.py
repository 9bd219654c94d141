"""A second process for passes over many small files, so planning uses a second core.

Reading a cached header or sidecar is the interpreter's work, one thread at a time (see
:mod:`.batched`), so a thread pool cannot put a second core to use while planning. A helper
process can: it runs the chunks of a pass from the front while the caller does other work, and
when the caller is free it takes back the chunks the helper has not begun and runs them from the
back, so the two meet wherever the work divides. Nothing is lost when the helper cannot run (one
core, a helper that dies): the caller runs every chunk itself.

The helper is a fresh interpreter started like the shard workers (:mod:`.pipes`: no copy of the
caller's memory, nothing of its ``__main__`` run again), so a pass's work must be a module-level
function (or a ``functools.partial`` of one) over picklable items. Starting it costs 0.1-0.3 s
of the other core and 15-40 MB. It imports the work's modules (``preload``) before it says it is
ready, and no chunk is sent before that: until then the caller may take back every chunk, so a
pass that ends before the helper has started never waits for it (a helper not ready at the end
is stopped). The work's modules should not import pyarrow (see ``preflight/privacy_headers.py``).
Only passes with at least ``HELPER_FROM`` items start one.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from .pipes import child_channel, framed, receive, send

T = TypeVar("T")
R = TypeVar("R")

HELPER_FROM = 2_000  # items in a scan's passes worth starting a helper for
# Items per chunk: ~60-90 ms of reading small files. Each chunk is pickled and its answer read
# by this process's threads, which wait for its interpreter (the GIL, ~5 ms at a time), so chunks
# of a few ms would cost more than they spare; the two sides meet within a chunk.
CHUNK = 1024
_SERVE = "from nifti2parquet.common.helper_process import serve; serve()"
IN_FLIGHT = 2  # chunks sent ahead: the next is in the pipe when the helper ends one


def spare_cores() -> int:
    """Cores this process may use besides its own (a Slurm job's CPU set, not the machine's)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    return usable - 1


class HelperGone(RuntimeError):
    """The helper ended before answering (killed, out of memory): the caller redoes the work."""


@dataclass(frozen=True)
class _Job:
    """What every chunk of a pass is run with: the same for all of them, so the pass holds it
    once and each of its calls refers to it."""

    work: Callable[[Sequence[Any]], Any]
    plain: Callable[[Any], Any] | None = None

    def given(self, chunk: Sequence[Any]) -> Sequence[Any]:
        """``chunk`` as ``work`` is given it, its items made plain (``plain``) only as it is
        sent or run, so they are not all held at once."""
        return chunk if self.plain is None else [self.plain(item) for item in chunk]


class _Call:
    """One chunk of a pass's job for the helper: waiting, sent, taken back, or answered."""

    __slots__ = ("answer", "chunk", "done", "job", "state")

    def __init__(self, job: _Job, chunk: Sequence[Any]) -> None:
        self.job, self.chunk = job, chunk
        self.state = "waiting"
        self.answer: Any = None
        self.done = threading.Event()


class Helper:
    """A second interpreter running calls in the order they are submitted, once it has imported
    the ``preload`` modules (the work's) and said it is ready."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        # its own session: a Ctrl-C at the terminal reaches the caller only, which ends the
        # helper (it stops at the end of its input); in the caller's group, one landing while
        # the helper imported its first modules printed their traceback under the caller's line
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        send(self._process.stdin, (sys.path, tuple(preload)))
        self._ready = False
        self._waiting: deque[_Call] = deque()
        self._sent: deque[_Call] = deque()
        self._changed = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._send_calls, name="n2p-helper-send", daemon=True),
            threading.Thread(target=self._read_answers, name="n2p-helper-read", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: _Job, chunk: Sequence[Any]) -> _Call:
        """``job.work`` of ``chunk`` on the helper, each item given as ``job.plain`` makes it."""
        call = _Call(job, chunk)
        with self._changed:
            if self._process.poll() is not None:
                call.state = "taken"  # the helper is gone: the caller runs it
            else:
                self._waiting.append(call)
                self._changed.notify_all()
        return call

    def take_back(self, call: _Call) -> bool:
        """Whether the caller may run ``call`` itself: the helper has not begun it."""
        with self._changed:
            if call.state == "waiting":
                call.state = "taken"
            return call.state == "taken"

    def answer(self, call: _Call) -> Any:
        """What the helper gave for ``call``; its error raised here, HelperGone if it died."""
        call.done.wait()
        if call.state == "failed":
            raise call.answer
        return call.answer

    def close(self) -> None:
        with self._changed:
            self._closing = True
            for call in self._waiting:
                call.state = "taken"
            self._waiting.clear()
            if not self._ready:  # still starting, nothing sent: not worth waiting for
                self._process.kill()
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()
        self._process.wait()

    def _send_calls(self) -> None:
        while True:
            with self._changed:
                while not self._closing and not (
                    self._ready and self._waiting and len(self._sent) < IN_FLIGHT
                ):
                    self._changed.wait()
                if self._closing:
                    break
                call = self._waiting.popleft()
                if call.state != "waiting":
                    continue
                call.state = "sent"
                self._sent.append(call)
            try:
                message = framed((call.job.work, call.job.given(call.chunk)))
            except Exception as exc:  # a bug (work that cannot be pickled): raised by answer()
                self._answered(call, "failed", exc)
                continue
            try:
                self._process.stdin.write(message)
                self._process.stdin.flush()
            except (OSError, ValueError):
                break  # the helper is gone; the reader fails what was sent
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # the helper ends when its input does

    def _read_answers(self) -> None:
        try:
            receive(self._process.stdout)  # ready: started, the work's modules imported
        except Exception:  # ended (or killed) before it was ready: the caller runs everything
            self._fail_sent()
            return
        with self._changed:
            self._ready = True
            self._changed.notify_all()
        while True:
            try:
                ok, answer = receive(self._process.stdout)
            except (EOFError, OSError):
                self._fail_sent()
                return
            except Exception as exc:  # an answer that cannot be unpickled: that call's error
                ok, answer = False, exc
            with self._changed:
                call = self._sent[0]
            self._answered(call, "answered" if ok else "failed", answer)

    def _answered(self, call: _Call, state: str, answer: Any) -> None:
        with self._changed:
            self._sent.remove(call)
            call.state, call.answer = state, answer
            call.done.set()
            self._changed.notify_all()

    def _fail_sent(self) -> None:
        with self._changed:
            gone = HelperGone("the helper process ended before answering")
            for call in [*self._sent, *self._waiting]:
                call.state, call.answer = "failed", gone
                call.done.set()
            self._sent.clear()
            self._waiting.clear()
            self._closing = True
            self._changed.notify_all()


def serve() -> None:
    """The helper's loop: calls in on stdin, ``(ok, result or error)`` out, in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's: it ends the helper
    channel = child_channel()
    try:
        sys.path[:], preload = receive(sys.stdin.buffer)  # the caller's: its work is found there
    except EOFError:
        return
    for module in preload:
        with contextlib.suppress(Exception):  # a work that cannot be imported fails in its calls
            importlib.import_module(module)
    send(channel, (True, "ready"))
    while True:
        try:
            work, chunk = receive(sys.stdin.buffer)
        except EOFError:
            return
        except Exception as exc:  # the work cannot be unpickled here: an answer all the same
            send(channel, (False, _picklable(exc)))
            continue
        try:
            send(channel, (True, work(chunk)))
        except Exception as exc:  # the caller raises it where it asks for the answer
            send(channel, (False, _picklable(exc)))


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


@contextmanager
def helper_process(
    items: int, start_from: int = HELPER_FROM, preload: Sequence[str] = ()
) -> Iterator[Helper | None]:
    """A helper, with the ``preload`` modules imported, when ``items`` reach ``start_from`` and
    a core is spare; else None."""
    if items < start_from or spare_cores() < 1:
        yield None
        return
    try:
        helper = Helper(preload)
    except OSError:  # no process can be started (limits), or it ended at once: one core it is
        yield None
        return
    try:
        yield helper
    finally:
        helper.close()


class SplitPass(Generic[T, R]):
    """``work`` over ``items`` in chunks, begun on the helper now; :meth:`results` finishes it.

    ``work`` maps a chunk of items to a list (a result per item, or one for the chunk), and
    :meth:`results` joins the lists in the chunks' order. Without a helper the items are one
    chunk, run by :meth:`results`. ``plain`` makes an item what ``work`` is given (plain data the
    helper can take in without the caller's modules); it runs as a chunk is sent or run, so
    what it makes (a url per file) is held for one chunk at a time, not for the whole pass.
    ``pool``, the caller's threads, is given to ``work`` (as ``pool=``) for the chunks run here
    only: it cannot be sent to the helper, which runs ``work`` on threads of its own."""

    def __init__(
        self,
        helper: Helper | None,
        work: Callable[[Sequence[Any]], list[R]],
        items: Sequence[T],
        chunk: int = CHUNK,
        plain: Callable[[T], Any] | None = None,
        pool: Executor | None = None,
    ) -> None:
        self._helper = helper
        self._job = _Job(work, plain)
        self._here = work if pool is None else partial(work, pool=pool)
        chunk = chunk if helper else max(1, len(items))
        self._chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        self._calls = [helper.submit(self._job, c) for c in self._chunks] if helper else []

    def results(self) -> list[R]:
        """The chunks' results joined, in the items' order (asked for once): chunks the helper
        has not begun are run here, from the last back, until the helper's share is reached."""
        done: list[list[R] | None] = [None] * len(self._chunks)
        for i in reversed(range(len(self._chunks))):
            if self._helper is not None and not self._helper.take_back(self._calls[i]):
                break  # the helper has begun this one, so every one before it too
            done[i] = self._run(i)
        results: list[R] = []
        for i, part in enumerate(done):
            results += part if part is not None else self._from_helper(i)
        self._chunks, self._calls = [], []  # once: the items and answers are let go
        return results

    def _from_helper(self, i: int) -> list[R]:
        assert self._helper is not None
        try:
            return self._helper.answer(self._calls[i])
        except HelperGone:  # killed, out of memory: the work is redone here
            return self._run(i)

    def _run(self, i: int) -> list[R]:
        return self._here(self._job.given(self._chunks[i]))
