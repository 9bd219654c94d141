"""What only nifti2parquet's own processes may decide: the command and its worker processes.

A library must not change its host process, so these run in ``nifti2parquet`` (the console
script, ``python -m nifti2parquet``) and in build workers, never on ``import nifti2parquet``.
"""

from __future__ import annotations

import importlib.abc
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


def keep_pandas_out() -> None:
    """Make ``import pandas`` fail in this process, unless something has imported it already.

    The first time pyarrow converts a Python list it imports pandas (about 0.3 s), only to ask
    whether the list is a pandas object; nifti2parquet never uses pandas. pyarrow then carries on
    as it does wherever pandas is not installed.
    """
    if "pandas" not in sys.modules and not any(isinstance(f, _Absent) for f in sys.meta_path):
        sys.meta_path.insert(0, _Absent("pandas"))
