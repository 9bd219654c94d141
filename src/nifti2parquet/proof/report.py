"""What ``verify`` checked (counts), found (problems, warnings) and was asked (options)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import Problem
from ..common.files_config import FILES_CONFIG
from ..common.units import count, format_size
from ..sources.options import SourceOptions


@dataclass
class VerifyReport:
    """What was checked (counts), what is wrong (problems) and what to know (warnings)."""

    counts: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    hub: str | None = None  # "user/name@revision" when the Hub was checked
    on_purpose: list[Problem] = field(default_factory=list)  # images the build changed on purpose

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(path, message, "warning"))

    def extend(self, found: Iterable[Problem], counts: Counter | None = None) -> None:
        """Take a sub-check's findings: errors to problems, the rest to warnings."""
        for problem in found:
            if problem.severity == "info":
                self.on_purpose.append(problem)
                continue
            (self.problems if problem.severity == "error" else self.warnings).append(problem)
        self.counts.update(counts or {})

    def summary(self) -> str:
        """One line of what was checked, then OK or the number of problems."""
        c = self.counts
        parts = [count(c["rows"], "row"), count(c["images"], "image")]
        parts += [count(c["shards"], "shard"), format_size(c["shard_bytes"])]
        if "files" in c:
            parts.append(f"{count(c['files'], 'file')} in the {FILES_CONFIG!r} config")
        if "source_files" in c:
            parts.append(count(c["source_files"], "source file"))
        if c["changed_on_purpose"]:
            parts.append(f"{c['changed_on_purpose']:,} changed on purpose")
        if self.hub:
            parts.append(f"{count(c['remote_files'], 'file')} on the Hub ({self.hub})")
        return f"{', '.join(parts)}: {'OK' if self.ok else count(len(self.problems), 'problem')}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "checked": dict(self.counts),
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "changed_on_purpose": [p.to_dict() for p in self.on_purpose],
        }


@dataclass(frozen=True)
class VerifyOptions:
    """What to check besides the footers and the card (see the module docstring)."""

    splits: tuple[str, ...] = ()  # default: every split built in the folder
    content: bool = True  # sha256 of every shard and every image cell
    deep: bool = False  # decode every image (and download every remote file)
    source: str | None = None  # compare with this source; "" = the source recorded by the build
    source_options: SourceOptions = field(default_factory=SourceOptions)
    repo_id: str | None = None
    revision: str | None = None
    token: str | None = None
    threads: int = 0  # shards (and files) checked at once; 0: one per core, at most 8

    def thread_count(self) -> int:
        return self.threads if self.threads > 0 else min(8, os.cpu_count() or 1)
