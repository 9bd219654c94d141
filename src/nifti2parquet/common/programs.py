"""How a printed command names a program installed with nifti2parquet, so it runs as printed.

A venv that is not activated has its programs (``nifti2parquet``, ``hf``) in its ``bin/`` but
not on PATH: a hint that says ``hf auth login`` would answer "command not found". Every hint and
printed command names them through :func:`program`: by name when PATH finds this very program,
else by its full path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys


def installed_script(name: str = "nifti2parquet") -> str:
    """A program installed next to this interpreter (the venv's ``bin/``)."""
    return os.path.join(os.path.dirname(sys.executable), name)


def program(name: str, full: str | None = None) -> str:
    """``name`` when PATH finds this very program by it, else its full path (shell-quoted);
    ``full`` defaults to the program of that name next to this interpreter."""
    full = full or installed_script(name)
    found = shutil.which(name)
    if found and os.path.abspath(found) == os.path.abspath(full):
        return name
    if os.path.exists(full):
        return shlex.quote(full)
    return name


def login_hint() -> str:
    """How to give the Hub a token, with ``hf`` named so that the command runs as printed."""
    return f"log in with `{program('hf')} auth login` or set HF_TOKEN (or pass --token)"
