"""``push`` and the privacy preflight, against the local Hub server with the real client.

A build with identifying findings is refused for a new repo without ``--private`` and for an
existing public repo, naming the findings (masked) and how to proceed, with no create, upload or
commit on the server's request log; ``--private`` and ``--publish-identifying-data`` push it
with a warning.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import build_options
from hubserver import HubServer
from privacy_factory import identifying_bids, leaks
from pushtools import ok, push_commits, run_push, write_requests

from nifti2parquet.commands.build import build


@pytest.fixture(scope="module")
def identifying_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("push-privacy")
    source = identifying_bids(root / "bids")
    build(str(source), str(root / "out"), build_options(workers=1))
    return root / "out"


def _refused(result, what: str) -> None:
    assert result.returncode == 2, result.stderr
    assert f"is or would be public, and the build found {what} identifying values" in result.stderr
    assert "--publish-identifying-data" in result.stderr and "--private" in result.stderr
    assert "participants.tsv: email: e-mail address <e-mail address, 25 chars>" in result.stderr
    assert leaks({"stdout": result.stdout, "stderr": result.stderr}) == []


def test_new_public_repo_is_refused_with_nothing_sent(
    hub_server: HubServer, hub_env: dict[str, str], identifying_build: Path
) -> None:
    refused = run_push(hub_env, identifying_build, "user/new-public")
    _refused(refused, "13")
    assert write_requests(hub_server) == []  # no create, preupload, upload or commit
    assert not hub_server.repo_exists("user/new-public")


def test_private_push_goes_ahead_with_a_warning(
    hub_server: HubServer, hub_env: dict[str, str], identifying_build: Path
) -> None:
    pushed = ok(run_push(hub_env, identifying_build, "user/private", "--private"))
    assert "warning: user/private: pushing 13 identifying values" in pushed.stderr
    assert "to a private repo" in pushed.stderr
    assert hub_server.is_private("user/private") and push_commits(hub_server, "user/private")


def test_explicit_acceptance_pushes_and_an_existing_public_repo_refuses(
    hub_server: HubServer, hub_env: dict[str, str], identifying_build: Path
) -> None:
    hub_server.create_repo_direct("user/public", private=False)
    hub_server.clear_log()
    _refused(run_push(hub_env, identifying_build, "user/public"), "13")
    assert write_requests(hub_server) == []
    assert push_commits(hub_server, "user/public") == []

    accepted = ok(run_push(hub_env, identifying_build, "user/public", "--publish-identifying-data"))
    assert "accepted with --publish-identifying-data" in accepted.stderr
    assert push_commits(hub_server, "user/public")


def test_a_refusal_names_the_first_20_and_counts_the_rest() -> None:
    from nifti2parquet.preflight.privacy_record import Finding, PrivacyRecord
    from nifti2parquet.preflight.publication import PublicationRefused, check_publication

    findings = tuple(
        Finding(
            f"sub-{i:02d}/anat/sub-{i:02d}_T1w.json",
            "PatientName",
            "name",
            "<name, 9 chars>",
            "identifying",
        )
        for i in range(25)
    )
    records = [PrivacyRecord(scanned=True, findings=findings)]
    with pytest.raises(PublicationRefused) as refused:
        check_publication(records, "user/x", public=True, accepted=False)
    lines = refused.value.lines()
    assert "found 25 identifying values" in lines[0]
    assert (
        len(lines) == 1 + 20 + 1
        and lines[-1] == "  ...: 5 more; inspect SOURCE --json lists them all"
    )
    assert lines[1] == "  sub-00/anat/sub-00_T1w.json: PatientName: name <name, 9 chars>"
    assert (
        check_publication(records, "user/x", public=False, accepted=False)[0].severity == "warning"
    )
    assert check_publication([PrivacyRecord(scanned=True)], "user/x", True, False) == ()


def test_a_public_push_is_refused_until_every_remedy_is_applied(
    hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """Identifiers planted in every place: each remedy removes its own findings, and only the
    build with all of them (and the README fixed at the source) may go to a public repo."""
    from privacy_factory import LISTED_NAME, fixed_readme, planted_bids, planted_leaks

    source = planted_bids(tmp_path / "bids")
    known = tmp_path / "known.txt"
    known.write_text(f"{LISTED_NAME}\n")
    remedies = {
        "blank_nifti_headers": True,
        "exclude_fields": ("AcquisitionNotes", "Comment"),
        "exclude_columns": ("notes",),
        "exclude_dicom_tags": True,
        "subjects": ("01",),
    }
    fixed_readme(source)
    for left, named in (
        ("exclude_dicom_tags", "dicom/sub-01/ (2 DICOM files): PatientName"),
        ("blank_nifti_headers", "sub-01/anat/sub-01_T1w.nii.gz: descrip: name"),
        ("subjects", "participants.tsv: name: name"),
    ):
        options = {k: v for k, v in remedies.items() if k != left}
        out = tmp_path / f"without-{left}"
        build(
            str(source), str(out), build_options(workers=1, known_identifiers=str(known), **options)
        )
        hub_server.clear_log()
        refused = run_push(hub_env, out, f"user/{left.replace('_', '-')}")
        assert refused.returncode == 2, refused.stderr
        assert named in refused.stderr, refused.stderr
        assert write_requests(hub_server) == []
        assert planted_leaks({"stdout": refused.stdout, "stderr": refused.stderr}) == []
    out = tmp_path / "clean"
    build(str(source), str(out), build_options(workers=1, known_identifiers=str(known), **remedies))
    pushed = ok(run_push(hub_env, out, "user/clean-public"))
    assert "identifying" not in pushed.stderr
    assert push_commits(hub_server, "user/clean-public")


def test_dicom_files_under_sourcedata_block_a_public_push_until_excluded_or_rewritten(
    hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """The whole folder is published, ``sourcedata/`` with it: the scanner's DICOM files there
    are found, masked everywhere the tool writes, and refused for a public repo until
    ``--exclude 'sourcedata/**'`` leaves them out or ``--exclude-dicom-tags`` rewrites them."""
    from privacy_factory import (
        LISTED_NAME,
        dicom_file,
        files_under,
        fixed_readme,
        planted_bids,
        planted_leaks,
        shard_texts,
    )

    source = planted_bids(tmp_path / "bids")
    fixed_readme(source)
    dicom_file(source / "sourcedata/sub-01/dicom/1.3.12.2.1107.5.2.32")  # found by its preamble
    dicom_file(source / "sourcedata/sub-01/dicom/IM0003.dcm.gz", gzipped=True)
    known = tmp_path / "known.txt"
    known.write_text(f"{LISTED_NAME}\n")
    remedies = {
        "blank_nifti_headers": True,
        "exclude_fields": ("AcquisitionNotes", "Comment"),
        "exclude_columns": ("notes",),
        "subjects": ("01",),
        "known_identifiers": str(known),
        "workers": 1,
    }

    def built(name: str, **more) -> tuple[Path, object]:
        out = tmp_path / name
        result = build(str(source), str(out), build_options(**remedies, **more))
        return out, result

    out, result = built("as-is", exclude=("dicom/**",))  # the planted dicom/ folder aside
    found = {
        (f.field, f.severity, f.files)
        for f in result.privacy.findings
        if f.file == "sourcedata/sub-01/dicom/"
    }
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs"):
        assert (keyword, "identifying", 2) in found, found
    hub_server.clear_log()
    refused = run_push(hub_env, out, "user/sourcedata-as-is")
    assert refused.returncode == 2, refused.stderr
    assert "sourcedata/sub-01/dicom/ (2 DICOM files): PatientName: name" in refused.stderr
    assert write_requests(hub_server) == []
    written = {k: v for k, v in files_under(out).items() if not k.endswith(".parquet")}
    assert planted_leaks({**written, "push": refused.stdout + refused.stderr}) == []

    for name, more in (
        ("excluded", {"exclude": ("dicom/**", "sourcedata/**")}),
        ("rewritten", {"exclude": ("dicom/**",), "exclude_dicom_tags": True}),
    ):
        out, result = built(name, **more)
        assert result.privacy.identifying == 0, [f.line() for f in result.privacy.findings]
        shards = shard_texts(out)
        assert planted_leaks(shards) == []
        assert ("IM0003.dcm.gz" in shards["files/train-00000-of-00001.parquet"]) is (
            name == "rewritten"
        )
        ok(run_push(hub_env, out, f"user/sourcedata-{name}"))
