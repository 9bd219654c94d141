"""Refactoring keeps every output byte: the sha256 of everything ``build`` and ``export`` write.

``tests/unchanged_outputs.json`` holds, for each test tree × ``--rows`` layout and for a table
source, the sha256 of every file the build writes (shards, files config, card, previews, and the
records under ``.nifti2parquet/``), and of every file ``export`` writes back. A change to the code
that is meant to leave behaviour alone must leave these equal.

The records hold the source's absolute path (it differs per run), so they are compared with the
source folder written as ``<source>``; a shard's ``key`` hashes that path and the files'
modification times too, so it is left out (the shard it keys is compared byte for byte). Shards
carry the writer library's version, so the comparison runs with the pyarrow version the reference
was made with (a newer pyarrow is a different byte stream, not a regression).

A change that is *meant* to change outputs regenerates the reference with
``N2P_REGENERATE=1 pytest tests/test_unchanged_outputs.py`` and says in its commit why each
changed file changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest
from bids_factory import sessionless_tree, sessions_tree
from factories import build_options, subject_table

from nifti2parquet import build, export

_KEY = re.compile(rb'"key": ?"[0-9a-f]{64}"')
REFERENCE = Path(__file__).with_name("unchanged_outputs.json")
CASES = [
    ("sessions", "auto"),
    ("sessions", "session"),
    ("sessions", "subject"),
    ("sessions", "file"),
    ("sessionless", "auto"),
    ("sessionless", "subject"),
    ("sessionless", "file"),
    ("table", "auto"),
]
TREES = {"sessions": sessions_tree, "sessionless": sessionless_tree}


def _digest(path: Path, source: str) -> str:
    data = path.read_bytes()
    if ".nifti2parquet" in path.parts and path.suffix in (".json", ".jsonl"):
        data = data.replace(source.encode(), b"<source>")
        data = data.replace(json.dumps(source)[1:-1].encode(), b"<source>")
        data = _KEY.sub(b'"key": "<key>"', data)
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path, source: str) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): _digest(p, source)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _outputs(tmp: Path, tree: str, rows: str) -> dict[str, dict[str, str]]:
    if tree == "table":
        source_root = tmp / "table"
        source = str(subject_table(source_root).table)
    else:
        source_root = tmp / "bids"
        source = str(TREES[tree](source_root).root)
    out, back = tmp / "out", tmp / "back"
    build(source, str(out), build_options(rows=rows, on_error="skip"))
    export(str(out), str(back))
    return {
        "build": _tree(out, str(source_root)),
        "export": _tree(back, str(source_root)),
    }


def _reference() -> dict:
    return json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}


@pytest.mark.parametrize(("tree", "rows"), CASES, ids=[f"{t}-{r}" for t, r in CASES])
def test_build_and_export_write_the_same_bytes(tmp_path: Path, tree: str, rows: str) -> None:
    outputs = _outputs(tmp_path, tree, rows)
    name = f"{tree}-{rows}"
    if os.environ.get("N2P_REGENERATE"):
        reference = _reference()
        reference["pyarrow"] = pa.__version__
        reference.setdefault("cases", {})[name] = outputs
        REFERENCE.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
        pytest.skip("reference regenerated")
    reference = _reference()
    if reference.get("pyarrow") != pa.__version__:
        pytest.skip(f"reference made with pyarrow {reference.get('pyarrow')}, not {pa.__version__}")
    expected = reference["cases"][name]
    for stage in ("build", "export"):
        changed = sorted(
            f
            for f in set(expected[stage]) | set(outputs[stage])
            if expected[stage].get(f) != outputs[stage].get(f)
        )
        assert changed == [], f"{stage} of {name}: {changed} differ from the reference"
    assert len(outputs["build"]) > 5 and len(outputs["export"]) > 3  # really compared files
