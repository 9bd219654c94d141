"""Which files of a BIDS dataset a selection keeps, read from their paths alone: the
``--subject/--session/--datatype/--suffix/--task`` filters.

A build applies them to the images it finds and the other files it publishes; ``export`` and the
lazy reader to the paths of a built dataset, without the source. Imported alone, this reads no
BIDS schema and no header: only a suffix or task filter parses a file's name (:mod:`.filenames`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from ...common.errors import FILTERED
from ...common.selection import FLAGS, Selection

if TYPE_CHECKING:
    from .filenames import BidsName
    from .tree import ImageFile


@dataclass(frozen=True)
class Filters:
    """A :class:`Selection` applied to the files of a BIDS tree (labels with or without
    ``sub-``/``ses-``)."""

    selection: Selection = field(default_factory=Selection)

    def reason(self, image: ImageFile) -> str:
        """Why ``image`` is filtered out, or "" when every filter lets it through."""
        if not self.selection:
            return ""
        name = image.name
        return self._reason(image.subject, image.session, image.datatype, name.suffix, name)

    def other_reason(self, rel: str) -> str:
        """Why a file that is not an image of the rows is filtered out, or "".

        The subject and session filters apply to every file under (or named for) a subject or
        session; the others only to files inside a datatype folder, which belong to one kind of
        scan. Dataset-level files (at the root, or a derivative pipeline's root) always stay, so
        a filtered build is still a valid BIDS dataset.
        """
        if not self.selection:
            return ""
        parts = rel.split("/")
        if parts[0] == "derivatives":
            parts = parts[2:]
        subject = _entity_in(parts, "sub")
        session = _entity_in(parts, "ses")
        datatype = _datatype_of(parts)
        name = self._name(parts[-1]) if datatype else None
        suffix = name.suffix if name else None
        return self._reason(subject, session, datatype, suffix, name, every=bool(datatype))

    def _name(self, file_name: str) -> BidsName | None:
        """The parsed name, when a filter asks for what only the name says (its suffix, its
        task): parsing reads the BIDS schema, which a subject's export has no use for."""
        if not (self.selection.suffixes or self.selection.tasks):
            return None
        from .filenames import parse_name

        try:
            return parse_name(file_name)
        except ValueError:
            return None

    def _reason(
        self,
        subject: str | None,
        session: str | None,
        datatype: str | None,
        suffix: str | None,
        name: BidsName | None,
        every: bool = True,
    ) -> str:
        chosen = self.selection
        checks = []
        if subject is not None:
            checks.append(("subject", "subjects", subject, _labels(chosen.subjects, "sub-")))
        if session is not None or every:
            checks.append(("session", "sessions", session, _labels(chosen.sessions, "ses-")))
        if every:
            checks.append(("datatype", "datatypes", datatype, chosen.datatypes))
            checks.append(("suffix", "suffixes", suffix, chosen.suffixes))
        task = name.get("task") if name else None
        if task is not None:  # files without a task (anatomicals) are kept by --task
            checks.append(("task", "tasks", task, chosen.tasks))
        for what, option, value, patterns in checks:
            if patterns and not any(fnmatchcase(value or "", p) for p in patterns):
                shown = "none" if value is None else repr(value)
                flag = FLAGS[option]
                return f"{FILTERED}: {what} {shown} does not match {flag} {' '.join(patterns)}"
        return ""


def _entity_in(parts: Sequence[str], key: str) -> str | None:
    """The label of ``key`` in a path's folders (``sub-01/``) or, failing that, its file name."""
    for part in parts[:-1]:
        if part.startswith(f"{key}-"):
            return part[len(key) + 1 :]
    for chunk in parts[-1].split("_"):
        if chunk.startswith(f"{key}-"):
            return chunk[len(key) + 1 :].split(".")[0]
    return None


def _datatype_of(parts: Sequence[str]) -> str | None:
    """The datatype folder of ``sub-X/[ses-Y/]<datatype>/...``, or None outside one."""
    folders = list(parts[:-1])
    if not folders or not folders[0].startswith("sub-"):
        return None
    folders = folders[1:]
    if folders and folders[0].startswith("ses-"):
        folders = folders[1:]
    return folders[0] if folders else None


def _labels(patterns: Sequence[str], prefix: str) -> tuple[str, ...]:
    return tuple(p[len(prefix) :] if p.startswith(prefix) else p for p in patterns)
