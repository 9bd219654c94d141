"""What a BIDS table's columns and sidecar fields mean, as the BIDS schema defines them.

A ``name`` column means a person's name in a lab's own table, but a channel in ``channels.tsv``
(``MEG0113``, ``Fp1``), an electrode, an optode, or a label in a segmentation's lookup table
(``Left-Hippocampus``). The schema says which columns each kind of table has and which are
required, so the privacy scan can tell them apart, and ``--exclude-column`` can refuse to drop a
required one silently. From the schema (its own paths):

* ``rules.tabular_data.*``: each table rule's selectors (``suffix == "channels"``,
  ``datatype == "meg"``, ``path == "/participants.tsv"``) and its columns with their levels;
  the column's name is ``objects.columns[key].name``;
* segmentation lookup tables (``*_dseg.tsv``), which the schema describes in ``objects.columns``
  only: the columns keyed ``*__segmentations`` and those described as a label's.

Participant-level tables (participants, sessions, scans, phenotype, samples) hold one row per
person, session or scan: every column of those may hold a person's data, whatever the schema
defines. Sidecar fields (``objects.metadata``): which the schema defines (``Manufacturer`` is a
company, whatever its words), and which hold a path or a BIDS URI. The schema is read through
``bidsschematools`` and loaded once, on first use.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

PARTICIPANT_LEVEL = ("Participants", "Sessions", "Scans", "Phenotype", "Samples")
_SELECTOR = re.compile(r"""^(suffix|datatype|path|extension)\s*==\s*["']([^"']+)["']$""")


@dataclass(frozen=True)
class TableKind:
    """A table as the schema knows it: which rules describe it and what they define."""

    rules: tuple[str, ...]  # the schema's rule names (``MEGChannels``), empty when unknown
    participant_level: bool
    defined: frozenset[str]  # column names the schema defines for it
    required: frozenset[str]  # of those, the ones it requires

    def defines(self, column: str) -> bool:
        return column in self.defined


UNKNOWN = TableKind((), False, frozenset(), frozenset())


@dataclass(frozen=True)
class _Rule:
    name: str
    conditions: tuple[tuple[str, str], ...]  # (what, value) that must all hold
    columns: tuple[tuple[str, bool], ...]  # (column name, required)


def table_kind(path: str) -> TableKind:
    """The kind of the table at ``path`` (relative to the dataset's root; ``/`` separated)."""
    name = posixpath.basename(path)
    stem, extension = _split(name)
    rooted = "/" + name if _at_a_root(path) else "/" + path
    return _kind_of(
        stem.rsplit("_", 1)[-1],
        posixpath.basename(posixpath.dirname(path)),
        rooted if rooted in _rule_paths() else "",  # most paths no rule names: one kind for all
        extension,
        name == "participants.tsv",
    )


@lru_cache(maxsize=4096)
def _kind_of(
    suffix: str, datatype: str, path: str, extension: str, participants: bool
) -> TableKind:
    """The kind of a table of these facts: asked once per kind of table (a tree of a thousand
    sessions has a thousand ``scans.tsv``), not once per table."""
    facts = {"suffix": suffix, "datatype": datatype, "path": path, "extension": extension}
    matched = [r for r in _rules() if all(facts[what] == value for what, value in r.conditions)]
    if suffix == "dseg" and extension == ".tsv":
        matched.append(_segmentations())
    if not matched:
        return UNKNOWN
    names = tuple(r.name for r in matched)
    return TableKind(
        names,
        any(n in PARTICIPANT_LEVEL for n in names) or participants,
        frozenset(c for r in matched for c, _ in r.columns),
        frozenset(c for r in matched for c, required in r.columns if required),
    )


@cache
def _rule_paths() -> frozenset[str]:
    """The paths some rule names (``/participants.tsv``...)."""
    return frozenset(v for r in _rules() for what, v in r.conditions if what == "path")


def _split(name: str) -> tuple[str, str]:
    for extension in (".tsv.gz", ".tsv", ".csv", ".json"):
        if name.endswith(extension):
            return name[: -len(extension)], extension
    stem, extension = posixpath.splitext(name)
    return stem, extension


def _at_a_root(path: str) -> bool:
    """Directly in the dataset (``participants.tsv``) or in a derivative dataset's root."""
    parts = path.split("/")
    return len(parts) == 1 or (len(parts) == 3 and parts[0] == "derivatives")


@cache
def _rules() -> tuple[_Rule, ...]:
    from bidsschematools.schema import load_schema

    schema = load_schema()
    columns = schema["objects"]["columns"]
    found = []
    for group in schema["rules"]["tabular_data"].values():
        for name, rule in group.items():
            conditions = _conditions(rule.get("selectors") or ())
            if conditions is None:
                continue
            listed = tuple(
                (columns[key]["name"], _level(level) == "required")
                for key, level in (rule.get("columns") or {}).items()
                if key in columns
            )
            found.append(_Rule(name, conditions, listed))
    return tuple(found)


def _conditions(selectors: Any) -> tuple[tuple[str, str], ...] | None:
    """The selectors this reading understands; None for a rule with none of them (it would
    match every table). Selectors on sidecar values only add columns: they are left out."""
    conditions = []
    for selector in selectors:
        match = _SELECTOR.match(str(selector).strip())
        if match:
            what, value = match.groups()
            conditions.append((what, value))
    return tuple(conditions) if conditions else None


def _level(level: Any) -> str:
    if isinstance(level, str):
        return level
    return str(level.get("level", "")) if isinstance(level, Mapping) else ""


@cache
def _segmentations() -> _Rule:
    from bidsschematools.schema import load_schema

    columns = load_schema()["objects"]["columns"]
    names = tuple(
        (c["name"], False)
        for key, c in columns.items()
        if key.endswith("__segmentations") or re.search(r"\blabel\b", c["description"], re.I)
    )
    return _Rule("SegmentationLookup", (("suffix", "dseg"),), names)


# sidecar fields --------------------------------------------------------------------------------
_PATH_FORMATS = {
    "bids_uri",
    "dataset_relative",
    "participant_relative",
    "file_relative",
    "stimuli_relative",
}


@dataclass(frozen=True)
class FieldMeaning:
    """A sidecar field the schema defines (``objects.metadata``): known, and whether its value is
    a path or a BIDS URI (``AssociatedEmptyRoom``, ``IntendedFor``)."""

    name: str
    path: bool


def metadata_field(name: str) -> FieldMeaning | None:
    """What the schema says of the sidecar field ``name``; None when it does not define it."""
    return _metadata_fields().get(name)


@cache
def _metadata_fields() -> dict[str, FieldMeaning]:
    from bidsschematools.schema import load_schema

    fields = {}
    for entry in load_schema()["objects"]["metadata"].values():
        fields[entry["name"]] = FieldMeaning(entry["name"], bool(_formats(entry) & _PATH_FORMATS))
    return fields


def _formats(entry: Any) -> set[str]:
    """Every ``format`` named anywhere in a field's definition (its anyOf, its items...)."""
    found = set()
    if isinstance(entry, Mapping):
        for key, value in entry.items():
            if key == "format" and isinstance(value, str):
                found.add(value)
            else:
                found |= _formats(value)
    elif isinstance(entry, (list, tuple)):
        for value in entry:
            found |= _formats(value)
    return found
