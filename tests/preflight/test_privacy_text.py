"""The free-text rules: every written date form, birth keywords and names near a date, person names
(the DICOM person-name form, a common given name with a family name), e-mail and phone shapes;
and what is not a finding (software versions, channel names, FreeSurfer file names)."""

from __future__ import annotations

import pytest

from nifti2parquet.preflight.privacy_names import given_names, name_pairs, person_name_forms
from nifti2parquet.preflight.privacy_rules import PrivacyRules
from nifti2parquet.preflight.privacy_text import FREE_TEXT, HEADER_TEXT, Scope, find_in_text

RULES = PrivacyRules()


def found(text: str, rules: PrivacyRules = RULES, scope: Scope = FREE_TEXT) -> set[tuple]:
    return {(m.kind, m.severity) for m in find_in_text(text, rules, scope)}


DATE_FORMS = [
    "1980-05-17",
    "17.05.1980",
    "05/17/1980",
    "17/05/1980",
    "17-05-1980",
    "19800517",
    "17 May 1980",
    "17-May-1980",
    "May 17, 1980",
    "17th of May 1980".replace(" of", ""),
    "17. Mai 1980",
    "17 mars 1980",
    "2019-03-14T09:12:44",
]


@pytest.mark.parametrize("date", DATE_FORMS)
def test_every_written_date_form_is_a_date_to_review(date: str) -> None:
    assert found(f"visit on {date}") == {("date or time", "review")}


@pytest.mark.parametrize("date", DATE_FORMS)
@pytest.mark.parametrize(
    "template",
    ["born {}", "DOB {}", "D.O.B.: {}", "geb. {}", "née le {}", "date of birth {}", "{} (birth)"],
)
def test_a_date_near_a_birth_keyword_is_a_date_of_birth(date: str, template: str) -> None:
    assert ("date of birth", "identifying") in found(template.format(date))


def test_a_date_near_a_name_is_identifying() -> None:
    assert found("John Smith 17.05.1980") == {
        ("name", "review"),
        ("date or time", "identifying"),
    }
    assert ("date or time", "identifying") in found("SMITH^JOHN 20190314")
    listed = PrivacyRules(known=("quixley",))
    assert ("date or time", "identifying") in found("Quixley scan 2019-03-14", listed)
    # far from any name, the same date is only to review
    far = "John Smith" + " was here" * 8 + " 2019-03-14"
    assert ("date or time", "review") in found(far)


def test_the_issue_examples() -> None:
    notes = "subject John Smith, born 1980-05-17, moved a lot"
    assert found(notes) == {("name", "review"), ("date of birth", "identifying")}
    assert found("DOB 17.05.1980") == {("date of birth", "identifying")}
    header = found("John Smith DOB 17.05.1980", scope=HEADER_TEXT)
    assert ("date of birth", "identifying") in header and ("name", "review") in header


@pytest.mark.parametrize("value", ["SMITH^JOHN", "Smith^John", "DOE^JANE^A", "O'Brien^Anna"])
def test_the_dicom_person_name_form_is_identifying_anywhere(value: str) -> None:
    assert list(person_name_forms(value)) == [value]
    assert ("name", "identifying") in found(f"patient {value} scanned")
    assert ("name", "identifying") in found(value, scope=HEADER_TEXT)


@pytest.mark.parametrize("value", ["x = a^b", "ANONYMOUS^", "Phantom^Test", "2^10", "Anonymized^"])
def test_placeholders_and_code_are_not_person_names(value: str) -> None:
    assert list(person_name_forms(value)) == []


def test_a_given_name_and_a_family_name_are_to_review() -> None:
    assert "Walburga" in given_names() and "Brain" not in given_names()
    assert list(name_pairs("Participant Walburga Quenby (w@x.org)")) == ["Walburga Quenby"]
    assert list(name_pairs("John F. Kennedy; Anna van der Berg")) == [
        "John F. Kennedy",
        "Anna van der Berg",
    ]
    for text in ("The Brain Stem", "Left Hippocampus", "Siemens Prisma", "Imaging Core"):
        assert list(name_pairs(text)) == [], text
    assert found("contact Maria Garcia") == {("name", "review")}
    assert found("contact Maria Garcia", scope=Scope(names=False)) == set()


def test_contacts_and_ids() -> None:
    assert found("mail x.y@example.org") == {("e-mail address", "identifying")}
    for phone in ("+44 20 7946 0958", "(415) 555-0199", "415-555-0199", "030 1234567"):
        assert found(f"call {phone}") == {("phone number", "identifying")}, phone
    assert found("id 88123456", scope=HEADER_TEXT) == {("ID-like number", "review")}
    assert found("id 88123456") == set()  # ID-like numbers only in header text, as before


@pytest.mark.parametrize(
    "text",
    [
        "fsaverage-5120-5120-5120-bem",
        "MEG0113",
        "Fp1",
        "Left-Hippocampus",
        "dcm2niix v1.0.20211006",
        "6.0.5:9e026117",
        "sub-01 ses-02 task-rest run-01 bold",
        "1 2 3 4 5 6 7 8 9 10",
        "0.5 0.25 0.125 0.0625",
    ],
)
def test_ordinary_text_is_not_a_finding(text: str) -> None:
    assert found(text) == set()


def test_a_listed_identifier_is_identifying_in_any_text() -> None:
    rules = PrivacyRules(known=("xanthippe", "mrn5550123"))
    for scope in (FREE_TEXT, HEADER_TEXT, Scope(names=False, contacts=None, dates=False)):
        assert ("listed name or ID", "identifying") in found("scan of Xanthippe", rules, scope)
    assert ("listed name or ID", "identifying") in found("id=MRN5550123;", rules)
    assert found("Xanthippes", rules) == set()  # whole words only
