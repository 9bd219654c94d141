"""``--exclude GLOB``: the files a publisher leaves out of what is published, gitignore-style.

A build publishes every file of the dataset folder. What the publisher means to keep back (a
``scratch/`` folder, ``*.log`` files, one subject's raw DICOMs) they say with ``--exclude``,
repeatable, in the syntax of ``.gitignore`` (as ``pathspec`` implements it): patterns match the
path relative to the dataset root (a table source: the stored path of each image); ``*``, ``?``
and ``[...]`` stay within one folder, ``**`` crosses folders; a pattern with a ``/`` at its start
or inside is anchored to the root, one without matches at any depth; a trailing ``/`` matches
folders (and so every file under them); ``!`` brings back what an earlier pattern left out; the
last matching pattern decides.

Each file left out says which pattern did it, so the build counts the files of each pattern
(the summary, ``--json``, the manifest and the card say them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from .errors import OptionError, Problem

EXCLUDED = "excluded by --exclude"  # how every file left out by a pattern is worded


@dataclass(frozen=True)
class ExcludePatterns:
    """The ``--exclude`` patterns of a build, in the order given."""

    patterns: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.patterns)

    @cached_property
    def _spec(self):  # type: ignore[no-untyped-def]
        import pathspec

        try:
            return pathspec.GitIgnoreSpec.from_lines(self.patterns)
        except (ValueError, TypeError) as exc:
            raise OptionError(f"--exclude: {exc}") from None

    def check(self) -> None:
        """Refuse a pattern gitignore cannot read, before anything is read (pathspec is
        imported only when there are patterns)."""
        if not self.patterns:
            return
        for pattern in self.patterns:
            if not pattern.strip() or pattern.strip().startswith("#"):
                raise OptionError(f"--exclude {pattern!r}: an empty pattern or a comment")
        self._spec  # noqa: B018 - compiles every pattern

    def matching(self, rel: str) -> str | None:
        """The pattern that leaves ``rel`` out, or None when it is kept."""
        if not self.patterns:
            return None
        result = self._spec.check_file(rel)
        if not result.include or result.index is None:
            return None
        return self.patterns[result.index]

    def reason(self, rel: str) -> str:
        """Why ``rel`` is left out ("" when it is kept)."""
        pattern = self.matching(rel)
        return f"{EXCLUDED} {pattern!r}" if pattern is not None else ""


def is_excluded(problem: Problem) -> bool:
    """Left out by ``--exclude``: counted per pattern, listed grouped by folder."""
    return problem.severity == "info" and problem.message.startswith(EXCLUDED)


def pattern_counts(patterns: Sequence[str], left_out: Iterable[Problem]) -> dict[str, int]:
    """Files left out by each pattern, every pattern given (0 for one that matched nothing)."""
    found = Counter(p.message[len(EXCLUDED) :].strip() for p in left_out if is_excluded(p))
    return {pattern: found.get(repr(pattern), 0) for pattern in patterns}
