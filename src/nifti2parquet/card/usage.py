"""How a reader uses the dataset, for the card: load it (``datasets``, DuckDB, Polars, plain
pyarrow), and get the dataset's own files back (the ``files`` config, ``export``).

Every snippet names what it needs installed, and every example command names things that exist
(a subject of this dataset). nifti2parquet itself may not be on PyPI when a reader comes: the
card then says how to install it from its repository, whose address is read from the installed
package's metadata (``[project.urls]`` in ``pyproject.toml``), never written into the code.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence

from ..common.files_config import FILES_CONFIG
from ..common.units import count, format_size
from ..shards.manifest import Manifest

MIN_DATASETS = "4.4"


def load_snippets(manifest: Manifest, repo: str) -> str:
    images = list(manifest.image_columns)
    image = images[0] if images else "image"
    excluded = ", ".join(images or [image])
    dropped = ", ".join(f'"{name}"' for name in images or [image])
    is_list = manifest.image_columns.get(image) == "image_list"
    access = f'row["{image}"][0]' if is_list else f'row["{image}"]'
    first = max(0, manifest.first_row_per_column.get(image, 0))  # a row that has this image
    split = manifest.split
    return f"""## Load it

Needs `datasets>={MIN_DATASETS}` and `nibabel` (older `datasets` fail with "Feature type 'Nifti' not
found"). Images decode to `nibabel.Nifti1Image`.

```python
from datasets import load_dataset

ds = load_dataset("{repo}", split="{split}")
row = ds[{first}]
img = {access}                       # a nibabel Nifti1Image
print(img.shape, img.header.get_zooms())
voxels = img.get_fdata()
```

Stream it without downloading everything: `load_dataset("{repo}", split="{split}", streaming=True)`.

DuckDB (`pip install duckdb`; filter on metadata without decoding any image):

```sql
SELECT * EXCLUDE ({excluded})
FROM 'hf://datasets/{repo}/data/{split}-*.parquet'
LIMIT 10;
```

Polars (`pip install polars`):

```python
import polars as pl

df = pl.scan_parquet("hf://datasets/{repo}/data/{split}-*.parquet").drop([{dropped}]).collect()
```

Without `datasets` (any Parquet reader plus nibabel: `pip install pyarrow nibabel`), from a
downloaded shard:

```python
import gzip, nibabel as nib, pyarrow.parquet as pq

cell = pq.read_table("data/{split}-00000-of-{len(manifest.shards):05d}.parquet",
                     columns=["{image}"]).column(0)[0].as_py()
raw = {"cell[0]['bytes']" if is_list else "cell['bytes']"}
img = nib.Nifti1Image.from_bytes(gzip.decompress(raw) if raw[:2] == b"\\x1f\\x8b" else raw)
```
"""


def files_section(manifests: Sequence[Manifest], repo: str) -> str:
    """The two ways to get the data: rows for ML, the dataset's own files for BIDS tools."""
    files = [m.files for m in manifests if m.files]
    total = sum(f.num_files for f in files)
    stored = count(sum(f.stored for f in files), "file")
    size = format_size(sum(f.stored_bytes for f in files))
    split = manifests[0].split
    info = manifests[0].info
    bids = bool(info.bids_version)
    folder = info.segmentation is not None  # a folder of cases: dataset.json...
    what = "events, sidecars as written, participants, README..." if bids else "the table itself"
    what = "dataset.json and the dataset's other files" if folder else what
    tree, tools = (
        ("the BIDS tree", "fMRIPrep, MRIQC and other BIDS apps")
        if bids
        else ("the files", "any tool")
    )
    subject = f" --subject {info.example_subject}" if bids and info.example_subject else ""
    command = f"nifti2parquet export {repo} {'ds/' if bids else 'files/'}{subject}"
    command += f" --split {split}" if len(manifests) > 1 else ""  # one split per export
    filtered = (
        "A filtered export fetches only the selected subjects' bytes (HTTP range requests) and "
        "still writes the dataset-level files and the files the selected ones name (stimuli, "
        "empty-room recordings, field maps' targets), so it is a valid BIDS dataset.\n"
        if subject
        else ""
    )
    section = (
        f"## Every file, and {tree} back\n\n"
        f"The `{FILES_CONFIG}` config lists every file of the dataset ({total:,}) with its "
        f"`path`, `size` and `sha256`. It holds the bytes of every file that is not an image "
        f"in the rows ({stored}, {size}: {what}) and points each image to its row "
        f"(`stored` = `data`; `image_shard`, `image_row`, `image_column`).\n\n"
        f'```python\nfiles = load_dataset("{repo}", "{FILES_CONFIG}", split="{split}")\n```\n\n'
        f"Get {tree} back, every file at its original path and byte for byte (the sha256 of "
        f"each file is checked as it is written), for {tools}:\n\n"
        f"```\npip install nifti2parquet\n{command}\n```\n\n{install_note()}{filtered}"
    )
    return section.rstrip("\n") + "\n"


def repository_url() -> str | None:
    """nifti2parquet's repository, as its installed metadata names it (``Repository``)."""
    try:
        urls = importlib.metadata.metadata("nifti2parquet").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("repository", "source", "source code") and url.strip():
            return url.strip()
    return None


def install_note() -> str:
    """What to do when ``pip install nifti2parquet`` finds nothing (not on PyPI yet)."""
    url = repository_url()
    if url is None:
        return ""
    return (
        "If `pip install nifti2parquet` finds no such package (it may not be on PyPI yet), "
        f"install it from its repository: `pip install git+{url}`.\n\n"
    )
