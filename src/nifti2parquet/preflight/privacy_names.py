"""Person names in free text: the DICOM person-name form, and a given name and a family name.

Two shapes, with two severities:

* ``LAST^FIRST`` (the DICOM PN value representation, which converters copy into NIfTI headers and
  sidecars: ``SMITH^JOHN``, ``Smith^John^A``) is a person's name wherever it appears: identifying.
* A capitalised given name followed by a capitalised family name (``John Smith``) is a name to
  review. The given name must be in a list of common given names: the person-name data of Faker
  (a maintained, offline package: the first names of each of its locales, gathered from national
  name statistics), all locales but its generic ``en`` list, which is a word list with entries
  such as ``Brain``, ``Case`` or ``Long``. The list is built once, on first use.

A value a placeholder converters write instead of a name (``ANONYMOUS^``, ``Phantom^Test``) is not
a name.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from functools import cache

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_WORD = f"[{_UPPER}{_LOWER}][{_UPPER}{_LOWER}'-]*"
# LAST^FIRST[^MIDDLE[^PREFIX[^SUFFIX]]]: two components of letters at least, each starting with a
# capital (lower-case ``a^b`` is an expression in code, not a name).
PERSON_NAME_FORM = re.compile(
    rf"(?<![\w^])[{_UPPER}][{_UPPER}{_LOWER}' -]*\^[{_UPPER}][{_UPPER}{_LOWER}' -]*(?:\^[\w' .-]*)*"
)
_CAPITALISED = rf"[{_UPPER}][{_LOWER}]+(?:[-'][{_UPPER}][{_LOWER}]+)?"
_PARTICLE = r"(?:(?:de|van|von|van der|di|da|le|del|della|du|ter|ten) )?"
# a given name (tested against the list), an optional middle initial, a family name; written as
# a lookahead so that every capitalised word is tried as a given name ("Participant John Smith")
_PAIR = re.compile(
    rf"(?<![\w-])(?=(({_CAPITALISED})[ \t]+(?:[{_UPPER}]\.[ \t]+)?"
    rf"{_PARTICLE}({_CAPITALISED})(?![\w-])))"
)
_PLACEHOLDERS = {
    "anon",
    "anonymous",
    "anonymized",
    "anonymised",
    "deidentified",
    "removed",
    "unknown",
    "phantom",
    "test",
    "dummy",
    "none",
    "patient",
    "subject",
    "volunteer",
    "qa",
}
_NOT_FAMILY = {"and", "or", "et", "und", "the"}


def person_name_forms(text: str) -> Iterator[str]:
    """Every ``LAST^FIRST`` value in ``text`` that is not a placeholder."""
    if "^" not in text:
        return
    for match in PERSON_NAME_FORM.finditer(text):
        parts = [p.strip() for p in match.group(0).split("^") if p.strip()]
        words = {w.lower() for p in parts for w in re.split(r"[\s-]+", p) if w}
        if len(parts) >= 2 and not words <= _PLACEHOLDERS:
            yield match.group(0).strip()


def name_pairs(text: str) -> Iterator[str]:
    """Every ``Given Family`` pair in ``text`` whose given name is a common given name."""
    if not any(map(str.isupper, text)):
        return
    for match in _PAIR.finditer(text):  # the list is loaded only when a pair is there to check
        pair, given, family = match.group(1), match.group(2), match.group(3)
        if given.split("-")[0] in given_names() and family.lower() not in _NOT_FAMILY:
            yield pair


@cache
def given_names() -> frozenset[str]:
    """The given names of Faker's person providers (every locale but the generic ``en``)."""
    import faker.providers.person as person

    names: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        if module.name == "en":
            continue
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female"):
            listed = provider.__dict__.get(attribute)
            if isinstance(listed, dict):
                listed = listed.keys()
            if isinstance(listed, (list, tuple, set, frozenset, type({}.keys()))):
                names.update(n for n in listed if len(n) >= 3 and n.isalpha() and n[0].isupper())
    return frozenset(names)
