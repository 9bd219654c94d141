"""The public BIDS examples, built and exported: every dataset comes back whole.

For every dataset of the corpus with NIfTI images (``corpus.py``; skipped where it is absent),
built with ``--rows session`` and with ``--rows file``:

- the export is the source folder, file for file and byte for byte, with nothing left out
  (version control aside: the corpus has none), and the build's summary adds up;
- an export of the first subject is exactly that subject's files, the derivative files naming
  it and every file of no subject, plus the files those name (``references``: an empty-room
  recording, stimuli, field maps), each of which one of them names;
- the BIDS validator finds no error code in a subject export that its source does not have
  (it validates every dataset whose files name others, the only ones where a subject export
  can miss a reference); the whole exports are the source folders byte for byte, and the
  validator's verdict on a few of them (those that once lost stimuli, empty-room recordings and
  a pipeline's own files) is checked to be their source's.

Builds run in this process, without previews or the privacy scan (neither is what is tested
here; their own tests build these datasets too), once per dataset and layout, shared by the
tests; a few datasets per test function.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from corpus import Corpus, dataset_names
from roundtrip import compare_trees, subject_files, tree_hashes
from validator import Validation

from nifti2parquet import BuildOptions, ExportOptions, Selection, SourceOptions, build, export
from nifti2parquet.commands.build_result import BuildResult

NAMES = dataset_names(with_images=True)
PER_TEST = 6
CHUNKS = [NAMES[i : i + PER_TEST] for i in range(0, len(NAMES), PER_TEST)]
IDS = [f"{chunk[0]}..{chunk[-1]}" for chunk in CHUNKS]
LAYOUTS = ("session", "file")
# datasets whose exports once lost files the validator misses: stimuli, empty-room recordings,
# a pipeline's .bidsignore, a template dataset, tables nifti2parquet cannot read
VALIDATED_WHOLE = (
    "ds000117",
    "ds000247",
    "eeg_ds000117",
    "ieeg_visual_multimodal",
    "synthetic",
    "atlas-AAL",
    "eyetracking_fmri",
)
# error codes that say a file names another that is not there
MISSING_REFERENCE = {"STIMULUS_FILE_MISSING", "ASSOCIATED_EMPTY_ROOM", "INTENDED_FOR"}

Built = Callable[[str, str], tuple[Path, BuildResult]]


@pytest.fixture(scope="module")
def built(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``built(name, rows)``: the dataset built once with that layout (and its result)."""
    root = tmp_path_factory.mktemp("corpus-builds")
    done: dict[tuple[str, str], tuple[Path, BuildResult]] = {}

    def get(name: str, rows: str) -> tuple[Path, BuildResult]:
        if (name, rows) not in done:
            out = root / f"{name}-{rows}"
            options = BuildOptions(
                source=SourceOptions(rows=rows), workers=1, previews=False, privacy_scan=False
            )
            done[(name, rows)] = out, build(str(corpus.path(name)), str(out), options)
        return done[(name, rows)]

    return get


@pytest.fixture(scope="module")
def validated(bids_validator: Callable[..., Validation]) -> Callable[[Path], Validation]:
    """The validator's verdict on a folder, once per folder."""
    done: dict[Path, Validation] = {}

    def get(folder: Path) -> Validation:
        if folder not in done:
            done[folder] = bids_validator(folder)
        return done[folder]

    return get


@pytest.mark.parametrize("names", CHUNKS, ids=IDS)
def test_a_whole_export_is_the_source_folder(
    names: list[str], corpus: Corpus, built: Built, tmp_path: Path
) -> None:
    for name in names:
        source = tree_hashes(corpus.path(name))
        for rows in LAYOUTS:
            out, result = built(name, rows)
            assert result.left_out == (), (name, rows, result.left_out[:3])
            assert result.files_found == len(source) == result.num_images + result.other_files
            dest = tmp_path / f"{name}-{rows}"
            exported = export(str(out), str(dest))
            assert exported.files_written == len(source)
            diff = compare_trees(corpus.path(name), dest)
            assert diff.equal, (name, rows, diff.missing[:5], diff.extra[:5], diff.mismatched[:5])


def references(out: Path) -> dict[str, list[str]]:
    """What each file names, as the build recorded it in the files config."""
    table = pq.read_table(out / "files", columns=["path", "references"]).to_pylist()
    return {row["path"]: row["references"] for row in table if row["references"]}


@pytest.mark.parametrize("names", CHUNKS, ids=IDS)
def test_a_subject_export_is_that_subject_and_what_its_files_name(
    names: list[str], corpus: Corpus, built: Built, tmp_path: Path
) -> None:
    for name in names:
        label = corpus.first_subject(name)
        if label is None:  # a template dataset: no subject to choose
            continue
        out, _ = built(name, "session")
        dest = tmp_path / name
        result = export(str(out), str(dest), ExportOptions(selection=Selection(subjects=(label,))))
        files = corpus.files(name)
        expected = subject_files(files, label)
        got = set(tree_hashes(dest))
        named = references(out)
        brought = got - expected
        assert expected <= got, (name, sorted(expected - got)[:5])
        assert result.files_referenced == len(brought)
        # everything else is named by a file exported (directly, or by one of those)
        assert brought <= {t for f in got for t in named.get(f, ())}, (name, sorted(brought)[:5])
        diff = compare_trees(corpus.path(name), dest)
        assert not diff.extra and not diff.mismatched


def test_an_empty_room_recording_comes_with_the_subject(built: Built, tmp_path: Path) -> None:
    """sub-01's MEG sidecars name the empty-room recording of their day; the stimuli its events
    show are not under any subject, and come with every export."""
    out, _ = built("ds000117", "session")
    dest = tmp_path / "ds000117"
    result = export(str(out), str(dest), ExportOptions(selection=Selection(subjects=("01",))))
    room = {p.relative_to(dest).as_posix() for p in (dest / "sub-emptyroom").rglob("*.*")}
    assert room == {  # the recording, and what describes it by inheritance
        "sub-emptyroom/ses-20090409/meg/sub-emptyroom_ses-20090409_task-noise_meg.fif",
        "sub-emptyroom/ses-20090409/sub-emptyroom_ses-20090409_scans.tsv",
        "sub-emptyroom/sub-emptyroom_task-noise_meg.json",
        "sub-emptyroom/sub-emptyroom_task-noise_channels.tsv",
    }
    assert not (dest / "sub-02").exists() and (dest / "stimuli/meg/u032.bmp").is_file()
    assert result.files_referenced == 4
    assert "4 named by the others" in result.summary()


@pytest.mark.parametrize("names", CHUNKS, ids=IDS)
def test_the_validator_finds_no_error_the_source_does_not_have(
    names: list[str],
    corpus: Corpus,
    built: Built,
    validated: Callable[[Path], Validation],
    tmp_path: Path,
) -> None:
    for name in names:
        out, _ = built(name, "session")
        label = corpus.first_subject(name)
        if name in VALIDATED_WHOLE:
            export(str(out), str(tmp_path / f"{name}-whole"))
            whole = validated(tmp_path / f"{name}-whole")
            assert whole.new_errors(validated(corpus.path(name))) == {}, name
        if label is None or not references(out):
            continue  # no file names another: a subject export cannot miss a reference
        dest = tmp_path / f"{name}-{label}"
        export(str(out), str(dest), ExportOptions(selection=Selection(subjects=(label,))))
        new = validated(dest).new_errors(validated(corpus.path(name)))
        missing = {code: files for code, files in new.items() if code in MISSING_REFERENCE}
        assert missing == {}, (name, missing)


def test_ds000117s_lists_are_short_on_the_terminal_and_the_card(
    corpus: Corpus, tmp_path: Path
) -> None:
    """One subject, without the stimuli and the FLASH images: each list (filtered out,
    excluded) is grouped by folder in at most 20 lines, printed and on the card; --json lists
    every file; the export is the source minus exactly those files."""
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "nifti2parquet", "build", str(corpus.path("ds000117")), str(out),
        "--subject", "01", "--exclude", "stimuli/", "--exclude", "*_FLASH.*", "--no-previews",
        "-q", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("privacy")]
    heads = [i for i, line in enumerate(lines) if not line.startswith("  ")]
    for start, end in zip(heads, [*heads[1:], len(lines)]):
        assert end - start <= 20, lines[start]
    assert (
        lines[heads[0]] == f"filtered out by --subject 01: {result['files_filtered_out']:,} files"
    )
    excluded = [p["path"] for p in result["left_out"] if p["message"].startswith("excluded")]
    assert len(excluded) == result["files_excluded"] > 930  # every file, in --json
    assert any(
        line.startswith("excluded: ") and "--exclude 'stimuli/' 930" in line for line in lines
    )
    card = (out / "README.md").read_text()
    section = card.split("## Files left out", 1)[1].split("\n## ", 1)[0]
    tables = [t for t in section.split("\n\n") if t.startswith("|")]
    assert len(tables) == 3 and all(t.count("\n") + 1 <= 20 for t in tables)
    export(str(out), str(tmp_path / "back"))
    source = tree_hashes(corpus.path("ds000117"))
    kept = {p for p in subject_files(source, "01") if p not in set(excluded)}
    assert set(tree_hashes(tmp_path / "back")) == kept
