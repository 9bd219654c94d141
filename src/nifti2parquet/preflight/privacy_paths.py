"""The privacy scan of paths: each folder and file name once, by the free-text rules.

A module of its own, importing only the text rules, so the helper process that shares the scan
(:mod:`..common.helper_process`) starts small.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence

from .privacy_record import Finding, finding
from .privacy_rules import PrivacyRules
from .privacy_text import Scope, find_in_text

PATH_CHUNK = 4096  # paths per chunk on the helper: a path is ~17 us, a file's header ~65 us
_PATH = Scope()


def path_chunk(
    paths: Sequence[str], rules: PrivacyRules, each_once: bool
) -> list[tuple[int, list[Finding]]]:
    """A chunk of paths, as one result (module level: the helper process runs it)."""
    return [scanned_paths(paths, rules, each_once)]


def scanned_paths(
    paths: Iterable[str], rules: PrivacyRules, each_once: bool = False
) -> tuple[int, list[Finding]]:
    """Each folder or file name once: the free-text rules (names, e-mail addresses, phone-like
    shapes, dates) over the name with ``_`` read as a space. With how many distinct paths there
    were (counted here, not in a set of their own: a tree has a million). ``each_once``: no
    path comes twice (a crawl's files), so only folders are remembered, not every file."""
    seen: set[str] = set()
    odd: set[str] = set()  # paths not written as their parts joined by '/' (rare)
    distinct = 0
    found = []
    for path in paths:
        parts = [p for p in path.replace("\\", "/").split("/") if p]
        if "/".join(parts) != path:
            if path in odd:
                continue
            odd.add(path)
            distinct += 1
        elif path in seen:
            continue
        else:
            distinct += 1
        for depth in range(len(parts)):
            where = "/".join(parts[: depth + 1])
            remembered = where != path or not each_once
            if where == path:
                where = path  # the path's own string, not one more per file held in ``seen``
            if remembered and where in seen:
                continue
            if remembered:
                seen.add(where)
            text = posixpath.splitext(parts[depth])[0].replace("_", " ")
            found += [
                finding(where, "path", m.kind, m.text, m.severity)
                for m in find_in_text(text, rules, _PATH)
            ]
    return distinct, found
