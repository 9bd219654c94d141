"""What counts as identifying: field names, value patterns, the user's own lists, and the mask.

One table of field names serves sidecar JSON keys, table columns and the keywords of an embedded
DICOM header (dcm2niix copies DICOM keywords into sidecars under the same names). Values are
classified by their shape (an e-mail address, a phone number, a date, an ID-like number) and
against the user's list of known participant names and IDs. A value is never kept: a finding
carries :func:`mask` of it, its kind and length only.

Severity follows one rule set (docs/explanation/privacy.md): ``identifying`` for who the
participant is (patient tags, names, birth dates, e-mail addresses, phone numbers, record
numbers); ``review`` for what may narrow it down (acquisition dates and times, institutions,
device serial numbers, staff names, header text that looks like a date, an ID or a listed name).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Literal

import yaml

from ..common.errors import OptionError

Severity = Literal["identifying", "review"]

NAME = "name"
BIRTH = "date of birth"
EMAIL = "e-mail address"
PHONE = "phone number"
ID_NUMBER = "ID-like number"
DATE = "date or time"
INSTITUTION = "institution"
DEVICE = "device serial number"
STAFF = "staff name"
DEMOGRAPHIC = "patient demographic"
DICOM_TAG = "DICOM identifier tag"
UID = "DICOM UID"
LISTED = "listed name or ID"
LISTED_FIELD = "listed field"
LISTED_PATTERN = "listed pattern"
NOT_SCANNED = "not scanned"

# DICOM keyword / sidecar key (lower case) -> (kind, severity)
_FIELDS: dict[str, tuple[str, Severity]] = {
    **dict.fromkeys(
        ["patientname", "otherpatientnames", "patientbirthname", "patientmothersbirthname"],
        (NAME, "identifying"),
    ),
    **dict.fromkeys(
        ["patientid", "otherpatientids", "otherpatientidssequence", "issuerofpatientid"],
        (ID_NUMBER, "identifying"),
    ),
    "accessionnumber": (ID_NUMBER, "identifying"),
    "patientbirthdate": (BIRTH, "identifying"),
    "patientbirthtime": (BIRTH, "identifying"),
    "patientaddress": (DICOM_TAG, "identifying"),
    "patienttelephonenumbers": (PHONE, "identifying"),
    **dict.fromkeys(
        ["patientsex", "patientage", "patientweight", "patientsize"], (DEMOGRAPHIC, "review")
    ),
    **dict.fromkeys(
        [
            "acquisitiondatetime",
            "acquisitiondate",
            "acquisitiontime",
            "studydate",
            "studytime",
            "seriesdate",
            "seriestime",
            "contentdate",
            "contenttime",
            "instancecreationdate",
            "instancecreationtime",
            "performedprocedurestepstartdate",
            "performedprocedurestepstarttime",
            "scandate",  # BIDS (PET): the date of the scan
        ],
        (DATE, "review"),
    ),
    **dict.fromkeys(
        [
            "institutionname",
            "institutionaddress",
            "institutionaldepartmentname",
            "stationname",
        ],
        (INSTITUTION, "review"),
    ),
    "deviceserialnumber": (DEVICE, "review"),
    **dict.fromkeys(
        [
            "referringphysicianname",
            "performingphysicianname",
            "operatorsname",
            "physiciansofrecord",
            "nameofphysiciansreadingstudy",
            "requestingphysician",
        ],
        (STAFF, "review"),
    ),
    **dict.fromkeys(
        ["studyinstanceuid", "seriesinstanceuid", "sopinstanceuid", "frameofreferenceuid"],
        (UID, "review"),
    ),
}

# Table columns (lower case, separators removed) -> (kind, severity), matched as whole names.
_COLUMNS: dict[str, tuple[str, Severity]] = {
    **dict.fromkeys(
        [
            "name",
            "fullname",
            "firstname",
            "lastname",
            "surname",
            "givenname",
            "familyname",
            "middlename",
            "patientname",
            "participantname",
            "subjectname",
            "initials",
        ],
        (NAME, "identifying"),
    ),
    **dict.fromkeys(
        ["dob", "birthdate", "dateofbirth", "birthday", "patientbirthdate"],
        (BIRTH, "identifying"),
    ),
    **dict.fromkeys(["email", "emailaddress", "mail"], (EMAIL, "identifying")),
    **dict.fromkeys(
        ["phone", "phonenumber", "telephone", "tel", "mobile", "cellphone"], (PHONE, "identifying")
    ),
    **dict.fromkeys(
        [
            "mrn",
            "medicalrecordnumber",
            "recordnumber",
            "hospitalid",
            "hospitalnumber",
            "patientid",
            "nhsnumber",
            "ssn",
            "socialsecuritynumber",
            "accessionnumber",
        ],
        (ID_NUMBER, "identifying"),
    ),
    **dict.fromkeys(["address", "streetaddress", "postcode", "zipcode"], (NAME, "identifying")),
}


def mask(kind: str, value: str) -> str:
    """The only form in which a found value ever leaves the scanner: its kind and length."""
    return f"<{kind}, {len(value)} chars>"


def field_rule(name: str) -> tuple[str, Severity] | None:
    """The rule for a sidecar key or DICOM keyword, if it is one we know."""
    return _FIELDS.get(name.lower())


def column_rule(name: str) -> tuple[str, Severity] | None:
    """The rule for a table column, by its name (``first_name``, ``DOB``, ``E-mail``...)."""
    key = re.sub(r"[\s_.-]+", "", name.lower())
    if key in ("participantid", "sessionid", "filename"):
        return None
    if "birth" in key:
        return BIRTH, "identifying"
    return _COLUMNS.get(key)


@dataclass(frozen=True)
class PrivacyRules:
    """The built-in rules plus the user's: extra fields and patterns, known names and IDs.

    ``known`` holds the user's list of participant names and IDs; it is searched, and never
    stored, printed or recorded (not even in the manifest: only how many entries were given).
    """

    identifying_fields: tuple[str, ...] = ()
    review_fields: tuple[str, ...] = ()
    identifying_patterns: tuple[re.Pattern[str], ...] = ()
    review_patterns: tuple[re.Pattern[str], ...] = ()
    known: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never show the known list, even in a traceback or a debugger
        return f"PrivacyRules({len(self.known)} known identifiers, ...)"

    def listed_field(self, name: str) -> Severity | None:
        if not (self.identifying_fields or self.review_fields):
            return None  # no rules file, or one without fields: asked of every sidecar key
        for severity, globs in (
            ("identifying", self.identifying_fields),
            ("review", self.review_fields),
        ):
            if any(fnmatch.fnmatchcase(name.lower(), g.lower()) for g in globs):
                return severity  # type: ignore[return-value]
        return None

    def listed_pattern(self, text: str) -> tuple[str, Severity] | None:
        """The first match of the rules file's patterns in ``text``, and its severity."""
        for severity, patterns in (
            ("identifying", self.identifying_patterns),
            ("review", self.review_patterns),
        ):
            for pattern in patterns:
                found = pattern.search(text)
                if found:
                    return found.group(0), severity  # type: ignore[return-value]
        return None

    def known_in(self, text: str) -> str | None:
        """The first entry of the user's list found in ``text`` as a whole word (or None)."""
        lower = text.lower()
        for entry in self.known:
            at = lower.find(entry)
            if at < 0:
                continue
            before = lower[at - 1] if at else " "
            after = lower[at + len(entry)] if at + len(entry) < len(lower) else " "
            if not before.isalnum() and not after.isalnum():
                return text[at : at + len(entry)]
        return None


def load_rules(rules_file: str | None = None, known_file: str | None = None) -> PrivacyRules:
    """The user's rules file (YAML: ``identifying``/``review`` → ``fields``/``patterns``) and
    list of known names and IDs (one per line, ``#`` starts a comment)."""
    rules: dict = {}
    if rules_file:
        rules = _read_rules(rules_file)
    known: tuple[str, ...] = ()
    if known_file:
        known = _read_known(known_file)
    return PrivacyRules(
        identifying_fields=_strings(rules, "identifying", "fields", rules_file),
        review_fields=_strings(rules, "review", "fields", rules_file),
        identifying_patterns=_patterns(rules, "identifying", rules_file),
        review_patterns=_patterns(rules, "review", rules_file),
        known=known,
    )


def _read_rules(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as exc:
        raise OptionError(f"--privacy-rules {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise OptionError(f"--privacy-rules {path}: not valid YAML ({_first_line(exc)})") from None
    if not isinstance(data, dict) or set(data) - {"identifying", "review"}:
        raise OptionError(
            f"--privacy-rules {path}: expected the keys identifying and/or review, each with "
            f"fields and/or patterns (see docs/reference/privacy.md)"
        )
    return data


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _strings(rules: dict, severity: str, key: str, path: str | None) -> tuple[str, ...]:
    section = rules.get(severity) or {}
    values = section.get(key) or [] if isinstance(section, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise OptionError(f"--privacy-rules {path}: {severity}.{key} must be a list of strings")
    return tuple(values)


def _patterns(rules: dict, severity: str, path: str | None) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for n, text in enumerate(_strings(rules, severity, "patterns", path), start=1):
        try:
            compiled.append(re.compile(text))
        except re.error as exc:
            raise OptionError(
                f"--privacy-rules {path}: {severity}.patterns entry {n} is not a valid regular "
                f"expression ({exc.msg})"
            ) from None
    return tuple(compiled)


def _read_known(path: str) -> tuple[str, ...]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise OptionError(f"--known-identifiers {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise OptionError(f"--known-identifiers {path}: not UTF-8 text") from None
    entries = {line.split("#", 1)[0].strip().lower() for line in lines}
    return tuple(sorted(e for e in entries if len(e) >= 2))
