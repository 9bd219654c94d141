"""BIDS file names: entities, suffix and extension, parsed by the BIDS rules; and column names.

A BIDS file name is ``<key>-<label>[_<key>-<label>...]_<suffix><extension>``. The extension starts
at the FIRST dot of the name (``.nii.gz``, ``.dtseries.nii``). Entity values stay the raw strings
of the name (``run-01`` is ``"01"``, never ``1``): they are labels, and zero padding is part of
them. Which entities exist, their order and the format of a value come from the BIDS schema
(:mod:`.rules`); entities the schema does not know are kept, after the known ones.

Column names made from BIDS names (``T1w`` → ``t1w``) are lower-case snake_case identifiers; see
:func:`snake_name`.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .rules import bids_rules

# Ours: the schema defines each known key and suffix but no format for an unknown one.
_KEY = re.compile(r"^[0-9A-Za-z]+$")
_SUFFIX = re.compile(r"^[0-9A-Za-z]+$")


@dataclass(frozen=True, slots=True)
class BidsName:
    """A parsed file name: entities in name order, suffix, extension (all as written)."""

    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str

    def get(self, key: str) -> str | None:
        return next((value for k, value in self.entities if k == key), None)

    def entity_keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.entities)

    def is_subset_of(self, other: BidsName) -> bool:
        """Every entity of this name is in ``other`` with the same value (the inheritance rule)."""
        theirs = dict(other.entities)
        return all(theirs.get(k) == v for k, v in self.entities)


def split_extension(filename: str) -> tuple[str, str]:
    """``("sub-01_T1w", ".nii.gz")``: the extension starts at the first dot."""
    stem, dot, rest = filename.partition(".")
    return stem, dot + rest


def parse_name(
    filename: str, shared: dict[str, tuple[tuple[str, str], ...]] | None = None
) -> BidsName:
    """Parse a BIDS file name (no folders); raise ValueError saying what is wrong with it.

    The parts are shared between names: a tree of a million files has a few thousand distinct
    entities (``sub-01``, ``ses-1``...), suffixes and extensions, so each is one object, not one
    per file (the parsed names are kept for every file while a source is read). ``shared``: the
    entities of names parsed before, by the text before the suffix: a session's files have the
    same, found with one look-up where a parse costs one per entity."""
    stem, extension = split_extension(filename)
    before, underscore, suffix = stem.rpartition("_")
    if not underscore and "-" in suffix:
        raise ValueError("no suffix after the entities (expected ..._<suffix>.<extension>)")
    suffix = _suffix(suffix)
    if not underscore:
        return BidsName((), suffix, sys.intern(extension))
    found = shared.get(before) if shared is not None else None
    if found is None:
        found = _entities(before.split("_"))
        if shared is not None:
            shared[before] = found
    return BidsName(found, suffix, sys.intern(extension))


@lru_cache(maxsize=1 << 12)
def _suffix(suffix: str) -> str:
    """The suffix, checked, one string per distinct suffix."""
    if not _SUFFIX.match(suffix):
        raise ValueError(f"suffix {suffix!r} is not alphanumeric")
    return sys.intern(suffix)


def _entities(tokens: list[str]) -> tuple[tuple[str, str], ...]:
    entities: list[tuple[str, str]] = []
    for token in tokens:
        entity = _entity(token)
        if any(k == entity[0] for k, _ in entities):
            raise ValueError(f"entity {entity[0]!r} appears twice")
        entities.append(entity)
    return tuple(entities)


@lru_cache(maxsize=1 << 16)
def _entity(token: str) -> tuple[str, str]:
    """``("sub", "01")`` for ``sub-01``, one shared pair per distinct token."""
    key, dash, value = token.partition("-")
    if not dash or not _KEY.match(key) or not bids_rules().label.fullmatch(value):
        raise ValueError(f"{token!r} is not an entity (<key>-<label>, letters and digits)")
    return sys.intern(key), value


def entity_sort_key(key: str) -> tuple[int, str]:
    """Known entities in the BIDS schema's order, then unknown ones alphabetically."""
    return (bids_rules().entity_rank(key), key)


def sorted_entity_keys(keys: set[str] | frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(keys, key=entity_sort_key))


def snake_name(text: str, fallback: str = "column") -> str:
    """A lower-case snake_case identifier for ``text``: ``"Handedness (EHI)"`` → ``handedness_ehi``.

    Accents are dropped (``"âge"`` → ``age``), every run of other characters becomes one ``_``, and
    a name that would start with a digit gets an ``x_`` prefix (``"1st_visit"`` → ``x_1st_visit``).
    CamelCase is only lower-cased (``T1w`` → ``t1w``, ``FLAIR`` → ``flair``), never split.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^0-9a-z]+", "_", ascii_text.lower()).strip("_")
    if not name:
        return fallback
    return f"x_{name}" if name[0].isdigit() else name
