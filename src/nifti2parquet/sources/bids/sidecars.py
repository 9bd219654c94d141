"""Sidecar metadata of each image by the BIDS inheritance principle; bval/bvec likewise.

A metadata file applies to an image when it sits in the image's folder or one of its ancestors
(up to the root of the image's dataset: the raw root, or ``derivatives/<pipeline>/``), has the
same suffix, and its entities are a subset of the image's. JSON sidecars are merged top-down: the
dataset level first, then the subject, session and file levels, a deeper value replacing a higher
one. When two files apply at one level (not allowed by BIDS, but found in the wild), the one with
fewer entities is merged first. For ``.bval``/``.bvec`` the deepest, most specific file wins.

A sidecar that is not valid JSON (or not a JSON object) is skipped with a warning naming it; the
image is still built with whatever else applies.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa

from ...common.errors import Problem
from ...common.tables import decode_text
from .tree import ImageFile, MetaFile

# (JSON key, column/field name, Arrow type): acquisition fields kept typed, next to the full JSON.
TYPED_FIELDS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("RepetitionTime", "repetition_time", pa.float64()),
    ("EchoTime", "echo_time", pa.float64()),
    ("FlipAngle", "flip_angle", pa.float64()),
    ("MagneticFieldStrength", "magnetic_field_strength", pa.float64()),
    ("Manufacturer", "manufacturer", pa.string()),
    ("PhaseEncodingDirection", "phase_encoding_direction", pa.string()),
    ("TaskName", "task_name", pa.string()),
)


@dataclass(frozen=True, slots=True)
class Sidecar:
    """What the metadata files say about one image."""

    text: str | None  # the merged JSON, or None when no sidecar applies
    typed: tuple[Any, ...]  # TYPED_FIELDS values (None where absent or not of that type)
    bval: str | None
    bvec: str | None
    events: str | None = None  # the task's events.tsv text (functional images)


# The kinds of metadata file an image inherits: (extension, suffix; None: the image's own)
KINDS: dict[str, tuple[str, str | None]] = {
    "json": (".json", None),
    "bval": (".bval", None),
    "bvec": (".bvec", None),
    "events": (".tsv", "events"),
}


class Inherited(NamedTuple):
    """The metadata files that apply to one image, by kind (its fields are ``KINDS``' names, in
    order: a test holds them to it), top level first."""

    json: list[MetaFile]
    bval: list[MetaFile]
    bvec: list[MetaFile]
    events: list[MetaFile]


class MetadataIndex:
    """Metadata files by folder, extension and suffix, to find the ones that apply to an image.

    Each image looks up only the files of its folders with its extension and suffix (already in
    merge order), never every file of a folder, so the cost per image stays the same however
    many sidecars sit next to it."""

    def __init__(self, files: Iterable[MetaFile]) -> None:
        # Keyed by (folder, extension, suffix): a file's root follows from its folder. One
        # string per folder, shared by the keys and the set of folders that hold any (most
        # folders of an image's chain hold none: one look-up each, not one per kind). A place
        # of one file (most of them: a sidecar per image) holds the file itself, not a tuple of
        # one. No chain of folders is kept per folder: images come in path order, so the last
        # chain serves the next image.
        folders: dict[str, str] = {}
        by_place: dict[tuple[str, str, str], list[MetaFile]] = defaultdict(list)
        for f in files:
            folder = f.folder
            folder = folders.setdefault(folder, folder)
            by_place[(folder, f.name.extension, f.name.suffix)].append(f)
        self._folders = frozenset(folders)
        self._by_place: dict[tuple[str, str, str], MetaFile | tuple[MetaFile, ...]] = {
            place: found[0] if len(found) == 1 else _merge_order(found)
            for place, found in by_place.items()
        }
        self._last: tuple[str, tuple[str, ...]] = ("", ("",))  # a folder and its chain

    def inherited(self, image: ImageFile) -> Inherited:
        """Every metadata file that applies to ``image``, by kind, top level first: one walk up
        its folders for the four kinds (an image's sidecars are looked up twice in a build, to
        read them and to merge them: a walk per kind was a tenth of a large tree's planning)."""
        found: tuple[list[MetaFile], ...] = ([], [], [], [])
        own = image.name.suffix
        for folder in self._ancestors(image.folder, image.root):
            if folder not in self._folders:
                continue
            for kind, (extension, suffix) in enumerate(KINDS.values()):
                place = self._by_place.get((folder, extension, suffix or own))
                if place is None:
                    continue
                for f in (place,) if isinstance(place, MetaFile) else place:
                    if f.name.is_subset_of(image.name):
                        found[kind].append(f)
        return Inherited._make(found)

    def _ancestors(self, folder: str, root: str) -> tuple[str, ...]:
        """The folder's chain; a sibling of the last folder (``anat/`` after ``func/``) shares
        all of it but the last."""
        last, chain = self._last
        if last != folder:
            if folder != root and len(chain) > 1 and chain[-2] == _parent(folder):
                chain = (*chain[:-1], folder)
            else:
                chain = tuple(_ancestors(folder, root))
            self._last = (folder, chain)
        return chain

    def needed(self, images: Iterable[ImageFile]) -> dict[str, MetaFile]:
        """Every metadata file some image inherits from (the only ones worth reading), by path:
        a path keeps its hash, a file's record would work its hash out at every image."""
        return {f.rel: f for image in images for kind in self.inherited(image) for f in kind}


def _merge_order(files: list[MetaFile]) -> tuple[MetaFile, ...]:
    """Files of one place, fewer entities first (merged first), then by path."""
    return tuple(sorted(files, key=lambda f: (len(f.name.entities), f.rel)))


def _parent(folder: str) -> str:
    """``posixpath.dirname`` of a relative folder, in a fifth of its time (asked for each image)."""
    return folder.rpartition("/")[0]


def _ancestors(folder: str, root: str) -> list[str]:
    """``root`` and every folder from it down to ``folder``, top first."""
    chain = [folder]
    while folder != root and folder:
        folder = _parent(folder)
        chain.append(folder)
    return list(reversed(chain))


class SidecarReader:
    """Merges the metadata of images from the files' contents; warns once per bad file."""

    def __init__(self, index: MetadataIndex, contents: Mapping[str, bytes | str]) -> None:
        self.index = index
        self.contents = contents
        self.warnings: list[Problem] = []
        self._json: dict[str, dict[str, Any] | None] = {}
        self._text: dict[str, str | None] = {}
        self._warned: set[str] = set()
        self._typed: dict[tuple[str, ...], tuple[Any, ...]] = {}  # one tuple per protocol
        # each JSON sidecar that applies to an image read here: [its entry, the images' paths...]
        # (the published sidecars' records, made after the index is let go)
        self.described: dict[str, list[Any]] = {}

    def sidecar(self, image: ImageFile) -> Sidecar:
        inherited = self.index.inherited(image)
        merged: dict[str, Any] = {}
        sources = 0
        for f in inherited.json:
            self.described.setdefault(f.rel, [f.entry]).append(image.rel)
            data = self._load_json(f.rel, keep=not _own(f, image))
            if data is not None:
                merged.update(data)
                sources += 1
        text = json.dumps(merged, ensure_ascii=False) if sources else None
        typed = self._shared(tuple(_typed(merged.get(key), t) for key, _, t in TYPED_FIELDS))
        bval, bvec = self._nearest(inherited.bval), self._nearest(inherited.bvec)
        return Sidecar(text, typed, bval, bvec, self._nearest(inherited.events))

    def _shared(self, typed: tuple[Any, ...]) -> tuple[Any, ...]:
        """One tuple for the images of an acquisition protocol (a study has a few): keyed by the
        values' text, so 0.0 and -0.0 stay apart."""
        return self._typed.setdefault(tuple(map(repr, typed)), typed)

    def _nearest(self, applicable: list[MetaFile]) -> str | None:
        """The deepest, most specific readable file's text."""
        for f in reversed(applicable):
            text = self._load_text(f.rel)
            if text is not None:
                return text
        return None

    def _load_text(self, rel: str, keep: bool = True) -> str | None:
        """The file's text; ``keep``: for the next image too (a file only one image reads is
        decoded when needed and let go, so a tree's sidecars are not all held at once)."""
        if rel in self._text:
            return self._text[rel]
        data = self.contents.get(rel)
        text = None
        if isinstance(data, bytes):
            text, warnings = decode_text(data, rel)
            self._warn_once(rel, warnings)
        else:
            self._warn_once(rel, [_warning(rel, f"metadata file not read: {data or 'not found'}")])
        if keep:
            self._text[rel] = text
        return text

    def _load_json(self, rel: str, keep: bool = True) -> dict[str, Any] | None:
        if rel in self._json:
            return self._json[rel]
        data = self._parse_json(rel, keep)
        if keep:
            self._json[rel] = data
        return data

    def _parse_json(self, rel: str, keep: bool) -> dict[str, Any] | None:
        text = self._load_text(rel, keep)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"not valid JSON ({exc.msg} at line {exc.lineno}); sidecar skipped"
            self._warn_once(rel, [_warning(rel, message)])
            return None
        if not isinstance(data, dict):
            self._warn_once(rel, [_warning(rel, "not a JSON object; sidecar skipped")])
            return None
        return data

    def _warn_once(self, rel: str, warnings: list[Problem]) -> None:
        """A file read again (one not kept) warns once, as a kept one does."""
        if warnings and rel not in self._warned:
            self._warned.add(rel)
            self.warnings += warnings


def _warning(rel: str, message: str) -> Problem:
    return Problem(rel, message, "warning")


def _own(f: MetaFile, image: ImageFile) -> bool:
    """The image's own sidecar (its folder, its entities): no other image of the tree reads it
    but one of the same name with another extension (``.nii`` beside ``.nii.gz``)."""
    return f.name.entities == image.name.entities and f.folder == image.folder


def _typed(value: Any, arrow_type: pa.DataType) -> Any:
    """The value as float or string; None when absent or not of that kind (the JSON keeps it)."""
    if value is None:
        return None
    if pa.types.is_floating(arrow_type):
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None
