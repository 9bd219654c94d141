"""``verify``'s reading of a shard: one pass per shard for the build's own shards, pyarrow only
for what the build did not frame, one image at a time when decoding, the same report wherever
the bytes are and however they are cut into blocks.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from s3server import KEY, SECRET, S3Server
from test_verify import Built, build_dataset, flip_byte_inside, messages

from nifti2parquet.common.nifti import deep_check
from nifti2parquet.common.storage import Storage
from nifti2parquet.proof import shard_digest, shard_pass
from nifti2parquet.proof.folder_checks import check_files_config
from nifti2parquet.proof.report import VerifyOptions, VerifyReport
from nifti2parquet.proof.shard_digest import digest_shards
from nifti2parquet.proof.verify import verify
from nifti2parquet.shards.output import OutputFolder

PUBLIC = {"ACL": "public-read"}  # as the S3 tests of the sources upload


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_dataset(tmp_path)


def no_pyarrow_for_images(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a row group of the build was read with pyarrow")

    monkeypatch.setattr(shard_digest, "_read_row_group", refuse)


@pytest.mark.parametrize("deep", [False, True])
def test_the_build_shards_are_checked_in_one_pass_each(
    built: Built, monkeypatch: pytest.MonkeyPatch, deep: bool
) -> None:
    expected = verify(str(built.out), VerifyOptions(deep=deep))
    no_pyarrow_for_images(monkeypatch)
    reads: list[str] = []
    original = shard_pass.read_once

    def counted(output: OutputFolder, path: str, *args: object, **kwargs: object):
        reads.append(path)
        return original(output, path, *args, **kwargs)

    monkeypatch.setattr(shard_digest, "read_once", counted)

    report = verify(str(built.out), VerifyOptions(deep=deep))

    assert report.ok, report.problems
    assert report.to_dict() == expected.to_dict()
    assert sorted(reads) == sorted(s.path for s in built.manifest.shards)  # each read once
    assert report.counts["images_decoded"] == (14 if deep else 0)


def test_a_changed_image_is_found_by_a_second_pass_hashing_every_image(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = built.record(1, "bold", 0)
    flip_byte_inside(built.shard(1), Path(record.url).read_bytes())
    no_pyarrow_for_images(monkeypatch)  # the damage is inside an image: pages still walk

    report = verify(str(built.out))

    expected = f"row {record.row}, bold[0] ({record.path}): image bytes differ from the build's"
    assert any(m.startswith(expected) for m in messages(report, record.shard))
    assert report.counts["images_matched"] == 13


def test_with_no_recorded_sha256_one_pass_hashes_the_shard_and_every_image(built: Built) -> None:
    output = OutputFolder(str(built.out))
    kinds = built.manifest.image_columns
    jobs = [(s.path, kinds, None) for s in built.manifest.shards]

    digests = list(digest_shards(output, jobs, threads=2))

    recorded = {(r.shard, r.row, r.column, r.index): r.sha256 for r in built.records}
    first = {
        s.path: sum(x.num_rows for x in built.manifest.shards[:i])
        for i, s in enumerate(built.manifest.shards)
    }
    found = {
        (d.path, first[d.path] + c.row, c.column, c.index): c.sha256
        for d in digests
        for c in d.cells
    }
    assert found == recorded
    assert [d.sha256 for d in digests] == [s.sha256 for s in built.manifest.shards]
    assert not any(d.intact for d in digests)  # nothing to compare with: every image was hashed


def test_any_block_size_gives_the_same_report(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = built.record(1, "bold", 0)
    flip_byte_inside(built.shard(1), Path(record.url).read_bytes())
    expected = verify(str(built.out), VerifyOptions(deep=True)).to_dict()
    for block in (1, 7, 4096):
        monkeypatch.setattr(shard_pass, "BLOCK", block)
        assert verify(str(built.out), VerifyOptions(deep=True)).to_dict() == expected


def test_deep_decodes_one_image_at_a_time(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    busy, most = 0, 0
    lock = threading.Lock()

    def counted(name: str, data: bytes):
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        time.sleep(0.01)  # long enough for another thread to come in, were it allowed
        with lock:
            busy -= 1
        return deep_check(name, data)

    monkeypatch.setattr(shard_digest, "deep_check", counted)

    report = verify(str(built.out), VerifyOptions(deep=True, threads=8))

    assert report.ok and report.counts["images_decoded"] == 14
    assert most == 1


def test_an_output_on_s3_is_verified_like_a_local_one(built: Built) -> None:
    server = S3Server().start()
    try:
        client = server.client()
        client.create_bucket(Bucket="out", ACL="public-read")
        for path in sorted(p for p in built.out.rglob("*") if p.is_file()):
            client.upload_file(
                str(path), "out", f"ds/{path.relative_to(built.out)}", ExtraArgs=PUBLIC
            )
        options = {"endpoint_url": server.url, "key": KEY, "secret": SECRET}

        def remote() -> OutputFolder:  # a fresh client: s3fs remembers what it listed
            return OutputFolder("s3://out/ds", Storage({**options, "skip_instance_cache": True}))

        local = verify(str(built.out), VerifyOptions(deep=True))
        assert verify(remote(), VerifyOptions(deep=True)).to_dict() == local.to_dict()

        record = built.record(1, "bold", 0)
        flip_byte_inside(built.shard(1), Path(record.url).read_bytes())
        client.upload_file(str(built.shard(1)), "out", f"ds/{record.shard}", ExtraArgs=PUBLIC)
        damaged = verify(remote())
        expected = f"row {record.row}, bold[0] ({record.path}): image bytes differ"
        assert any(m.startswith(expected) for m in messages(damaged, record.shard))
    finally:
        server.stop()


def test_a_stored_file_whose_bytes_differ_from_its_row_is_named(built: Built) -> None:
    """The files config: the shard's sha256 and each stored file's, in one read."""
    assert built.manifest.files is not None
    table = built.source.table
    record = next(
        s
        for s in built.manifest.files.shards
        if table.name.encode() in (built.out / s.path).read_bytes()
    )
    shard = built.out / record.path
    flip_byte_inside(shard, table.read_bytes())
    output = OutputFolder(str(built.out))

    report = VerifyReport()
    check_files_config(output, built.manifest, True, report)
    size = shard.stat().st_size
    assert messages(report) == [
        f"differs from the build ({size:,} bytes, recorded {record.size:,})"
    ]

    # were the shard recorded as it is now, the stored file still disagrees with its own row
    now = hashlib.sha256(shard.read_bytes()).hexdigest()
    shards = tuple(
        replace(s, sha256=now) if s is record else s for s in built.manifest.files.shards
    )
    manifest = replace(built.manifest, files=replace(built.manifest.files, shards=shards))
    report = VerifyReport()
    check_files_config(output, manifest, True, report)
    assert messages(report) == [f"{table.name}: bytes differ from their sha256"]
    assert "files" not in report.counts  # a row that does not check out: the files are not counted


def test_damage_to_page_headers_and_levels_is_reported_never_raised(built: Built) -> None:
    """Every byte of the first page of each image chunk of a shard (its header, levels and the
    first value's length), flipped in turn: verify names a problem each time, and never fails."""
    shard = built.shard(0)
    original = shard.read_bytes()
    metadata = pq.read_metadata(shard)
    leaves = shard_pass.blob_leaves(metadata, built.manifest.image_columns)
    offsets = [o for leaf in leaves for o in range(leaf.start, leaf.start + 40)]
    try:
        for offset in offsets:
            damaged = bytearray(original)
            damaged[offset] ^= 0xFF
            shard.write_bytes(bytes(damaged))
            report = verify(str(built.out), VerifyOptions(threads=1))
            assert messages(report, built.manifest.shards[0].path), offset
    finally:
        shard.write_bytes(original)
