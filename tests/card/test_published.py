"""The files a build publishes: every shard of every split and config, the card's previews and the
card, exactly the files a build wrote outside its records."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from factories import subject_table

from nifti2parquet.card.published import PublishedFile, publication
from nifti2parquet.commands.build import BuildOptions, build
from nifti2parquet.shards.manifest import read_manifests
from nifti2parquet.shards.output import OutputFolder


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("published")
    table = subject_table(root / "src", subjects=3, runs=[1, 0, 2]).table
    out = root / "out"
    for split in ("train", "test"):
        build(str(table), str(out), BuildOptions(split=split, max_shard_size=20_000))
    return out


def written(out: Path) -> set[str]:
    """Every file the build wrote outside its records (.nifti2parquet/)."""
    return {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and ".nifti2parquet" not in p.relative_to(out).parts
    }


def test_every_file_the_build_wrote_is_published_once(out: Path) -> None:
    published = publication(read_manifests(OutputFolder(str(out))))
    assert sorted(published.paths) == sorted(set(published.paths)) == sorted(written(out))
    assert published.splits == ("train", "test")  # train first, as the card lists them
    assert {f.path.split("/")[0] for f in published.shards} == {"data", "files"}
    assert len(published.previews) == 4 and published.card == "README.md"  # 2 columns x 2 splits


def test_sizes_and_sha256_are_the_ones_the_build_recorded(out: Path) -> None:
    published = publication(read_manifests(OutputFolder(str(out))))
    for file in published.shards + published.previews:
        data = (out / file.path).read_bytes()
        assert file == PublishedFile(file.path, len(data), hashlib.sha256(data).hexdigest())


def test_the_patterns_datasets_loads_name_each_split_and_config(out: Path) -> None:
    published = publication(read_manifests(OutputFolder(str(out))))
    assert published.data_globs == (
        ("train", "data/train-*"),
        ("train", "files/train-*"),
        ("test", "data/test-*"),
        ("test", "files/test-*"),
    )
