"""The `datasets` route, measured in its own process: paths cast to ``Nifti()``, embedded and
written as Parquet exactly the way ``Dataset.push_to_hub`` prepares its shards (datasets 5.2):
size estimate → shard count and writer batch size → contiguous shards → ``embed_table_storage``
→ ``to_parquet``. Only the upload is left out. Usage: ``python datasets_path.py TABLE OUT_DIR``.
"""

from __future__ import annotations

import csv
import json
import os
import sys

from datasets import Dataset, List, Nifti, config
from datasets.arrow_writer import (
    get_writer_batch_size_from_data_size,
    get_writer_batch_size_from_features,
)
from datasets.table import embed_table_storage
from datasets.utils.py_utils import convert_file_size_to_int


def main(table: str, out: str) -> None:
    with open(table) as f:
        rows = list(csv.DictReader(f))
    folder = os.path.dirname(os.path.abspath(table))
    columns = {
        "subject_id": [r["subject_id"] for r in rows],
        "t1w": [os.path.join(folder, r["t1w"]) for r in rows],
        "age": [float(r["age"]) for r in rows],
    }
    if "bold" in rows[0]:  # sessions: a list of runs per row, as List(Nifti())
        columns["bold"] = [[os.path.join(folder, p) for p in json.loads(r["bold"])] for r in rows]
    ds = Dataset.from_dict(columns).cast_column("t1w", Nifti())
    if "bold" in columns:
        ds = ds.cast_column("bold", List(Nifti()))
    nbytes = ds._estimate_nbytes()
    batch = get_writer_batch_size_from_features(
        ds.features
    ) or get_writer_batch_size_from_data_size(len(ds), nbytes)
    num_shards = int(nbytes / convert_file_size_to_int(config.MAX_SHARD_SIZE)) + 1
    os.makedirs(out, exist_ok=True)
    for index in range(num_shards):
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True).with_format("arrow")
        shard = shard.map(embed_table_storage, batched=True, batch_size=batch, keep_in_memory=True)
        shard.to_parquet(
            os.path.join(out, f"train-{index:05d}-of-{num_shards:05d}.parquet"), batch_size=batch
        )
    print(f"shards={num_shards} writer_batch_size={batch} estimated_bytes={nbytes}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
