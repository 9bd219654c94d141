"""What makes images of one kind different images: the entities that split a kind into columns.

A kind of image is first its derivative pipeline (and ``desc``), suffix and task. Within such a
kind, some entities only repeat the same image (``run``; ``split`` and ``chunk``, pieces of one
acquisition), and those stay together in one list column, in path order. Every other entity the
BIDS schema defines (``space``, ``inv``, ``part``, ``echo``, ``acq``, ``rec``, ``dir``, ``desc``
of raw data, ``res``, ``label``...) says what the image *is*: a T1w-space run and an MNI-space
run are different images, as are the magnitude and the phase of an inversion. When such an entity
takes more than one value among the images of a kind (a file without it counts as one value), it
becomes part of the kind, so one column never mixes them: ``bold_nback`` becomes
``bold_nback_space_mni152nlin2009casym`` and ``bold_nback_space_t1w``. An entity with one value
in the whole dataset (every T1w is ``acq-mprage``) names no column, and entities the schema does
not define never split a kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .column_names import KindKey
from .filenames import BidsName, entity_sort_key
from .rules import bids_rules

# Entities that tell a row and a file apart, or repeat one kind of image: never split a kind.
SAME_IMAGE = frozenset({"sub", "ses", "task", "run", "split", "chunk"})


def splitting_entities(kinds: Iterable[tuple[KindKey, BidsName]]) -> dict[KindKey, tuple[str, ...]]:
    """For each kind (without entities), the entity keys whose values differ among its images,
    in file-name order."""
    known = set(bids_rules().entities) - SAME_IMAGE
    values: dict[KindKey, dict[str, set[str | None]]] = defaultdict(lambda: defaultdict(set))
    names: dict[KindKey, list[BidsName]] = defaultdict(list)
    for kind, name in kinds:
        names[kind].append(name)
    for kind, group in names.items():
        skip = {"desc"} if kind.pipeline else set()  # a derivative's desc is in the kind already
        keys = {k for name in group for k in name.entity_keys()} & known - skip
        for key in keys:
            values[kind][key].update(name.get(key) for name in group)
    return {
        kind: tuple(sorted((k for k, v in values[kind].items() if len(v) > 1), key=entity_sort_key))
        for kind in names
    }


def kind_entities(name: BidsName, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The image's values of the splitting ``keys`` ("" when it has none)."""
    return tuple((key, name.get(key) or "") for key in keys)


def entity_labels(kind: KindKey) -> tuple[str, ...]:
    """``("space-T1w", "no res")``: the kind's splitting entities as a reader reads them."""
    return tuple(f"{k}-{v}" if v else f"no {k}" for k, v in kind.entities)


def kind_description(kind: KindKey, datatypes: tuple[str, ...]) -> str:
    """``derivatives/fmriprep, desc preproc: BIDS suffix bold, task nback, space T1w (func)``."""
    what = f"BIDS suffix {kind.suffix}"
    if kind.task:
        what += f", task {kind.task}"
    what += "".join(f", {k} {v}" if v else f", no {k}" for k, v in kind.entities)
    if kind.pipeline:
        what = (
            f"derivatives/{kind.pipeline}"
            + (f", desc {kind.desc}" if kind.desc else "")
            + f": {what}"
        )
    return what + (f" ({', '.join(d for d in datatypes if d)})" if any(datatypes) else "")
