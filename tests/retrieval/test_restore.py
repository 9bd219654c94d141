"""Writing files into DEST: each checked, synced and only then renamed into place, the syncs and
renames done by threads of their own while the next files stream in; a file that cannot be put
in place fails the export in one line, leaves no temp file, and the others are still written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from nifti2parquet.common.errors import OutputError
from nifti2parquet.common.progress import Reporter
from nifti2parquet.retrieval.catalog import DatasetFile
from nifti2parquet.retrieval.restore import TEMP, restore


class Fetch:
    """Some files read together, their bytes handed over in pieces."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        self.contents = contents
        self.files = tuple(
            DatasetFile(path, len(data), hashlib.sha256(data).hexdigest(), None)  # type: ignore[arg-type]
            for path, data in contents.items()
        )

    def run(self, write: object) -> None:
        for file in self.files:
            data = self.contents[file.path]
            write(file, (data[k : k + 1000] for k in range(0, len(data), 1000)))  # type: ignore[operator]


def fetch_list() -> list[Fetch]:
    return [
        Fetch({f"sub-{s:02d}/anat/f{k}.bin": os.urandom(1000 * k + s) for k in range(4)})
        for s in range(6)
    ]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_every_file_is_synced_before_it_gets_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        fsync(fd)
        events.append(("sync", os.readlink(f"/proc/self/fd/{fd}")))

    def spy_replace(src: str, dst: str) -> None:
        events.append(("rename", src))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    fetches = fetch_list()
    written = restore(str(tmp_path), fetches, Reporter(), threads=3)

    expected = {path: data for f in fetches for path, data in f.contents.items()}
    assert tree(tmp_path) == expected and written == sum(map(len, expected.values()))
    renamed = [path for what, path in events if what == "rename"]
    assert len(renamed) == len(expected)
    for path in renamed:  # each temp file synced, then renamed
        assert events.index(("sync", path)) < events.index(("rename", path))


def test_a_file_that_cannot_be_put_in_place_fails_in_one_line(tmp_path: Path) -> None:
    fetches = fetch_list()
    blocked = tmp_path / fetches[2].files[1].path
    (blocked / "in-the-way").mkdir(parents=True)  # a folder where the file must go
    with pytest.raises(OutputError) as failure:
        restore(str(tmp_path), fetches, Reporter(), threads=3)
    assert str(failure.value).startswith(f"{blocked}: cannot write: ")
    assert not [p for p in tmp_path.rglob("*") if TEMP.match(p.name)]  # no temp file left
    written = tree(tmp_path)
    assert fetches[0].files[0].path in written  # the others were written
