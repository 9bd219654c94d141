"""Excluded fields and columns are left out of the files the ``files`` config stores, too.

The files config publishes the dataset's own files byte for byte; a file that holds an excluded
sidecar field or table column is stored rewritten without it, recorded as changed on purpose,
and every other file stays byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bids_factory import sessionless_tree
from factories import files_config, subject_table

from nifti2parquet import BuildOptions, VerifyOptions, build, verify


def test_a_tables_excluded_column_is_not_in_the_stored_table(tmp_path: Path) -> None:
    data = subject_table(tmp_path / "src", subjects=2)
    out = tmp_path / "out"
    build(str(data.table), str(out), BuildOptions(exclude_columns=("group",), workers=1))

    table = files_config(out)[data.table.name]
    content = table["content"]["bytes"]
    assert b"group" not in content and b"subject_id" in content  # the column, and only it, gone
    assert table["sha256"] == hashlib.sha256(content).hexdigest() == table["sha256"]
    report = verify(str(out), VerifyOptions(source=""))
    assert report.ok, report.problems
    assert [p.path for p in report.on_purpose] == [data.table.name]


def test_bids_sidecars_and_tables_lose_the_excluded_values_the_rest_stays(tmp_path: Path) -> None:
    tree = sessionless_tree(tmp_path / "ds")
    tree.json("sub-01/anat/sub-01_T1w.json", {"PatientName": "Doe^Jane", "EchoTime": 0.01})
    out = tmp_path / "out"
    options = BuildOptions(
        exclude_fields=("PatientName",), exclude_columns=("site",), workers=1, on_error="skip"
    )
    build(str(tree.root), str(out), options)

    files = files_config(out)
    sidecar = json.loads(files["sub-01/anat/sub-01_T1w.json"]["content"]["bytes"])
    assert sidecar == {"EchoTime": 0.01}
    participants = files["participants.tsv"]["content"]["bytes"].decode()
    assert participants.splitlines()[0].split("\t") == ["participant_id", "age"]
    untouched = [
        p for p in tree.others if p not in ("sub-01/anat/sub-01_T1w.json", "participants.tsv")
    ]
    assert untouched  # every other file is stored as it is on disk
    for path in untouched:
        assert files[path]["content"]["bytes"] == (tree.root / path).read_bytes(), path
    report = verify(str(out), VerifyOptions(source=""))
    assert report.ok, report.problems
    changed = sorted(p.path for p in report.on_purpose)
    assert changed == ["participants.tsv", "sub-01/anat/sub-01_T1w.json"]
