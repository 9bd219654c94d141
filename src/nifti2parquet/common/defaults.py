"""The defaults the command line shows, in a module that imports nothing.

The plan (``shards.plan``) and the sources' options use them, and so does every command's
``--help``: kept here, the help reads them without loading pyarrow or any kind of source.
"""

from __future__ import annotations

DEFAULT_MAX_SHARD_SIZE = 500_000_000  # what `datasets` aims at per shard
DEFAULT_ROW_GROUP_SIZE = 100_000_000  # what `datasets` aims at per row group; the viewer reads it
DEFAULT_SPLIT = "train"  # ``--split``: the split a build writes

# ``--rows``: one row per session (or per subject when the dataset has no sessions), per
# subject, or per image file. A table's rows are its own rows.
ROW_LAYOUTS = ("auto", "session", "subject", "file")
