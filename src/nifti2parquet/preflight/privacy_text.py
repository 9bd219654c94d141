"""Free text: what a string says about a person, wherever it is written.

One set of rules reads every piece of text the scan meets: a NIfTI header's text fields, a sidecar's
string values, a table's cells, a line of a README or a script, a DICOM attribute, a path. What it
finds, and how severe it is:

* a name or ID from the user's list (``--known-identifiers``): identifying;
* a name in the DICOM person-name form (``SMITH^JOHN``): identifying;
* a common given name followed by a family name (``John Smith``): review (:mod:`.privacy_names`);
* a date in a common written form (``1980-05-17``, ``17.05.1980``, ``05/17/1980``, ``19800517``,
  ``17 May 1980``, ``May 17, 1980``, ``17. Mai 1980``): identifying as a *date of birth* when a
  birth keyword is near (born, birth, DOB, geb., née...), identifying when a name is near (one of
  the three above), review otherwise;
* an e-mail address, a phone number (a phone-like shape: ``+44 20 7946 0958``,
  ``(415) 555-0199``, ``030 1234567``): identifying, or review where the scope says so;
* an ID-like number (5 or more digits) where the scope asks for it (header text): review;
* the user's rules-file patterns, with the severity the file gives them.

At most one finding per kind and severity is reported for a piece of text. Values are never kept:
the scan masks each match (:func:`~.privacy_rules.mask`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .privacy_names import name_pairs, person_name_forms
from .privacy_rules import (
    BIRTH,
    DATE,
    EMAIL,
    ID_NUMBER,
    LISTED,
    LISTED_PATTERN,
    NAME,
    PHONE,
    PrivacyRules,
    Severity,
)

_MONTHS = (
    "jan(?:uary|uar|vier)?|feb(?:ruary|ruar)?|f[ée]vrier|mar(?:ch|s)?|m[äa]rz|apr(?:il)?|avril|"
    "may|mai|june?|juni|juin|july?|juli|juillet|aug(?:ust)?|ao[ûu]t|sep(?:t|tember|tembre)?|"
    "oct(?:ober|obre)?|okt(?:ober)?|nov(?:ember|embre)?|dec(?:ember)?|dez(?:ember)?|d[ée]cembre"
)
_YEAR = r"(?:19|20)\d\d"
_DATE_PATTERNS = (
    # ISO 8601, with an optional time: 1980-05-17, 2019-03-14T09:12:44
    rf"(?<!\d){_YEAR}-[01]\d-[0-3]\d(?:[T ][0-2]\d:?[0-5]\d(?::?[0-5]\d(?:\.\d+)?)?)?",
    # day first or month first with dots, slashes or dashes: 17.05.1980, 05/17/1980, 17-05-1980
    rf"(?<![\w.])[0-3]?\d[./-][01]?\d[./-]{_YEAR}(?![\d.])",
    # compact: 19800517 (month and day checked below), standing alone (not a build stamp glued
    # to a version: VE11C_LATEST_20160120)
    rf"(?<![\w.]){_YEAR}[01]\d[0-3]\d(?!\d)",
    # month names: 17 May 1980, 17-May-1980, 17. Mai 1980, May 17, 1980
    rf"(?i:(?<!\w)[0-3]?\d(?:st|nd|rd|th)?\.?[ -](?:{_MONTHS})\.?[ ,-]*{_YEAR}(?!\d))",
    rf"(?i:(?<!\w)(?:{_MONTHS})\.?[ -][0-3]?\d(?:st|nd|rd|th)?,?[ -]{_YEAR}(?!\d))",
    # a time stamp converters write into header text: Time=101522.500
    r"(?i:time)=\d{6}(?:\.\d+)?",
)
DATE_RE = re.compile("|".join(_DATE_PATTERNS))
_DATE_HINT = re.compile(r"(?:19|20)\d\d|(?i:time)=")
_WHOLE_DATE = re.compile(r"\s*(?:" + "|".join(_DATE_PATTERNS[:5]) + r")\s*")
_BIRTH = re.compile(
    r"(?i)(?<!\w)(?:born|birth\w*|d\.?o\.?b\.?|geb\.|geboren|geburts\w*|n[ée]e?|"
    r"naissance|nacid[oa]|nascita|nat[oa])(?!\w)"
)
_BIRTH_BEFORE, _BIRTH_AFTER, _NAME_NEAR = 32, 16, 48
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_PHONE_PATTERNS = (
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}",  # international: +44 20 7946 0958
    r"\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}",  # North American: (415) 555-0199
    r"\d{3}[ .-]\d{3}[ .-]\d{4}",  # 415-555-0199, 415.555.0199
    r"0\d{2,4}[ -]\d{3,4}[ -]?\d{2,5}",  # a trunk prefix 0: 030 1234567, 020 7946 0958
)
PHONE_RE = re.compile(r"(?<![\w.+/])(?:" + "|".join(_PHONE_PATTERNS) + r")(?![\w/-])")
ID_RE = re.compile(r"(?<![\w.])(?=(?:[A-Za-z-]*\d){5})[A-Za-z0-9-]{5,}(?![\w.])")
_HEX = re.compile(r"[0-9a-f]*[a-f][0-9a-f]*")


@dataclass(frozen=True)
class Match:
    """One thing found in a piece of text: its kind, the matched text (never stored), severity."""

    kind: str
    text: str
    severity: Severity


@dataclass(frozen=True)
class Scope:
    """Which rules apply to a piece of text, by where it is.

    ``names``: the given-name + family-name rule applies (not in a column whose meaning the BIDS
    schema defines, such as a channel's name, nor in a dataset's list of authors).
    ``contacts``: the severity of an e-mail address or phone number (None: not a finding).
    ``ids``: ID-like numbers are findings (header text, as converters write IDs there).
    ``dates``: every date is a finding (False: only one near a birth keyword or a name).
    """

    names: bool = True
    contacts: Severity | None = "identifying"
    ids: bool = False
    dates: bool = True


FREE_TEXT = Scope()
HEADER_TEXT = Scope(ids=True)


def find_in_text(text: str, rules: PrivacyRules, scope: Scope = FREE_TEXT) -> list[Match]:
    """What ``text`` holds that may identify a person (at most one match per kind/severity)."""
    found: list[Match] = []
    known = rules.known_in(text)
    if known:
        found.append(Match(LISTED, known, "identifying"))
    names = [(m, "identifying") for m in person_name_forms(text)]
    if scope.names:
        names += [(m, "review") for m in name_pairs(text)]
    for name, severity in names:
        found.append(Match(NAME, name, severity))  # type: ignore[arg-type]
    if scope.contacts:
        found += _first(EMAIL, EMAIL_RE, text, scope.contacts, found)
        found += _first(PHONE, PHONE_RE, text, scope.contacts, found)
    found += _dates(text, known, [n for n, _ in names], scope)
    if scope.ids:
        found += _first(ID_NUMBER, ID_RE, text, "review", found)
    listed = rules.listed_pattern(text)
    if listed:
        found.append(Match(LISTED_PATTERN, listed[0], listed[1]))
    return _one_per_kind(found)


def looks_like_date(value: str) -> bool:
    """The whole value is a date (a sidecar value, a table cell)."""
    return bool(_WHOLE_DATE.fullmatch(value)) and _valid_date(value.strip())


def _first(
    kind: str, pattern: re.Pattern[str], text: str, severity: Severity, earlier: list[Match]
):
    for hit in pattern.finditer(text):
        value = hit.group(0)
        if _plausible(kind, value) and not _inside(value, earlier):
            return [Match(kind, value, severity)]
    return []


def _dates(text: str, known: str | None, names: list[str], scope: Scope) -> list[Match]:
    if not _DATE_HINT.search(text):  # every date form has a year, or is a Time= stamp
        return []
    found = []
    for hit in DATE_RE.finditer(text):
        value = hit.group(0)
        if not _valid_date(value):
            continue
        before = text[max(0, hit.start() - _BIRTH_BEFORE) : hit.start()]
        after = text[hit.end() : hit.end() + _BIRTH_AFTER]
        if _BIRTH.search(before) or _BIRTH.search(after):
            found.append(Match(BIRTH, value, "identifying"))
        elif _name_near(text, hit.start(), hit.end(), [*names, *([known] if known else [])]):
            found.append(Match(DATE, value, "identifying"))
        elif scope.dates:
            found.append(Match(DATE, value, "review"))
    return found


def _name_near(text: str, start: int, end: int, names: list[str]) -> bool:
    window = text[max(0, start - _NAME_NEAR) : end + _NAME_NEAR]
    return any(name in window for name in names)


def _valid_date(value: str) -> bool:
    """A compact ``YYYYMMDD`` must have a real month and day (an 8-digit ID often does not)."""
    if value.isdigit() and len(value) == 8:
        return 1 <= int(value[4:6]) <= 12 and 1 <= int(value[6:8]) <= 31
    return True


def _plausible(kind: str, text: str) -> bool:
    """A phone number has 9 to 15 digits; an ID is not a lower-case hex string (a checksum or a
    commit, as in software versions)."""
    if kind == PHONE:
        return 9 <= sum(c.isdigit() for c in text) <= 15
    if kind == ID_NUMBER:
        return not _HEX.fullmatch(text)
    return True


def _inside(text: str, earlier: list[Match]) -> bool:
    """A phone-shaped date or a date-shaped ID counts once, as the first kind that took it."""
    return any(text in m.text or m.text in text for m in earlier)


def _one_per_kind(found: list[Match]) -> list[Match]:
    seen: dict[tuple[str, str], Match] = {}
    for match in found:
        if match.kind == ID_NUMBER and _inside(match.text, [m for m in found if m is not match]):
            continue
        seen.setdefault((match.kind, match.severity), match)
    return list(seen.values())
