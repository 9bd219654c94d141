"""BIDS file names and the column names made from them."""

from __future__ import annotations

import pytest

from nifti2parquet.sources.bids.filenames import (
    BidsName,
    parse_name,
    snake_name,
    sorted_entity_keys,
    split_extension,
)
from nifti2parquet.sources.bids.column_names import KindKey, NameRegistry, kind_names


def test_entities_stay_raw_strings() -> None:
    name = parse_name("sub-M2001_ses-01_task-naming40_run-01_bold.nii.gz")
    assert name.entities == (("sub", "M2001"), ("ses", "01"), ("task", "naming40"), ("run", "01"))
    assert (name.suffix, name.extension) == ("bold", ".nii.gz")


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("sub-01_T1w.nii.gz", ".nii.gz"),
        ("sub-01_T1w.nii", ".nii"),
        ("sub-01_task-rest_space-fsLR_den-91k_bold.dtseries.nii", ".dtseries.nii"),
        ("sub-01_T1w.NII.GZ", ".NII.GZ"),
        ("task-rest_bold.json", ".json"),
    ],
)
def test_extension_starts_at_first_dot(filename: str, extension: str) -> None:
    assert split_extension(filename)[1] == extension
    assert parse_name(filename).extension == extension


def test_unknown_entities_are_kept_in_name_order() -> None:
    name = parse_name("sub-01_foo-bar_acq-hi+res_T1w.nii.gz")
    assert name.entity_keys() == ("sub", "foo", "acq")
    assert name.get("foo") == "bar" and name.get("acq") == "hi+res"


def test_metadata_names_without_subject_parse() -> None:
    assert parse_name("T1w.json") == BidsName((), "T1w", ".json")
    assert parse_name("participants.tsv").suffix == "participants"


@pytest.mark.parametrize(
    ("filename", "why"),
    [
        ("t1_mprage.nii.gz", "'t1' is not an entity"),
        ("sub-01_run-1_run-2_T1w.nii.gz", "entity 'run' appears twice"),
        ("sub-01.nii.gz", "no suffix"),
        ("sub-01_acq-a_b-c_T1-w.nii", "suffix 'T1-w' is not alphanumeric"),
        ("sub-01_acq-a.b_T1w.nii", "suffix 'acq-a' is not alphanumeric"),
        ("dataset_description.json", "'dataset' is not an entity"),
    ],
)
def test_invalid_names_say_why(filename: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_name(filename)


def test_subset_rule() -> None:
    image = parse_name("sub-01_ses-1_task-rest_run-01_bold.nii.gz")
    assert parse_name("task-rest_bold.json").is_subset_of(image)
    assert parse_name("sub-01_task-rest_bold.json").is_subset_of(image)
    assert not parse_name("task-naming_bold.json").is_subset_of(image)
    assert not parse_name("sub-01_acq-x_bold.json").is_subset_of(image)


def test_entity_order_is_bids_then_unknown_alphabetically() -> None:
    keys = {"run", "zeta", "sub", "desc", "task", "alpha", "ses", "acq", "space"}
    assert sorted_entity_keys(keys) == (
        "sub", "ses", "task", "acq", "run", "space", "desc", "alpha", "zeta",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "snake"),
    [
        ("T1w", "t1w"),
        ("FLAIR", "flair"),
        ("Handedness (EHI)", "handedness_ehi"),
        ("WAB_AQ", "wab_aq"),
        ("âge", "age"),
        ("1st visit", "x_1st_visit"),
        ("lesion-masks", "lesion_masks"),
        ("%", "column"),
    ],
)
def test_snake_names(text: str, snake: str) -> None:
    assert snake_name(text) == snake


def test_kind_names() -> None:
    kinds = [
        KindKey("", "", "T1w", ""),
        KindKey("", "", "bold", "naming40"),
        KindKey("", "", "bold", "rest"),
        KindKey("", "", "sbref", "rest"),
        KindKey("lesion_masks", "lesion", "mask", ""),
        KindKey("fMRIPrep", "preproc", "bold", "rest"),
    ]
    names = kind_names(kinds, NameRegistry(("subject_id", "session_id")))
    assert [names[k] for k in kinds] == [
        "t1w",
        "bold_naming40",
        "bold_rest",
        "sbref_rest",
        "lesion_masks_lesion_mask",
        "fmriprep_preproc_bold_rest",
    ]


def test_kind_name_collisions_get_numbers_in_key_order() -> None:
    """``task-Rest`` and ``task-rest`` both snake to ``bold_rest``: sorted keys decide who wins."""
    kinds = [KindKey("", "", "bold", "rest"), KindKey("", "", "bold", "Rest")]
    names = kind_names(kinds, NameRegistry())
    assert names == {KindKey("", "", "bold", "Rest"): "bold_rest", kinds[0]: "bold_rest_2"}


def test_a_kind_never_takes_an_info_name() -> None:
    """A kind named like another kind's ``_info`` column is renumbered, with its own info."""
    registry = NameRegistry()
    names = kind_names([KindKey("", "", "bold", ""), KindKey("", "", "bold", "info")], registry)
    assert names[KindKey("", "", "bold", "")] == "bold"
    assert names[KindKey("", "", "bold", "info")] == "bold_info_2"
    assert registry.taken("bold_info_2_info")


def test_registry_prefix_then_numbers() -> None:
    registry = NameRegistry(("age",))
    assert registry.claim("age", "session") == "session_age"
    assert registry.claim("age", "session") == "age_2"
    assert registry.claim("sex", "session") == "sex"
