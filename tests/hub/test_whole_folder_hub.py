"""The whole folder through the local Hub server, with the real client, over Xet.

Two public BIDS examples (ds000117: stimuli, .bidsignore'd images, an empty-room subject;
synthetic: a pipeline's own .bidsignore, code/, stimuli/) pushed and exported back: the whole
export is the source folder byte for byte, and an export of one subject is that subject's files,
every file of no subject and what its files name. Tables that name their images by absolute
paths, by ``..`` paths and by paths relative to the table: no stored path is absolute or climbs,
the export is the images and the table side by side, ``verify --source`` passes, and a public
push is not refused, since the machine's paths (which hold a participant's name here) are not
published.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from corpus import Corpus
from factories import nifti_bytes
from hubserver import HubServer
from pushtools import assert_transport, ok, run_push
from roundtrip import compare_trees, subject_files, tree_hashes

from nifti2parquet import BuildOptions, build

pytest_plugins = ["conftest_hub"]


def run_export(env: dict[str, str], *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "nifti2parquet", "export", *args, "--json", "-q"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", ["ds000117", "synthetic"])
def test_a_corpus_dataset_comes_back_from_the_hub(
    name: str,
    corpus: Corpus,
    hub_server: HubServer,
    hub_env: dict[str, str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    build(str(corpus.path(name)), str(out), BuildOptions(workers=1, previews=False))
    ok(run_push(hub_env, out, f"user/{name}", "--private", "-q"))
    assert_transport(hub_server, "xet")

    whole = run_export(hub_env, f"user/{name}", str(tmp_path / "whole"))
    diff = compare_trees(corpus.path(name), tmp_path / "whole")
    assert diff.equal and whole["files_written"] == diff.compared

    label = corpus.first_subject(name)
    assert label is not None
    one = run_export(hub_env, f"user/{name}", str(tmp_path / "one"), "--subject", label)
    got = set(tree_hashes(tmp_path / "one"))
    expected = subject_files(corpus.files(name), label)
    named = pq.read_table(out / "files", columns=["path", "references"]).to_pylist()
    names = {t for row in named if row["path"] in got for t in row["references"] or ()}
    assert expected <= got and got - expected <= names
    assert one["files_referenced"] == len(got - expected)
    assert not compare_trees(corpus.path(name), tmp_path / "one").mismatched


def write_tables(root: Path) -> tuple[Path, list[Path]]:
    """Images in a home folder named after a participant; three tables naming them."""
    study = root / "home" / "Jane Roe" / "study"
    for subject in ("01", "02"):
        (study / f"sub-{subject}").mkdir(parents=True)
        (study / f"sub-{subject}/t1.nii.gz").write_bytes(nifti_bytes(gz=True, seed=int(subject)))
    tables = root / "tables"
    tables.mkdir()
    rows = [("01", "sub-01/t1.nii.gz"), ("02", "sub-02/t1.nii.gz")]
    absolute = tables / "absolute.csv"
    absolute.write_text("subject,t1\n" + "".join(f"{s},{study / p}\n" for s, p in rows))
    climbing = tables / "climbing.tsv"
    climbing.write_text(
        "subject\tt1\n" + "".join(f"{s}\t../home/Jane Roe/study/{p}\n" for s, p in rows)
    )
    relative = study / "relative.csv"
    relative.write_text("subject,t1\n" + "".join(f"{s},./{p}\n" for s, p in rows))
    known = root / "known.txt"
    known.write_text("Jane Roe\n")
    return known, [absolute, climbing, relative]


def test_a_table_publishes_no_path_of_the_machine(
    hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    known, tables = write_tables(tmp_path)
    for table in tables:
        out = tmp_path / f"out-{table.stem}"
        command = [sys.executable, "-m", "nifti2parquet", "build", str(table), str(out),
                   "--known-identifiers", str(known), "--no-previews", "-q", "--json"]  # fmt: skip
        built = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr
        assert json.loads(built.stdout)["privacy"]["identifying"] == 0
        paths = pq.read_table(out / "data", columns=["t1"]).column("t1").to_pylist()
        stored = [cell["path"] for cell in paths]
        assert stored == ["sub-01/t1.nii.gz", "sub-02/t1.nii.gz"], table.name
        files = pq.read_table(out / "files", columns=["path"]).column("path").to_pylist()
        assert files == sorted([table.name, *stored])
        assert not any(p.startswith("/") or ".." in p.split("/") or "~" in p for p in files)
        manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
        assert [p["stored"] for p in manifest["table_paths"]["paths"]] == stored

        verify = [sys.executable, "-m", "nifti2parquet", "verify", str(out), "--source"]
        verified = subprocess.run(verify, capture_output=True, text=True, timeout=300)
        assert verified.returncode == 0, verified.stderr
        assert "changed on purpose" in verified.stderr  # the table's copy, and only it

        repo = f"user/{table.stem}"
        ok(run_push(hub_env, out, repo, "-q"))  # a public repo: nothing identifying to refuse
        assert not hub_server.is_private(repo)
        run_export(hub_env, repo, str(tmp_path / f"back-{table.stem}"))
        back = tmp_path / f"back-{table.stem}"
        assert sorted(p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()) == [
            table.name,
            "sub-01/t1.nii.gz",
            "sub-02/t1.nii.gz",
        ]
        lines = (back / table.name).read_text().splitlines()
        delimiter = "\t" if table.suffix == ".tsv" else ","
        assert lines == [
            f"subject{delimiter}t1",
            *(f"{s}{delimiter}sub-{s}/t1.nii.gz" for s in ("01", "02")),
        ]
        assert (back / "sub-02/t1.nii.gz").read_bytes() == nifti_bytes(gz=True, seed=2)
