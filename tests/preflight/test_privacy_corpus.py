"""No false alarm on published data: the privacy scan of the public BIDS examples.

The corpus (``corpus.py``; skipped where it is absent) is published, de-identified data. Every
dataset of it with NIfTI images is inspected as ``inspect`` does (the Python API, in this
process), over everything a build publishes: images, sidecars, tables, README and other text,
``sourcedata/``, ``stimuli/`` and ``code/``, every path. An identifying finding there is a false
alarm unless it is listed below with the reason it is real.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from corpus import Corpus

from nifti2parquet import BuildOptions, inspect_source
from nifti2parquet.preflight.privacy_rules import LISTED

# (dataset, file's top folder, field, kind): how many, and why it is real
REAL = {
    ("ieeg_visual_multimodal", "sub-som682", "PatientID", "ID-like number"): (
        27,
        "the scanner's PatientID value, copied by the converter into 27 published sidecars",
    ),
}
REAL_VALUES = ("oikbt8of",)  # the PatientID above: found, and never shown unmasked


@pytest.fixture(scope="module")
def scans(corpus: Corpus) -> dict[str, dict]:
    """Each dataset with images: its privacy record as ``inspect --json`` gives it."""
    found = {}
    for name in corpus.with_images:
        report = inspect_source(str(corpus.path(name)))
        assert report.privacy is not None, name
        found[name] = report.to_dict()
    return found


def test_the_only_identifying_findings_are_the_real_ones(scans: dict[str, dict]) -> None:
    identifying: Counter[tuple[str, str, str, str]] = Counter()
    for name, report in scans.items():
        for f in report["privacy"]["findings"]:
            if f["severity"] == "identifying":
                identifying[(name, f["file"].split("/")[0], f["field"], f["kind"])] += f["cells"]
    assert dict(identifying) == {key: n for key, (n, _) in REAL.items()}
    assert len(scans) == 82  # every dataset of the corpus with NIfTI images was inspected


# a word of a file under sourcedata/ or code/, listed as a known identifier: found there, so
# these folders are read (the corpus's stimuli are pictures and sounds, and an empty list)
FOLDERS = {
    "atlas-4S": ("Subcortical", "sourcedata/atlas-4S/README.md"),
    "synthetic": ("dirname", "code/create_synthethic_ds.sh"),  # its generating script
    "ds004332": ("pybids", "code/requirements.txt"),
}


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_sourcedata_and_code_are_read(corpus: Corpus, name: str, tmp_path: Path) -> None:
    word, where = FOLDERS[name]
    known = tmp_path / "known.txt"
    known.write_text(word + "\n")
    options = BuildOptions(known_identifiers=str(known))
    record = inspect_source(str(corpus.path(name)), options).to_dict()["privacy"]
    listed = [f for f in record["findings"] if f["kind"] == LISTED]
    assert any(f["file"] == where for f in listed), listed
    assert all(f["severity"] == "identifying" and word not in f["masked"] for f in listed)


def test_the_real_values_are_masked_everywhere(scans: dict[str, dict]) -> None:
    text = json.dumps(scans)
    for value in REAL_VALUES:
        assert value not in text
    assert "<ID-like number, 8 chars>" in text
