"""The BIDS rules come from the BIDS schema that bidsschematools ships, not from a copy of our own.

The installed schema is the real one (``load_schema()``); a "new BIDS release" is that same schema
with additions, as plain dicts, handed to the same function that reads the installed one.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from bidsschematools.schema import load_schema

from nifti2parquet.sources.bids.ignore import IgnoreRules
from nifti2parquet.sources.bids.filenames import parse_name, sorted_entity_keys
from nifti2parquet.sources.bids.rules import BidsRules, bids_rules, rules_from_schema
from nifti2parquet.sources.bids.tree import wanted_name


@pytest.fixture(scope="module")
def schema() -> Any:
    return load_schema()


def test_the_rules_are_the_installed_schema(schema: Any) -> None:
    rules = bids_rules()
    assert rules is bids_rules()  # loaded once
    assert (rules.bids_version, rules.schema_version) == (
        schema["bids_version"],
        schema["schema_version"],
    )
    keys = tuple(
        schema["objects"]["entities"][name]["name"] for name in schema["rules"]["entities"]
    )
    assert rules.entities == keys
    assert rules.datatypes == tuple(d["value"] for d in schema["objects"]["datatypes"].values())
    assert rules.label.pattern == schema["objects"]["formats"]["label"]["pattern"]


def test_entity_order_is_the_schemas(schema: Any) -> None:
    """Every entity the schema knows, shuffled, sorts back into the schema's order."""
    keys = bids_rules().entities
    assert len(keys) >= 30
    assert sorted_entity_keys(set(keys) | {"zz", "aa"}) == (*keys, "aa", "zz")


def test_every_schema_image_suffix_belongs_to_a_schema_datatype(schema: Any) -> None:
    rules = bids_rules()
    suffixes = {s["value"] for s in schema["objects"]["suffixes"].values()}
    assert set(rules.image_suffixes) <= set(rules.datatypes)
    assert all(set(listed) <= suffixes for listed in rules.image_suffixes.values())
    checked = sum(len(listed) for listed in rules.image_suffixes.values())
    assert checked >= 50  # anat alone lists ~40 NIfTI suffixes


def test_suffix_ranks_follow_the_schemas_file_rules() -> None:
    """Column order by suffix (see test_bids_layouts for a whole dataset)."""
    rules = bids_rules()
    assert rules.suffix_rank("anat", "T1w") == 0
    assert rules.suffix_rank("anat", "MP2RAGE") < rules.suffix_rank("anat", "notasuffix")
    assert rules.suffix_rank("func", "bold") < rules.suffix_rank("func", "sbref")
    # no datatype folder (a derivative in its subject folder): ranked among all datatypes' suffixes
    assert rules.suffix_rank("", "T1w") < rules.suffix_rank("", "notasuffix")


def test_what_is_ignored_is_what_the_schema_marks_opaque(schema: Any) -> None:
    rules = bids_rules()
    raw, derivative = (
        schema["rules"]["directories"]["raw"],
        schema["rules"]["directories"]["derivative"],
    )
    opaque_raw = {r["name"] for r in raw.values() if r.get("opaque") and "name" in r}
    opaque_derivative = {r["name"] for r in derivative.values() if r.get("opaque") and "name" in r}
    assert set(rules.ignored_folders) == opaque_raw - {"derivatives"}  # ours: read as datasets
    assert set(rules.derivative_ignored_folders) == opaque_derivative
    assert {"sourcedata", "code", "stimuli"} <= set(rules.ignored_folders)


def test_readme_names_are_the_schemas(schema: Any) -> None:
    readme = schema["rules"]["files"]["common"]["core"]["README"]
    names = bids_rules().readme_names
    assert names == tuple(readme["stem"] + ext for ext in readme["extensions"])
    assert all(wanted_name(name) for name in names) and "README" in names


def new_release(schema: Any) -> dict[str, Any]:
    """The installed schema plus what a later BIDS release could add."""
    data = copy.deepcopy(schema.to_dict())
    objects, rules = data["objects"], data["rules"]
    objects["entities"]["fictional"] = {"name": "fict", "format": "label"}
    rules["entities"].insert(rules["entities"].index("description"), "fictional")
    objects["datatypes"]["xray"] = {"value": "xray"}
    objects["suffixes"]["radiograph"] = {"value": "radiograph"}
    rules["files"]["raw"]["xray"] = {
        "radiograph": {
            "suffixes": ["radiograph"],
            "extensions": [".nii.gz", ".nii", ".json"],
            "datatypes": ["xray"],
            "entities": {"subject": "required"},
        }
    }
    raw = rules["directories"]["raw"]
    raw["scratch"] = {"name": "scratch", "level": "optional", "opaque": True}
    raw["root"]["subdirs"].append("scratch")
    rules["files"]["common"]["core"]["README"]["extensions"].append(".adoc")
    data["bids_version"] = "9.9.9"
    return data


def test_a_new_bids_release_is_picked_up_without_a_code_change(schema: Any) -> None:
    installed = bids_rules()
    newer = rules_from_schema(new_release(schema))
    assert isinstance(newer, BidsRules) and newer.bids_version == "9.9.9"
    before_desc = installed.entities.index("desc")
    assert newer.entities == (
        *installed.entities[:before_desc],
        "fict",
        *installed.entities[before_desc:],
    )
    assert installed.entity_rank("fict") == len(installed.entities)  # unknown to the installed one
    assert "xray" in newer.datatypes and newer.image_suffixes["xray"] == ("radiograph",)
    assert newer.suffix_rank("xray", "radiograph") == 0
    assert "scratch" in newer.ignored_folders and "scratch" not in installed.ignored_folders
    path = "scratch/sub-01/anat/sub-01_T1w.nii.gz"
    assert IgnoreRules(rules=newer).reason(path).startswith("ignored: under scratch/")
    assert IgnoreRules(rules=installed).reason(path) == ""
    assert "README.adoc" in newer.readme_names
    # what did not change is read the same way
    assert newer.ignored_folders[: len(installed.ignored_folders)] == installed.ignored_folders
    assert newer.derivative_ignored_folders == installed.derivative_ignored_folders
    assert {k: v for k, v in newer.image_suffixes.items() if k != "xray"} == dict(
        installed.image_suffixes
    )


def test_entity_values_follow_the_schemas_label_format() -> None:
    label = bids_rules().label
    assert label.fullmatch("hi+res") and label.fullmatch("01")
    assert not label.fullmatch("a.b") and not label.fullmatch("a-b") and not label.fullmatch("")
    assert parse_name("sub-01_acq-hi+res_T1w.nii.gz").get("acq") == "hi+res"
    with pytest.raises(ValueError, match="is not an entity"):
        parse_name("sub-01_acq-h%r_T1w.nii.gz")
