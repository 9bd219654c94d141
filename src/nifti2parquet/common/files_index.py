"""The names of the ``files`` config that reading it back needs: its folder, its small columns,
what ``stored`` says and where an image is.

Kept apart from :mod:`.files_config` (the config's columns, which are the rows' vocabulary), so an
export reads the index without importing the rows' dataclasses it never makes.
"""

from __future__ import annotations

FILES_CONFIG = "files"  # the config's name, and the folder of its shards
STORED_IN_ROWS = "data"  # ``stored`` of an image: its bytes are in an image row under data/
STORED_HERE = FILES_CONFIG  # ``stored`` of any other file: its bytes are in ``content``
INDEX_COLUMNS = ("path", "size", "sha256", "stored")  # the small columns: the dataset's index
# where an image is in data/: its shard, row in that shard, column and position in a list cell
# (none of them before this version's builds: an export then reads the image shards' paths)
PLACE_COLUMNS = ("image_shard", "image_row", "image_column", "image_index")
REFERENCES = "references"  # read by a filtered export only
