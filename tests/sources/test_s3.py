"""Sources and outputs on S3: a real S3-compatible server (moto) on 127.0.0.1.

A table and its images are uploaded to a bucket; building from ``s3://...`` (anonymously, as for
OpenNeuro's public bucket, and with keys) gives the same shards and card as building the same files
from local disk. The output can be an ``s3://`` folder too, including array-job parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import build_options, subject_table, tree_bytes
from s3server import KEY, SECRET, S3Server

from nifti2parquet import Storage, build

BUCKET = "openneuro.test"
OPTIONS = dict(max_shard_size=20_000, row_group_size=8_000, workers=1)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    server.client().create_bucket(Bucket=BUCKET, ACL="public-read")  # as OpenNeuro's bucket
    yield server
    server.stop()


def upload_tree(s3: S3Server, root: Path, prefix: str) -> None:
    client = s3.client()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.upload_file(
                str(path),
                BUCKET,
                f"{prefix}/{path.relative_to(root)}",
                ExtraArgs={"ACL": "public-read"},
            )


def download_tree(s3: S3Server, prefix: str, target: Path) -> None:
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            local = target / item["Key"][len(prefix) + 1 :]
            local.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, item["Key"], str(local))


def access_storage(s3: S3Server, access: str, monkeypatch: pytest.MonkeyPatch) -> Storage:
    """No AWS credentials in the environment: anonymous (as for OpenNeuro), or keys given."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    options = {"endpoint_url": s3.url}
    if access == "keyed":
        options.update(key=KEY, secret=SECRET)
    return Storage(options)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> tuple[Path, dict[str, bytes]]:
    """A table dataset on disk and in the bucket (under ``table/``), and its local build."""
    root = tmp_path_factory.mktemp("s3src")
    data = subject_table(root, subjects=6, runs=[1, 2, 0, 1, 3, 1], missing_t1w=[3])
    upload_tree(s3, root, "table")
    out = tmp_path_factory.mktemp("s3local") / "out"
    build(str(data.table), str(out), build_options(**OPTIONS))
    return data.table, tree_bytes(out)


@pytest.mark.parametrize("access", ["anonymous", "keyed"])
def test_table_on_s3_builds_like_local(
    s3: S3Server, local, tmp_path: Path, access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, expected = local
    storage = access_storage(s3, access, monkeypatch)
    s3.clear_log()
    result = build(
        f"s3://{BUCKET}/table/participants.csv",
        str(tmp_path / "out"),
        build_options(**OPTIONS, storage=storage),
    )
    assert result.num_images == 5 + 8 and not result.left_out  # 5 T1w, 8 BOLD runs
    assert tree_bytes(tmp_path / "out") == expected
    assert s3.requests, "the build really read from the server"


def test_anonymous_is_used_when_no_credentials_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    fs, _ = Storage({"skip_instance_cache": True}).filesystem(f"s3://{BUCKET}/x")
    assert fs.anon is True
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    fs, _ = Storage({"skip_instance_cache": True}).filesystem(f"s3://{BUCKET}/x")
    assert fs.anon is False


def test_output_on_s3_equals_local_output(s3: S3Server, local, tmp_path: Path) -> None:
    table, expected = local
    storage = Storage({"endpoint_url": s3.url, "key": KEY, "secret": SECRET})
    result = build(str(table), f"s3://{BUCKET}/out1", build_options(**OPTIONS, storage=storage))
    assert result.verify and result.verify["ok"]
    download_tree(s3, "out1", tmp_path / "got")
    assert tree_bytes(tmp_path / "got") == expected
    names = {k for k in tree_bytes(tmp_path / "got")}
    assert not any("partial" in n for n in names)


def test_parts_writing_to_s3_then_finalize(s3: S3Server, local, tmp_path: Path) -> None:
    table, expected = local
    storage = Storage({"endpoint_url": s3.url, "key": KEY, "secret": SECRET})
    for index in range(2):
        build(
            str(table),
            f"s3://{BUCKET}/out2",
            build_options(**OPTIONS, storage=storage, part=(index, 2)),
        )
    build(
        str(table), f"s3://{BUCKET}/out2", build_options(**OPTIONS, storage=storage, finalize=True)
    )
    download_tree(s3, "out2", tmp_path / "got")
    assert tree_bytes(tmp_path / "got") == expected


@pytest.fixture(scope="module")
def bids_local(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> tuple[Path, dict]:
    """The reference BIDS tree on disk and in the bucket (under ``bids/``), and its local build."""
    from bids_factory import sessions_tree

    tree = sessions_tree(tmp_path_factory.mktemp("s3bids") / "ds")
    for link in [p for p in tree.root.rglob("*") if p.is_symlink() and not p.exists()]:
        link.unlink()  # an object store holds no symlinks: both builds must see the same files
    upload_tree(s3, tree.root, "bids")
    out = tmp_path_factory.mktemp("s3bidslocal") / "out"
    build(str(tree.root), str(out), build_options(**OPTIONS, on_error="skip"))
    return tree.root, tree_bytes(out)


@pytest.mark.parametrize("access", ["anonymous", "keyed"])
def test_bids_tree_on_s3_builds_like_local(
    s3: S3Server, bids_local, tmp_path: Path, access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = bids_local
    storage = access_storage(s3, access, monkeypatch)
    s3.clear_log()
    result = build(
        f"s3://{BUCKET}/bids",
        str(tmp_path / "out"),
        build_options(**OPTIONS, on_error="skip", storage=storage),
    )
    assert tree_bytes(tmp_path / "out") == expected
    files = sum(1 for p in root.rglob("*") if p.is_file())
    lists = s3.lists("bids")
    assert 1 <= len(lists) <= 2, f"{len(lists)} LIST requests for {files} files"
    heads = [r for r in s3.requests if r.method == "HEAD"]
    assert len(heads) <= 3, "sizes come from the listing: no file is stat'ed on its own"
    assert result.files_found == result.num_images + result.other_files + len(result.left_out)


def test_segmentation_dataset_on_s3_builds_like_local(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segmentation_factory import nnunet_folder

    folder = nnunet_folder(tmp_path / "Dataset005_Prostate", missing_channel=None)
    upload_tree(s3, folder.root, "seg/Dataset005_Prostate")
    expected = tmp_path / "local"
    build(str(folder.root), str(expected), build_options(**OPTIONS))
    storage = access_storage(s3, "anonymous", monkeypatch)
    result = build(
        f"s3://{BUCKET}/seg/Dataset005_Prostate",
        str(tmp_path / "out"),
        build_options(**OPTIONS, storage=storage),
    )
    assert result.num_rows == len(folder.train) and not result.left_out
    assert tree_bytes(tmp_path / "out") == tree_bytes(expected)
