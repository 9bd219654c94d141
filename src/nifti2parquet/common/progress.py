"""Telling the user what a long operation is doing: steps, and byte progress bars on stderr.

The Python API is silent by default (a plain :class:`Reporter`); the CLI passes a
:class:`ConsoleReporter`, which draws bars with throughput and ETA only when stderr is a terminal
and ``--quiet`` is off. Warnings are always printed by the CLI, from the result, not from here.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any


class Bar:
    """A progress bar that does nothing (the default)."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reporter:
    """Silent: for library use and tests."""

    def step(self, message: str) -> None:
        """What is happening now (shown on a terminal only)."""

    def note(self, message: str) -> None:
        """Something worth a line in a batch job's log too (a retry, a wait for a rate limit)."""

    def bar(self, total: int, description: str, unit: str = "B") -> Bar:
        return Bar()


class _TqdmBar(Bar):
    def __init__(self, total: int, description: str, unit: str) -> None:
        from tqdm import tqdm

        scale: dict[str, Any] = {"unit_scale": True, "unit_divisor": 1000} if unit == "B" else {}
        # a terminal that reports no width (some CI consoles) gets 80 columns, not an empty bar
        width: dict[str, Any] = {} if shutil.get_terminal_size((0, 0)).columns else {"ncols": 80}
        self._bar = tqdm(
            total=total,
            desc=description,
            unit=unit,
            file=sys.stderr,
            dynamic_ncols=not width,
            leave=False,
            smoothing=0.1,
            **scale,
            **width,
        )

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        """Draw the final count before the bar goes: tqdm redraws at most every 0.1 s, so a step
        done faster than that would otherwise leave its 0% as the last thing drawn."""
        self._bar.refresh()
        self._bar.close()


class ConsoleReporter(Reporter):
    """Steps and bars on stderr, when stderr is a terminal and the user did not ask for quiet."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.enabled = not quiet and sys.stderr.isatty()

    def step(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def bar(self, total: int, description: str, unit: str = "B") -> Bar:
        return _TqdmBar(total, description, unit) if self.enabled else Bar()
