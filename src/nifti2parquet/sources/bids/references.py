"""What the files of a BIDS dataset point to, so that an export of some subjects is whole.

A subject's files name files elsewhere in the dataset: an MEG recording its empty-room recording
(``AssociatedEmptyRoom``, often in ``sub-emptyroom/``), a field map the images it corrects
(``IntendedFor``), an image the field map that corrects it (``B0FieldSource``, matched with a
field map's ``B0FieldIdentifier``), an events table its stimuli (the ``stim_file`` column, under
``stimuli/``). A filtered ``export`` that left them behind would not be a valid dataset of those
subjects, so the build records, for each file, the files it names (the ``files`` config's
``references`` column) and export follows them.

A reference is recorded when its target is a published file or folder (a ``.ds`` recording is a
folder: every file under it); with it come the target's companions, the files that describe it by
the BIDS inheritance principle (its sidecar JSON, channels and events tables, its session's
``scans.tsv``: files in its folder and the folders above it, up to its dataset's root, whose
entities are a subset of its own). Paths are BIDS URIs (``bids::sub-01/...``, from the root of the
dataset the file belongs to), paths from that root, or, for ``IntendedFor``, from the subject's
folder (the old form); ``stim_file`` is relative to ``stimuli/``. A reference to another dataset
(``bids:<name>:...``) or to nothing that exists is not recorded: the validator reports those in
the source as well.

Reading every JSON and TSV file for this also tells which of them cannot be read as what they
are named: each such file is still published byte for byte, with a one-line warning.
"""

from __future__ import annotations

import bisect
import json
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...common.errors import InputError, Problem
from ...common.storage import Storage
from ...common.tables import decode_text, parse_table
from .crawl import Entry, read_small_files
from .filenames import BidsName, parse_name

PATH_FIELDS = {"AssociatedEmptyRoom": False, "IntendedFor": True}  # field -> subject-relative form
SOURCE_FIELD, IDENTIFIER_FIELD = "B0FieldSource", "B0FieldIdentifier"
STIM_COLUMN = "stim_file"
STIMULI = "stimuli"
READ_LIMIT = 32 << 20  # JSON and TSV files larger than this are neither read here nor checked


@dataclass(frozen=True)
class Found:
    """The references of a dataset's files, and the files that cannot be read as named."""

    references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()


def find_references(
    root: str,
    published: Sequence[Entry],
    contents: dict[str, bytes | str],
    storage: Storage,
    threads: int = 16,
    warned: Iterable[str] = (),
) -> Found:
    """References among the ``published`` files; ``contents``: files read already (rel ->
    bytes); ``warned``: files a warning was given for already."""
    readable = files_to_read(published)
    texts = {e.rel: contents[e.rel] for e in readable if e.rel in contents}
    wanted = [e for e in readable if e.rel not in contents]  # none when the crawl read them
    texts.update(read_small_files(root, wanted, storage, threads))
    jsons, stimuli, warnings = _parse(texts, set(warned))
    del texts
    if not jsons and not stimuli:  # nothing names anything: no tree of the published files
        return Found({}, warnings)
    tree = _Tree(e.rel for e in published)
    references: dict[str, set[str]] = defaultdict(set)
    identifiers = _identifiers(jsons)
    for rel, content in jsons.items():
        for target in _targets(rel, content, identifiers, tree):
            references[rel] |= tree.with_companions(target)
    for rel, values in stimuli.items():
        for target in (t for v in values for t in tree.resolve(_stimulus_paths(rel, v))):
            references[rel] |= tree.with_companions(target)
    found = {rel: tuple(sorted(targets - {rel})) for rel, targets in references.items()}
    return Found({rel: targets for rel, targets in sorted(found.items()) if targets}, warnings)


def files_to_read(files: Iterable[Entry]) -> list[Entry]:
    """The JSON and TSV files among ``files`` that are read for their references (and checked),
    so the crawl can read them with the rest of the small files."""
    return [
        e
        for e in files
        if e.rel.endswith((".json", ".tsv")) and not e.problem and e.size <= READ_LIMIT
    ]


# reading ----------------------------------------------------------------------------------------
def _parse(
    texts: dict[str, bytes | str], warned: set[str]
) -> tuple[dict[str, Any], dict[str, list[str]], tuple[Problem, ...]]:
    """The reference fields of JSON files and the ``stim_file`` cells of events tables, by path,
    for the files that have some; a warning for each file that cannot be read as what it is
    named (unless one was given already). Only the fields that name files are kept: a million
    parsed sidecars would be held at once otherwise."""
    jsons: dict[str, Any] = {}
    stimuli: dict[str, list[str]] = {}
    warnings = []
    for rel in sorted(texts):
        data = texts[rel]
        if not isinstance(data, bytes):
            continue  # could not be read at all: the crawl says so where it matters
        try:
            if rel.endswith(".json"):
                fields = _reference_fields(_json(rel, data))
                if fields:
                    jsons[rel] = fields
            elif stim_files := _stim_files(rel, data):
                stimuli[rel] = stim_files
        except ValueError as exc:
            if rel not in warned:
                warnings.append(Problem(rel, f"{exc}; published byte for byte as it is", "warning"))
    return jsons, stimuli, tuple(warnings)


REFERENCE_FIELDS = (*PATH_FIELDS, SOURCE_FIELD, IDENTIFIER_FIELD)


def _reference_fields(content: Any) -> dict[str, Any]:
    """The fields of a parsed JSON file that name other files ({} for a JSON that is no object)."""
    if not isinstance(content, dict):
        return {}
    return {k: content[k] for k in REFERENCE_FIELDS if k in content}


def _json(rel: str, data: bytes) -> Any:
    text = decode_text(data, rel)[0]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _stim_files(rel: str, data: bytes) -> list[str]:
    try:
        table = parse_table(rel, data)
    except InputError as exc:
        reason = exc.message.removeprefix(f"{rel}: ")
        raise ValueError(f"cannot be read as a table: {reason}") from None
    if not rel.endswith("_events.tsv"):
        return []
    return [c for c in table.cells.get(STIM_COLUMN, ()) if isinstance(c, str)]


# what each file names ---------------------------------------------------------------------------
def _identifiers(parsed: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(dataset root, B0FieldIdentifier) -> the sidecars that declare it."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rel, content in parsed.items():
        if isinstance(content, dict):
            for identifier in _values(content.get(IDENTIFIER_FIELD)):
                found[(_dataset_root(rel), identifier)].append(rel)
    return found


def _targets(
    rel: str, content: Any, identifiers: dict[tuple[str, str], list[str]], tree: _Tree
) -> list[str]:
    if not isinstance(content, dict):
        return []
    found = []
    for name, from_subject in PATH_FIELDS.items():
        for value in _values(content.get(name)):
            found += tree.resolve(_candidates(rel, value, from_subject))
    subject = _subject_folder(rel)
    for identifier in _values(content.get(SOURCE_FIELD)):
        declared = identifiers.get((_dataset_root(rel), identifier), [])
        # a dataset-level sidecar applies to every subject: each one's own field maps stay his
        found += [d for d in declared if subject and _subject_folder(d) == subject]
    return found


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v.strip() for v in items if isinstance(v, str) and v.strip()]


def _dataset_root(rel: str) -> str:
    """The dataset a file belongs to: "" (raw) or ``derivatives/<pipeline>``."""
    parts = rel.split("/")
    return "/".join(parts[:2]) if parts[0] == "derivatives" and len(parts) > 2 else ""


def _subject_folder(rel: str) -> str:
    """``[derivatives/<p>/]sub-<label>`` of a file inside a subject's folder, else ""."""
    root = _dataset_root(rel)
    parts = rel[len(root) :].lstrip("/").split("/")
    if len(parts) > 1 and parts[0].startswith("sub-"):
        return posixpath.join(root, parts[0])
    return ""


def _candidates(rel: str, value: str, from_subject: bool) -> list[str]:
    """Where a path written in ``rel`` may point, most likely first."""
    root = _dataset_root(rel)
    if value.startswith("bids::"):
        path = value[len("bids::") :].lstrip("/")
        return [posixpath.join(root, path), path]
    if value.startswith("bids:"):
        return []  # another dataset (DatasetLinks): not in this one
    subject = _subject_folder(rel)
    found = [posixpath.join(subject, value)] if from_subject and subject else []
    return [*found, posixpath.join(root, value), value]


def _stimulus_paths(rel: str, value: str) -> list[str]:
    if value.startswith("bids:"):
        return _candidates(rel, value, False)
    root = _dataset_root(rel)
    return [posixpath.join(root, STIMULI, value), posixpath.join(STIMULI, value)]


# the published tree -----------------------------------------------------------------------------
class _Tree:
    """The published files: a path's files (itself, or every file under a folder) and the
    companions of a recording."""

    def __init__(self, rels: Iterable[str]) -> None:
        self.sorted = sorted(rels)
        self.files = set(self.sorted)
        self.by_folder: dict[str, list[str]] = defaultdict(list)
        for rel in self.sorted:
            self.by_folder[posixpath.dirname(rel)].append(rel)
        self._companions: dict[str, set[str]] = {}
        self._parsed: dict[str, list[tuple[str, BidsName]]] = {}

    def resolve(self, candidates: Sequence[str]) -> list[str]:
        """The first candidate that is a published file or folder."""
        for candidate in candidates:
            path = posixpath.normpath(candidate)
            if path.startswith(("../", "/")) or path in ("..", "."):
                continue
            if path in self.files or self._under(path):
                return [path]
        return []

    def _under(self, folder: str) -> list[str]:
        start = bisect.bisect_left(self.sorted, folder + "/")
        end = bisect.bisect_left(self.sorted, folder + "/\U0010ffff")
        return self.sorted[start:end]

    def with_companions(self, target: str) -> set[str]:
        """The target's files and, for a target in a subject's folder, the files in its folder
        and those above it (up to the subject's folder) whose entities are a subset of its own."""
        if target not in self._companions:
            self._companions[target] = self._find_companions(target)
        return self._companions[target]

    def _find_companions(self, target: str) -> set[str]:
        found = {target} if target in self.files else set(self._under(target))
        subject = _subject_folder(target)
        try:
            name = parse_name(posixpath.basename(target))
        except ValueError:
            return found
        folder = posixpath.dirname(target)
        while subject and len(folder) >= len(subject):
            found |= {rel for rel, own in self._names(folder) if own.is_subset_of(name)}
            folder = posixpath.dirname(folder)
        return found

    def _names(self, folder: str) -> list[tuple[str, BidsName]]:
        """The files of a folder whose names parse as BIDS names, parsed once."""
        if folder not in self._parsed:
            self._parsed[folder] = [
                (rel, own) for rel in self.by_folder.get(folder, ()) if (own := _name(rel))
            ]
        return self._parsed[folder]


def _name(rel: str) -> BidsName | None:
    try:
        return parse_name(posixpath.basename(rel))
    except ValueError:
        return None
