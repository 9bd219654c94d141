"""Image bytes moved into a shard exactly, hashed on the way, and changed files caught.

Local files are copied by the kernel and hashed by a second thread; remote ones (a real S3 server,
moto, on 127.0.0.1) arrive as blocks fetched ahead. Either way the shard holds exactly the written
pieces and the files' bytes, and every sha256 is the one ``sha256sum`` would print.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import padded_nifti
from s3server import S3Server

from nifti2parquet.common.errors import InputError
from nifti2parquet.common.hashing import Sha256s
from nifti2parquet.common.rows import FileRef
from nifti2parquet.common.storage import Storage
from nifti2parquet.shards.blocks import BLOCK
from nifti2parquet.shards.transfer import SMALL_IMAGE, ShardFile

BUCKET = "transfer.test"


def _ref(path: Path, url: str | None = None, size: int | None = None) -> FileRef:
    size = path.stat().st_size if size is None else size
    return FileRef(url or str(path), size, path.name, path.name)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(out: Path, pieces: list, storage: Storage | None = None, **kwargs) -> tuple:
    remote = [p for p in pieces if isinstance(p, FileRef) and "://" in p.url]
    copied: list[int] = []
    storage = storage or Storage()
    shard = ShardFile(str(out), storage, remote, 4, kwargs.get("read_ahead", 0), copied.append)
    try:
        for piece in pieces:
            shard.append_image(piece) if isinstance(piece, FileRef) else shard.write(piece)
        return (*shard.finish(), sum(copied))
    except BaseException:
        shard.abort()
        raise


def test_pieces_and_images_land_in_order_with_their_hashes(tmp_path: Path) -> None:
    images = [padded_nifti(tmp_path / f"i{k}.nii.gz", 50_000 * (k + 1), seed=k) for k in range(3)]
    pieces = [b"PAR1", _ref(images[0]), b"\x00" * 7, _ref(images[1]), _ref(images[2]), b"end"]
    size, digest, image_digests, copied = _write(tmp_path / "shard", pieces)

    expected = b"".join(p if isinstance(p, bytes) else Path(p.url).read_bytes() for p in pieces)
    assert (tmp_path / "shard").read_bytes() == expected
    assert (size, digest) == (len(expected), _sha(expected))
    assert image_digests == [_sha(p.read_bytes()) for p in images]
    assert copied == sum(p.stat().st_size for p in images)  # progress counts every image byte


def test_an_image_larger_than_one_copy_step(tmp_path: Path) -> None:
    big = tmp_path / "big.nii"
    big.write_bytes(os.urandom(BLOCK + 12345))
    size, digest, image_digests, _ = _write(tmp_path / "shard", [b"x", _ref(big)])
    assert size == BLOCK + 12346
    assert digest == _sha(b"x" + big.read_bytes())
    assert image_digests == [_sha(big.read_bytes())]


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem")
def test_copy_from_another_filesystem(tmp_path: Path) -> None:
    """Between filesystems the kernel may refuse ``copy_file_range``; the bytes still arrive."""
    shm = Path("/dev/shm") / f"n2p-test-{os.getpid()}"
    shm.mkdir()
    try:
        image = padded_nifti(shm / "a.nii.gz", 300_000)
        _, digest, _, _ = _write(tmp_path / "shard", [_ref(image), _ref(image)])
        assert (tmp_path / "shard").read_bytes() == image.read_bytes() * 2
        assert digest == _sha(image.read_bytes() * 2)
    finally:
        shutil.rmtree(shm)


@pytest.mark.parametrize("planned", [-1, +1])
def test_a_file_whose_size_changed_since_planning_is_refused(tmp_path: Path, planned: int) -> None:
    image = padded_nifti(tmp_path / "a.nii.gz", 20_000)
    ref = _ref(image, size=image.stat().st_size + planned)
    with pytest.raises(InputError) as caught:
        _write(tmp_path / "shard", [ref])
    assert caught.value.problems[0].path == "a.nii.gz"
    assert "changed while building" in caught.value.problems[0].message


def test_a_file_hashed_before_its_copy_is_checked_against_that_hash(tmp_path: Path) -> None:
    """The files config hashes its files before it copies them; the copy keeps the recorded
    digest (as 32 bytes, not a string per file) when the bytes still match it, and refuses the
    file when they do not."""
    small = tmp_path / "events.tsv"
    small.write_bytes(b"onset\tduration\n1\t2\n")
    recorded = _sha(small.read_bytes())
    shard = ShardFile(str(tmp_path / "shard"), Storage(), [], 4, 0)
    shard.append_image(_ref(small), recorded)
    _, _, digests = shard.finish()
    assert digests == [recorded] and isinstance(digests, Sha256s)

    small.write_bytes(b"onset\tduration\n3\t4\n")  # same size, other bytes
    with pytest.raises(InputError) as caught:
        _write_expecting(tmp_path / "shard2", _ref(small), recorded)
    assert caught.value.problems[0].path == "events.tsv"
    assert "changed while building" in caught.value.problems[0].message


def test_a_large_file_hashed_before_its_copy_is_checked_once_its_blocks_are(
    tmp_path: Path,
) -> None:
    """A file above SMALL_IMAGE is hashed block by block on the hashing thread: the recorded
    sha256 is compared when the shard is finished, and a mismatch refuses the file."""
    large = tmp_path / "physio.tsv.gz"
    large.write_bytes(bytes(range(256)) * (SMALL_IMAGE // 256 + 1))
    recorded = _sha(large.read_bytes())
    shard = ShardFile(str(tmp_path / "shard"), Storage(), [], 4, 0)
    shard.append_image(_ref(large), recorded)
    assert shard.finish()[2] == [recorded]

    with pytest.raises(InputError) as caught:
        _write_expecting(tmp_path / "shard2", _ref(large), _sha(b"the bytes when hashed"))
    assert caught.value.problems[0].path == "physio.tsv.gz"
    assert "changed while building" in caught.value.problems[0].message


def _write_expecting(out: Path, ref: FileRef, expected: str) -> None:
    shard = ShardFile(str(out), Storage(), [], 4, 0)
    try:
        shard.append_image(ref, expected)
        shard.finish()
    except BaseException:
        shard.abort()
        raise


def test_a_vanished_file_is_named(tmp_path: Path) -> None:
    image = padded_nifti(tmp_path / "gone.nii.gz", 20_000)
    ref = _ref(image)
    image.unlink()
    with pytest.raises(InputError) as caught:
        _write(tmp_path / "shard", [ref])
    assert caught.value.problems[0].path == "gone.nii.gz"
    assert "cannot read" in caught.value.problems[0].message


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


def _upload(s3: S3Server, path: Path) -> str:
    s3.client().upload_file(str(path), BUCKET, path.name)
    return f"s3://{BUCKET}/{path.name}"


def test_remote_images_arrive_in_order_within_the_read_ahead(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storage = Storage({"endpoint_url": s3.url})
    local = [padded_nifti(tmp_path / f"r{k}.nii.gz", 3_000_000 * (k + 1), seed=k) for k in range(3)]
    refs = [_ref(p, _upload(s3, p)) for p in local]
    pieces = [b"head", refs[0], refs[1], b"mid", refs[2]]
    size, digest, image_digests, copied = _write(
        tmp_path / "shard", pieces, storage, read_ahead=8 << 20
    )
    expected = b"head" + local[0].read_bytes() + local[1].read_bytes() + b"mid"
    expected += local[2].read_bytes()
    assert (tmp_path / "shard").read_bytes() == expected
    assert digest == _sha(expected) and size == len(expected)
    assert image_digests == [_sha(p.read_bytes()) for p in local]
    assert copied == sum(p.stat().st_size for p in local)


@pytest.mark.parametrize("planned", [-1, +1])
def test_a_remote_file_of_another_size_is_refused(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planned: int
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storage = Storage({"endpoint_url": s3.url})
    image = padded_nifti(tmp_path / f"s{planned + 1}.nii.gz", 100_000)
    ref = _ref(image, _upload(s3, image), size=image.stat().st_size + planned)
    with pytest.raises(InputError) as caught:
        _write(tmp_path / "shard", [ref], storage)
    assert "changed while building" in caught.value.problems[0].message
