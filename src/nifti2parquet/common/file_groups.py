"""Long lists of files as a person reads them: grouped by folder, with counts.

A build can leave out thousands of files (``--subject 01`` of a large dataset, ``--exclude
stimuli/``). The terminal and the card show each such list in at most :data:`MAX_LINES` lines:
the files grouped by folder, as deep as the lines allow (``sub-02/ses-mri/anat/  12 files``, or
``sub-02/  240 files``), each group with its count and, for files left out for a problem, the
reason most of them share. Short lists are shown file by file. The full list, file by file with
its reason, is in ``--json`` and in the manifest.

Three lists are shown apart: files filtered out by the selection (``--subject``...), files
excluded by ``--exclude`` (with each pattern's count) and files left out for any other reason
(unreadable files, ``--no-derivatives``).
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import Problem, is_filtered
from .path_patterns import is_excluded, pattern_counts
from .units import count

MAX_LINES = 20  # lines of one list, its heading included


@dataclass(frozen=True)
class Group:
    """Files under one folder (or one file alone), and the reason most of them share."""

    label: str  # ``sub-02/anat/`` or, for a group of one, the file's path
    files: int
    reason: str = ""


def group_by_folder(problems: Sequence[Problem], lines: int = MAX_LINES - 1) -> list[Group]:
    """``problems`` (one file each) as at most ``lines`` groups: each file when they fit, else by
    folder at the deepest level that fits; the last line holds the rest when none does."""
    if len(problems) <= lines:
        return [Group(p.path, 1, p.message) for p in problems]
    folders = [posixpath.dirname(p.path).split("/") if "/" in p.path else [] for p in problems]
    depth = max((len(f) for f in folders), default=0)
    while depth > 1 and len({tuple(f[:depth]) for f in folders}) > lines:
        depth -= 1
    groups: dict[str, list[Problem]] = {}
    for problem, folder in zip(problems, folders):
        label = "/".join(folder[:depth]) + "/" if folder else "./"
        groups.setdefault(label, []).append(problem)
    found = [Group(label, len(group), _shared(group)) for label, group in groups.items()]
    if len(found) <= lines:
        return found
    found.sort(key=lambda g: (-g.files, g.label))
    rest = found[lines - 1 :]
    more = Group(f"{count(len(rest), 'more folder')}", sum(g.files for g in rest))
    return [*sorted(found[: lines - 1], key=lambda g: g.label), more]


def _shared(group: Sequence[Problem]) -> str:
    reasons = Counter(p.message for p in group)
    reason, n = reasons.most_common(1)[0]
    return reason if n == len(group) else f"{reason} ({n:,} of them)"


@dataclass(frozen=True)
class LeftOutLists:
    """The files a build left out, in the three lists a person reads apart."""

    filtered: tuple[Problem, ...]
    excluded: tuple[Problem, ...]
    other: tuple[Problem, ...]

    @classmethod
    def of(cls, left_out: Sequence[Problem]) -> LeftOutLists:
        filtered = tuple(p for p in left_out if is_filtered(p))
        excluded = tuple(p for p in left_out if is_excluded(p))
        other = tuple(p for p in left_out if not is_filtered(p) and not is_excluded(p))
        return cls(filtered, excluded, other)

    def terminal_lines(
        self,
        selection: str = "",
        patterns: Sequence[str] = (),
        each: Callable[[Sequence[Problem]], list[str]] | None = None,
    ) -> list[str]:
        """Each list in at most :data:`MAX_LINES` lines (for stderr; ``--json`` lists all).
        ``each`` says a short list of files left out for a problem, one by one (default: a
        ``left out: path: reason`` line each)."""
        out: list[str] = []
        if self.filtered:
            how = f" by {selection}" if selection else ""
            out.append(f"filtered out{how}: {count(len(self.filtered), 'file')}")
            out += [f"  {_line(g, reasons=False)}" for g in group_by_folder(self.filtered)]
        if self.excluded or patterns:
            out.append(
                f"excluded: {count(len(self.excluded), 'file')} ({by_pattern(self, patterns)})"
            )
            out += [f"  {_line(g, reasons=False)}" for g in group_by_folder(self.excluded)]
        if 0 < len(self.other) < MAX_LINES:  # each on its own line, as every problem is said
            out += each(self.other) if each else problem_lines(self.other, "left out")
        elif self.other:
            out.append(f"left out: {count(len(self.other), 'file')} (--json lists each)")
            out += [f"  {_line(g)}" for g in group_by_folder(self.other)]
        return out

    def by_pattern(self, patterns: Sequence[str] = ()) -> dict[str, int]:
        """Files excluded by each ``--exclude`` pattern (every pattern given, 0 included)."""
        given = list(patterns) or _patterns_in(self.excluded)
        return pattern_counts(given, self.excluded)


def by_pattern(lists: LeftOutLists, patterns: Sequence[str] = ()) -> str:
    """``--exclude 'stimuli/' 930, --exclude '*.log' 0``."""
    counts = lists.by_pattern(patterns)
    return ", ".join(f"--exclude {p!r} {n:,}" for p, n in counts.items())


def _patterns_in(excluded: Sequence[Problem]) -> list[str]:
    """The patterns named by the problems, in first-seen order (when the given list is lost)."""
    import ast

    seen: dict[str, None] = {}
    for problem in excluded:
        quoted = problem.message.split("--exclude ", 1)[-1]
        try:
            seen.setdefault(ast.literal_eval(quoted), None)
        except (ValueError, SyntaxError):
            continue
    return list(seen)


def _line(group: Group, reasons: bool = True) -> str:
    if group.files == 1 and not group.label.endswith("/"):
        return f"{group.label}: {group.reason}" if reasons else group.label
    why = f": {group.reason}" if reasons and group.reason else ""
    return f"{group.label}  {count(group.files, 'file')}{why}"


def problem_lines(problems: Sequence[Problem], label: str, shown: int = 10) -> list[str]:
    """One line per problem; past ``shown`` problems with the same message (an MSD archive's
    hundreds of ``._`` files), one line counting the rest (``--json`` lists every one)."""
    same = Counter(p.message for p in problems)
    printed: Counter[str] = Counter()
    lines = []
    for p in problems:
        printed[p.message] += 1
        if printed[p.message] <= shown:
            lines.append(f"{label}: {p}")
        elif printed[p.message] == shown + 1:
            lines.append(f"{label}: ... and {same[p.message] - shown:,} more: {p.message}")
    return lines
