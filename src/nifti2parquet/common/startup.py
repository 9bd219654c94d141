"""What only nifti2parquet's own processes may decide: the command and its worker processes.

A library must not change its host process, so these run in ``nifti2parquet`` (the console
script, ``python -m nifti2parquet``) and in build workers, never on ``import nifti2parquet``.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Sequence
from typing import Any


class _Absent(importlib.abc.MetaPathFinder):
    """Answers "no such module" for one top-level package and its submodules."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: Any = None) -> None:
        if name == self.package or name.startswith(self.package + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def keep_out(package: str) -> None:
    """Make ``import package`` fail in this process, unless something has imported it already."""
    absent = any(isinstance(f, _Absent) and f.package == package for f in sys.meta_path)
    if package not in sys.modules and not absent:
        sys.meta_path.insert(0, _Absent(package))


def keep_pandas_out() -> None:
    """Make ``import pandas`` fail in this process, unless something has imported it already.

    The first time pyarrow converts a Python list it imports pandas (about 0.3 s), only to ask
    whether the list is a pandas object; nifti2parquet never uses pandas. pyarrow then carries on
    as it does wherever pandas is not installed.
    """
    keep_out("pandas")


def keep_numpy_out() -> None:
    """Make ``import numpy`` fail in this process (``export`` only: it reads footers, small
    columns and bytes, and never an array).

    pyarrow imports numpy when it loads, if numpy is installed (about 0.1 s of CPU, a fifth of a
    small export's), and needs it only to convert to and from arrays; without it pyarrow works as
    it does wherever numpy is not installed (numpy is optional to it).
    """
    keep_out("numpy")


def pyarrow_without_numpy() -> None:
    """Load pyarrow without numpy (``build --no-previews``), which stays importable for what
    imports it itself.

    pyarrow imports numpy as it loads, if it can (about 0.08 s of CPU and 10 MB, a build's start
    pays it before its first shard) and uses it only to convert its arrays to and from numpy's;
    a build without previews converts none. Loaded this way, pyarrow works as it does where numpy
    is not installed for the rest of the process.
    """
    if "pyarrow" in sys.modules or "numpy" in sys.modules:
        return
    absent = _Absent("numpy")
    sys.meta_path.insert(0, absent)
    try:
        import pyarrow  # noqa: F401
    finally:
        sys.meta_path.remove(absent)


def one_blas_thread() -> None:
    """Give numpy's BLAS one thread, unless the environment already says how many.

    numpy's wheels link OpenBLAS, which starts a thread per core as numpy loads and keeps it
    spinning for work a while: loading numpy takes about 0.14 s of CPU, 0.075 s with one thread.
    A build with previews (the only command that loads numpy) pays it beside the shards' own
    threads, for nothing: nifti2parquet multiplies no large matrices (the previews decompose one
    3x3 affine per image). Build workers inherit it.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
