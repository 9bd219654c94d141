"""What a BIDS crawler must not index: the default ignores and ``.bidsignore`` patterns.

Not indexed means not read as BIDS (no image row, no sidecar inherited from it); every such file
is still the dataset's and is published byte for byte in the ``files`` config (:mod:`.tree`).
Default: the folders the BIDS schema marks opaque (:mod:`.rules`: ``sourcedata/``, ``code/``,
``stimuli/``... at the top of the dataset; at the top of every ``derivatives/<pipeline>/`` also its
own ``derivatives/``), and, ours, anything whose name starts with a dot.
``.bidsignore`` holds gitignore-style patterns, relative to the dataset root: ``*`` and ``?``
within one path part, ``**`` across parts, a leading ``/`` (or any ``/`` inside) anchors to the
root, a trailing ``/`` matches folders only, ``!`` re-includes, ``#`` starts a comment; the last
matching pattern wins, and a file inside an ignored folder stays ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rules import BidsRules, bids_rules


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    negate: bool
    folders_only: bool


def compile_pattern(line: str) -> Pattern | None:
    """One ``.bidsignore`` line as a pattern (None for blanks and comments)."""
    text = line.rstrip("\n").rstrip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    body = text[1:] if negate else text
    folders_only = body.endswith("/")
    body = body.rstrip("/")
    anchored = "/" in body
    body = body.lstrip("/")
    if not body:
        return None
    regex = ("" if anchored else "(?:.*/)?") + _glob_to_regex(body)
    return Pattern(text, re.compile(regex + r"\Z"), negate, folders_only)


def _glob_to_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            cls = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + cls[1:] if cls.startswith("!") else cls) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class IgnoreRules:
    """Decides, for a path relative to the dataset root, whether (and why) it is ignored."""

    def __init__(self, bidsignore: str = "", rules: BidsRules | None = None) -> None:
        self.patterns = [p for p in map(compile_pattern, bidsignore.splitlines()) if p]
        self.rules = rules or bids_rules()

    def reason(self, rel: str) -> str:
        """Why ``rel`` (a file) is ignored, or "" when it is not."""
        parts = rel.split("/")
        if rel.startswith(".") or "/." in rel:  # asked of every file: no generator for most
            hidden = next(p for p in parts if p.startswith("."))
            return f"ignored: hidden file or folder {hidden!r} (names starting with '.')"
        top = _top_folder(parts, self.rules)
        if top:
            return f"ignored: under {top}/ (BIDS does not index it)"
        if not self.patterns:  # no .bidsignore, the most common case: asked of every file
            return ""
        for i in range(1, len(parts)):
            pattern = self._match("/".join(parts[:i]), folder=True)
            if pattern:
                return f"ignored: matches .bidsignore pattern {pattern.text!r}"
        pattern = self._match(rel, folder=False)
        return f"ignored: matches .bidsignore pattern {pattern.text!r}" if pattern else ""

    def _match(self, path: str, folder: bool) -> Pattern | None:
        """The last pattern deciding ``path``; None when none does or a negation re-includes it."""
        decided: Pattern | None = None
        for pattern in self.patterns:
            if pattern.folders_only and not folder:
                continue
            if pattern.regex.match(path):
                decided = pattern
        return None if decided is None or decided.negate else decided


def _top_folder(parts: list[str], rules: BidsRules) -> str:
    """An opaque folder (``sourcedata``, ``code``...) at the top of the dataset or of a pipeline."""
    if len(parts) > 1 and parts[0] in rules.ignored_folders:
        return parts[0]
    if (
        len(parts) > 3
        and parts[0] == "derivatives"
        and parts[2] in rules.derivative_ignored_folders
    ):
        return "/".join(parts[:3])
    return ""
