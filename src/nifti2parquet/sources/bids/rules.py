"""The BIDS rules this reader follows, read from the BIDS schema that ``bidsschematools`` ships.

Nothing here is a hand-kept copy of BIDS: a new BIDS release is a new ``bidsschematools``, and its
entities, datatypes, suffixes and ignored folders are picked up without a code change. From the
schema (the names are its own paths):

* entity keys in file-name order: ``rules.entities`` (long names) → ``objects.entities[*].name``;
* the format of an entity value: ``objects.formats.label.pattern`` (an ``index`` is a subset);
* datatypes, in the schema's order: ``objects.datatypes[*].value``;
* for each datatype, the suffixes its NIfTI files may have, in the order the schema lists them:
  the ``rules.files.raw`` and then ``rules.files.deriv`` rules with a ``.nii``/``.nii.gz``
  extension;
* folders BIDS does not index: the ``opaque`` ones of ``rules.directories.raw.root`` (at the top of
  the dataset) and of ``rules.directories.derivative.root`` (at the top of each
  ``derivatives/<pipeline>/``);
* the README's names: ``rules.files.common.core.README`` (stem and extensions).

Ours, because the schema does not say it: the raw dataset's ``derivatives/`` is read (each
pipeline as a dataset of its own, see ``--no-derivatives``) although the schema marks it opaque;
names starting with a dot are ignored (the BIDS validator's convention; see :mod:`.ignore`).

The schema is loaded once, on first use (:func:`bids_rules`), so commands that never read a BIDS
dataset never import ``bidsschematools``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

NIFTI_EXTENSIONS = (".nii", ".nii.gz")
READ_AS_DATASETS = ("derivatives",)  # opaque to the schema at a raw root; read by us


@dataclass(frozen=True)
class BidsRules:
    """What the BIDS schema says, in the shapes this reader uses."""

    bids_version: str
    schema_version: str
    entities: tuple[str, ...]  # entity keys (sub, ses, ...) in file-name order
    label: re.Pattern[str]  # an entity value (fullmatch): the schema's label format
    datatypes: tuple[str, ...]
    image_suffixes: Mapping[str, tuple[str, ...]]  # datatype -> NIfTI suffixes, schema order
    ignored_folders: tuple[str, ...]  # opaque at the top of the dataset (derivatives/ aside)
    derivative_ignored_folders: tuple[str, ...]  # opaque at the top of derivatives/<pipeline>/
    readme_names: tuple[str, ...]

    def entity_rank(self, key: str) -> int:
        """The position of ``key`` in file names; unknown keys after every known one."""
        return _ranks(self.entities).get(key, len(self.entities))

    def suffix_rank(self, datatype: str, suffix: str) -> int:
        """The position of ``suffix`` among the NIfTI suffixes of ``datatype``, as the schema lists
        them; for a datatype without rules (a derivative outside a datatype folder), among all."""
        order = self.image_suffixes.get(datatype) or _all(self.image_suffixes.values())
        return _ranks(order).get(suffix, len(order))


@cache
def bids_rules() -> BidsRules:
    """The rules of the BIDS schema installed with ``bidsschematools``, loaded on first use."""
    from bidsschematools.schema import load_schema

    return rules_from_schema(load_schema())


def rules_from_schema(schema: Mapping[str, Any]) -> BidsRules:
    """:class:`BidsRules` from a loaded schema (``load_schema()``, or the same as plain dicts)."""
    objects, rules = schema["objects"], schema["rules"]
    directories = rules["directories"]
    readme = rules["files"]["common"]["core"]["README"]
    return BidsRules(
        bids_version=str(schema["bids_version"]),
        schema_version=str(schema["schema_version"]),
        entities=tuple(objects["entities"][name]["name"] for name in rules["entities"]),
        label=re.compile(objects["formats"]["label"]["pattern"]),
        datatypes=tuple(d["value"] for d in objects["datatypes"].values()),
        image_suffixes=_image_suffixes(rules["files"]["raw"], rules["files"]["deriv"]),
        ignored_folders=_opaque(directories["raw"], skip=READ_AS_DATASETS),
        derivative_ignored_folders=_opaque(directories["derivative"]),
        readme_names=tuple(readme["stem"] + ext for ext in readme["extensions"]),
    )


def _image_suffixes(*groups: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """For each datatype, the suffixes of the file rules that allow a NIfTI extension, in order."""
    found: dict[str, list[str]] = {}
    for group in groups:
        for rules in group.values():
            for rule in rules.values():
                if not any(str(e).endswith(NIFTI_EXTENSIONS) for e in rule.get("extensions", ())):
                    continue
                for datatype in rule.get("datatypes") or ():
                    listed = found.setdefault(datatype, [])
                    listed += [s for s in rule.get("suffixes", ()) if s not in listed]
    return {datatype: tuple(suffixes) for datatype, suffixes in found.items()}


def _opaque(directories: Mapping[str, Any], skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The root's subfolders with a fixed name that the schema marks ``opaque``."""
    names = []
    for sub in directories["root"]["subdirs"]:
        rule = directories.get(sub) if isinstance(sub, str) else None
        if rule and rule.get("opaque") and "name" in rule and rule["name"] not in skip:
            names.append(rule["name"])
    return tuple(names)


@cache
def _ranks(order: tuple[str, ...]) -> dict[str, int]:
    return {value: i for i, value in enumerate(order)}


def _all(orders: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for order in orders for s in order))
