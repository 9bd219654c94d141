"""Tables read with what the BIDS schema says their columns mean: a channel's, an electrode's or a
label's ``name`` is not a person's; participant-level tables are read in full; ``--exclude-column``
is scoped and never drops a required column silently; rows of participants a filter leaves out
are not read (nor published)."""

from __future__ import annotations

from pathlib import Path

import pytest
from privacy_factory import clean_bids, clean_image

from nifti2parquet.common.column_meanings import table_kind
from nifti2parquet.common.errors import OptionError
from nifti2parquet.common.exclusions import check_column_exclusions, columns_excluded_in
from nifti2parquet.common.selection import Selection
from nifti2parquet.common.storage import Storage
from nifti2parquet.preflight.privacy import PrivacyOptions, PrivacyReport, scan_privacy
from nifti2parquet.sources import read_source
from nifti2parquet.sources.options import SourceOptions

CHANNELS = "sub-01/meg/sub-01_task-rest_channels.tsv"
ELECTRODES = "sub-01/eeg/sub-01_electrodes.tsv"
DSEG = "derivatives/fs/sub-01/anat/sub-01_desc-aseg_dseg.tsv"
BEM = "derivatives/fs/fsaverage/bem/fsaverage-5120-5120-5120-bem.fif"


def scan(root: Path, **options) -> PrivacyReport:
    filters = {k: options.pop(k) for k in ("subjects", "sessions") if k in options}
    selection = Selection(**filters)
    rows = read_source(str(root), SourceOptions(selection=selection))
    return scan_privacy(rows, Storage(), PrivacyOptions(selection=selection, **options))


@pytest.fixture
def meg_eeg_atlas(tmp_path: Path) -> Path:
    root = clean_bids(tmp_path / "ds")
    for rel, text in {
        CHANNELS: "name\ttype\tunits\nMEG0113\tMEGGRAD\tT/m\nMEG0112\tMEGGRAD\tT/m\n",
        ELECTRODES: "name\tx\ty\tz\nFp1\t-0.03\t0.08\t0.0\nCz\t0\t0\t0.1\n",
        DSEG: "index\tname\n17\tLeft-Hippocampus\n53\tRight-Hippocampus\n16\tBrain-Stem\n",
        BEM: "binary",
        "derivatives/fs/dataset_description.json": '{"Name": "fs", "BIDSVersion": "1.9.0"}',
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    clean_image(root / "derivatives/fs/sub-01/anat/sub-01_desc-aseg_dseg.nii.gz")
    return root


def test_channel_electrode_and_label_names_are_not_person_names(meg_eeg_atlas: Path) -> None:
    report = scan(meg_eeg_atlas)
    assert report.findings == ()
    assert report.metadata_files >= 5  # the three tables were read


def test_the_schema_knows_the_tables() -> None:
    assert table_kind(CHANNELS).defines("name") and not table_kind(CHANNELS).participant_level
    assert table_kind(ELECTRODES).defines("name")
    assert table_kind(DSEG).defines("name")
    assert table_kind("participants.tsv").participant_level
    assert table_kind("phenotype/acq.tsv").participant_level
    assert table_kind("sub-01/sub-01_sessions.tsv").required == {"session_id"}
    assert not table_kind("mytable.tsv").defines("name")


def test_person_name_rules_apply_to_participant_tables_and_undefined_columns(
    meg_eeg_atlas: Path,
) -> None:
    root = meg_eeg_atlas
    (root / "participants.tsv").write_text("participant_id\tname\nsub-01\tMEG0113\n")
    (root / CHANNELS).write_text(
        "name\ttype\tunits\toperator\nMEG0113\tMEGGRAD\tT/m\tMaria Garcia\n"
    )
    found = {(f.file, f.field, f.kind, f.severity) for f in scan(root).findings}
    # a participants.tsv column called name is a person's name, whatever it holds
    assert ("participants.tsv", "name", "name", "identifying") in found
    # a column the schema does not define for channels.tsv is read for names
    assert (CHANNELS, "operator", "name", "review") in found
    assert not [f for f in found if f[1] == "name" and f[0] != "participants.tsv"]


def test_a_phone_number_in_a_path_needs_a_phone_shape(tmp_path: Path) -> None:
    root = clean_bids(tmp_path / "ds")
    (root / "notes").mkdir()
    (root / "notes/call-+44-20-7946-0958.txt").write_text("x")
    (root / "notes/fsaverage-5120-5120-5120-bem.fif").write_text("x")
    found = {(f.file, f.kind) for f in scan(root).findings}
    assert found == {("notes/call-+44-20-7946-0958.txt", "phone number")}


def test_exclude_column_is_scoped() -> None:
    given = ("notes", "*_channels.tsv:name", "participants.tsv:age")
    assert columns_excluded_in("participants.tsv", given) == {"notes", "age"}
    assert columns_excluded_in("phenotype/acq.tsv", given) == {"notes"}
    assert columns_excluded_in(CHANNELS, given) == {"name"}
    assert columns_excluded_in(ELECTRODES, given) == set()
    assert columns_excluded_in("table.csv", given, table_source=True) == {"notes"}


def test_a_required_column_is_not_left_out_silently() -> None:
    with pytest.raises(OptionError, match=r"BIDS requires this column in participants\.tsv"):
        check_column_exclusions(("participant_id",))
    with pytest.raises(OptionError, match=r"--exclude-column 'sub-x_sessions\.tsv:session_id'"):
        check_column_exclusions(("session_id",))
    check_column_exclusions(("participants.tsv:participant_id", "name"))  # asked by path: done


def test_excluded_columns_are_not_read_where_they_apply(meg_eeg_atlas: Path) -> None:
    root = meg_eeg_atlas
    (root / "participants.tsv").write_text("participant_id\tname\nsub-01\tJohn Smith\n")
    (root / CHANNELS).write_text("name\ttype\tunits\tnote\nMEG0113\tMEGGRAD\tT/m\tJohn Smith\n")
    assert {f.file for f in scan(root).findings} == {"participants.tsv", CHANNELS}
    report = scan(root, exclude_columns=("name", "*_channels.tsv:note"))
    assert report.findings == ()


def test_rows_of_filtered_out_participants_are_not_read(tmp_path: Path) -> None:
    root = clean_bids(tmp_path / "ds")
    clean_image(root / "sub-02/anat/sub-02_T1w.nii.gz")
    (root / "participants.tsv").write_text(
        "participant_id\tnote\nsub-01\tnone\nsub-02\tcall +44 20 7946 0958\n"
    )
    assert {f.kind for f in scan(root).findings} == {"phone number"}
    report = scan(root, subjects=("01",))
    assert report.findings == ()
    record = report.to_dict()
    assert record["participants_left_out"] == 1 and record["sessions_left_out"] == 0
    assert "sub-02" not in str(record)


def test_consent_follows_the_subject_and_session_filters() -> None:
    from nifti2parquet.common.exclusions import kept_rows

    subjects = Selection(subjects=("01", "sub-03"))
    participants = "participant_id\tage\nsub-01\t30\nsub-02\t40\nsub-03\t50\n"
    kept = kept_rows("participants.tsv", participants, subjects)
    assert kept is not None and "".join(kept.lines) == (
        "participant_id\tage\nsub-01\t30\nsub-03\t50\n"
    )
    assert kept.subjects_out == {"sub-02"}
    phenotype = "participant_id\tsession_id\tscore\nsub-02\tses-1\t3\nsub-01\tses-1\t4\n"
    assert kept_rows("phenotype/iq.tsv", phenotype, subjects).lines[1:] == ["sub-01\tses-1\t4\n"]
    sessions = Selection(sessions=("1",))
    table = "session_id\tacq_time\nses-1\t2019-01-01\nses-2\t2019-02-01\n"
    kept = kept_rows("sub-01/sub-01_sessions.tsv", table, sessions)
    assert kept.lines[1:] == ["ses-1\t2019-01-01\n"] and kept.sessions_out == {"sub-01/ses-2"}
    scans = "filename\tacq_time\nses-1/anat/a.nii.gz\tx\nses-2/anat/b.nii.gz\ty\n"
    assert kept_rows("sub-01/sub-01_scans.tsv", scans, sessions).lines[1:] == [
        "ses-1/anat/a.nii.gz\tx\n"
    ]
    # not a participant-level table, or no filter: nothing to keep out
    assert kept_rows("sub-01/meg/sub-01_channels.tsv", participants, subjects) is None
    assert kept_rows("participants.tsv", participants, Selection()) is None
