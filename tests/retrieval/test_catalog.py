"""The catalog: where every file's bytes are, from the ``files`` config and the shards' ends.

The config places each image (shard, row in the shard, column, position in a list), so an
export finds an image's page from the footers alone; a config written before it did is still
read, by the image shards' ``path`` columns."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from exporttools import export_tree, run_build
from factories import files_config

from nifti2parquet.common.files_index import PLACE_COLUMNS
from nifti2parquet.retrieval import catalog as catalog_module
from nifti2parquet.retrieval.catalog import Catalog, read_catalog
from nifti2parquet.retrieval.ranges import LocalStore, RequestCounter


def test_the_files_config_places_every_image_in_the_row_that_holds_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_build(export_tree(tmp_path / "source").root, out)
    config = files_config(out)
    images = [row for row in config.values() if row["stored"] == "data"]
    shards = {row["image_shard"] for row in images}
    tables = {shard: pq.read_table(out / shard) for shard in shards}
    for row in images:
        cell = tables[row["image_shard"]].column(row["image_column"])[row["image_row"]].as_py()
        held = cell if row["image_index"] is None else cell[row["image_index"]]
        assert held["path"] == row["path"], row
    assert len(images) >= 15 and len(shards) >= 2  # rows of several shards
    assert any((row["image_index"] or 0) > 0 for row in images)  # a second run in a list cell
    others = [row for row in config.values() if row["stored"] == "files"]
    assert others and all(row[c] is None for row in others for c in PLACE_COLUMNS)


def catalog(out: Path) -> tuple[Catalog, int]:
    counter = RequestCounter()
    return read_catalog(LocalStore(str(out)), "train", counter, threads=2), counter.requests


def image_places(found: Catalog) -> dict[str, tuple]:
    """Where each image's page is: shard, row group, column, row in the group, list position."""
    places = {}
    for f in found.files:
        spot = f.location
        if spot.shard.startswith("data/"):
            places[f.path] = (spot.shard, spot.row_group, spot.leaf.column, spot.row, spot.index)
    return places


def test_a_config_written_before_the_places_is_read_by_the_image_paths(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_build(export_tree(tmp_path / "source").root, out)
    placed, requests = catalog(out)
    for shard in (out / "files").glob("*.parquet"):  # as an older version wrote it
        table = pq.read_table(shard).drop_columns(list(PLACE_COLUMNS))
        pq.write_table(
            table, shard, use_dictionary=False, compression="none", write_page_index=True
        )
    unplaced, more = catalog(out)
    assert image_places(unplaced) == image_places(placed)  # the same page, every image
    assert len(image_places(placed)) >= 15 and len(unplaced.files) == placed.files_total
    assert more > requests  # the image shards' paths, read only when the config has no places


class SlowStore(LocalStore):
    """A local folder read as a distant server is: every read waits ``delay`` seconds, and the
    shards whose bytes were asked for are logged."""

    remote = True

    def __init__(self, root: str, delay: float) -> None:
        super().__init__(root)
        self.delay = delay
        self.shards: set[str] = set()

    def read(self, path: str, start: int, length: int) -> bytes:
        time.sleep(self.delay)
        self.shards.add(path)
        return super().read(path, start, length)


def test_image_shards_ends_are_read_on_a_guess_only_while_the_config_is_slow_to_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first image shards' ends are read beside the config's when the config is slow to
    say which are needed (a round trip saved on a distant Hub), never when it answers first.
    Threads enough for every read at once: each guess is made as its thread starts."""
    out = tmp_path / "out"
    run_build(export_tree(tmp_path / "source").root, out, max_shard_size=20_000)
    shards = sorted(f"data/{p.name}" for p in (out / "data").glob("*.parquet"))
    last = next(r for r in files_config(out).values() if r["image_shard"] == shards[-1])
    subject = last["path"].split("/")[0]  # a subject of the last shard
    keep = lambda path: path.startswith(f"{subject}/")  # noqa: E731
    needed = {r["image_shard"] for r in files_config(out).values() if keep(r["path"])} - {None}
    listed = len(list((out / "files").glob("*.parquet")))  # the files config's shards, all read
    threads = listed + len(shards)
    assert len(shards) >= 4 and len(needed) < len(shards)

    monkeypatch.setattr(catalog_module, "GUESS_AFTER", 60.0)  # the config always answers first
    near = SlowStore(str(out), 0.0)
    found = read_catalog(near, "train", RequestCounter(), threads=threads, keep=keep)
    assert {s for s in near.shards if s.startswith("data/")} == needed
    assert found.shards_read == len(needed) + listed

    monkeypatch.setattr(catalog_module, "GUESS_AFTER", 0.0)  # a guess as soon as it can
    far = SlowStore(str(out), 0.05)
    guessed = read_catalog(far, "train", RequestCounter(), threads=threads, keep=keep)
    assert {s for s in far.shards if s.startswith("data/")} == set(shards)  # each end, at once
    assert guessed.shards_read == len(shards) + listed
    assert guessed.files == found.files  # the same places, whichever ends were read
