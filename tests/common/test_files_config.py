"""The ``files`` config's rows: one per file in path order, each image placed in its row."""

from __future__ import annotations

import dataclasses

from factories import fake_rows

from nifti2parquet.common.files_config import (
    FILE_COLUMNS,
    PLACE_COLUMNS,
    SHA256,
    STORED_HERE,
    STORED_IN_ROWS,
    ImagePlaces,
    files_rows,
)
from nifti2parquet.common.rows import FileRef


def test_every_column_read_whole_equals_the_rows_read_one_by_one() -> None:
    rows = fake_rows([[10, 20, 30], [], [40]])
    notes = FileRef("/x/notes.txt", 5, "notes.txt", "notes.txt")
    rows = dataclasses.replace(rows, other_files=(notes,), references={"notes.txt": ("0_0",)})
    places = ImagePlaces()
    for k, (r, c, image) in enumerate(rows.images()):
        index = None if c == 1 else k - 1  # the T1w is single, the BOLD runs a list
        places.add(image.display, f"{k:064x}", "data/train-00000-of-00001.parquet", r, "x", index)
    config = files_rows(rows, places, ["ab" * 32]).rows

    assert [row[0] for row in config] == sorted(row[0] for row in config)  # path order
    assert len(config) == 5 and [c.name for c in FILE_COLUMNS][4:8] == list(PLACE_COLUMNS)
    for c in range(len(FILE_COLUMNS)):
        whole = config.column(c)
        cells = whole.to_pylist() if c == SHA256 else whole
        assert cells == [row[c] for row in config], FILE_COLUMNS[c].name
    stored = {row[0]: row for row in config}
    assert stored["notes.txt"][3:8] == (STORED_HERE, None, None, None, None)
    assert stored["notes.txt"][8] == ["0_0"] and stored["notes.txt"][9] is notes
    assert stored["0_1.nii.gz"][3:8] == (STORED_IN_ROWS, places.place(2)[0], 0, "x", 1)
