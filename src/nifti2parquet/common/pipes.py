"""Talking to a child interpreter over its stdin and stdout: pickled messages, framed by length.

The child processes of a run (the shard workers, the planning helper) are plain subprocesses
started with ``python -c``, not ``multiprocessing`` ones: nothing of the caller's ``__main__``
is imported again (a script calling the API without an ``if __name__ == "__main__"`` guard would
otherwise run twice), and no threaded parent is forked.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import Any, BinaryIO

_HEADER = struct.Struct("<Q")


def framed(message: Any) -> bytes:
    """The message as it goes down a pipe (pickling fails here, before anything is written)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def send(stream: BinaryIO, message: Any) -> None:
    stream.write(framed(message))
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next message; EOFError when the other side has closed (or died)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (length,) = _HEADER.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)


def child_channel() -> BinaryIO:
    """In a child: the stream its messages go out on (the original stdout), with stray prints
    sent to stderr so they cannot corrupt it; the child dies with its parent."""
    die_with_parent()
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


def die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
