"""How long ``verify`` takes, and how much memory, compared with reading the shards once.

    python benchmarks/bench_verify.py                   # ~1.1 GB built once, 5 rounds
    python benchmarks/bench_verify.py --data large-nii  # one 512 MiB uncompressed .nii

Side by side, page cache dropped before each run when possible (root) so every contender reads from
disk: ``cat shards > /dev/null`` (reading once), ``sha256sum`` of the shards (one hash pass, one
core), ``nifti2parquet verify`` (every shard's sha256, every image cell's header, the card, the
manifest) and ``nifti2parquet verify --deep`` (also every image decoded as ``datasets`` would).
The target: checking a dataset must not take much longer than reading it once, and its memory must
not grow with the images.

Data: ``images`` is the 10-150 MB ``.nii.gz`` table of the other benchmarks (``--size-gb``);
``large-nii`` is one uncompressed 512 MiB ``.nii`` (``--image-mb``), the image size where reading
an image whole shows in the peak memory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from harness import (
    PYTHON,
    Comparison,
    drop_caches,
    fresh,
    image_dataset,
    interleave,
    measure,
    write_result,
)

HERE = Path(__file__).parent


def large_nii_dataset(folder: Path, megabytes: int) -> Path:
    """One row holding one uncompressed ``.nii`` of ``megabytes`` MiB, made once and reused."""
    import nibabel as nib

    table = folder / "participants.csv"
    if table.exists():
        return table
    fresh(folder)
    path = folder / "images" / "sub-0000_T1w.nii"
    path.parent.mkdir(parents=True)
    slices = megabytes * 2**20 // (2 * 256 * 256)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((256, 256, slices))
    header["vox_offset"] = 352
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(header.binaryblock + bytes(4))
        for _ in range(slices):
            f.write(rng.bytes(2 * 256 * 256))
    table.write_text("subject_id,t1w\nsub-0000,images/sub-0000_T1w.nii\n")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["images", "large-nii"], default="images")
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--image-mb", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    args = parser.parse_args()
    if args.data == "images":
        source = args.work / f"source-{args.size_gb}gb"
        table = image_dataset(source, args.size_gb)
        built = args.work / "verify-target"
    else:
        source = args.work / f"source-nii-{args.image_mb}mb"
        table = large_nii_dataset(source, args.image_mb)
        built = args.work / f"verify-target-nii-{args.image_mb}mb"
    if not (built / "README.md").exists():
        fresh(built)
        command = [PYTHON, "-m", "nifti2parquet", "build", str(table), str(built), "--quiet"]
        measure("build", command)
    shards = sorted(str(p) for p in (built / "data").iterdir())
    data = sum(os.path.getsize(p) for p in shards)
    cold = drop_caches()

    def step(name: str, command: list[str]):
        def run() -> object:
            drop_caches()
            return measure(name, command)

        return name, run

    verify = [PYTHON, "-m", "nifti2parquet", "verify", str(built), "-q"]
    comparison = Comparison()
    interleave(
        args.rounds,
        [
            step("cat shards > /dev/null", ["sh", "-c", f"cat {' '.join(shards)} > /dev/null"]),
            step("sha256sum shards", ["sha256sum", *shards]),
            step("nifti2parquet verify", verify),
            step("nifti2parquet verify --deep", [*verify, "--deep"]),
        ],
        comparison,
    )
    ratio = comparison.seconds("nifti2parquet verify") / comparison.seconds(
        "cat shards > /dev/null"
    )
    print(f"\n{len(shards)} shards, {data / 1e9:.2f} GB, {'cold' if cold else 'warm'} page cache\n")
    print(comparison.table(data))
    print(f"\nverify / cat: {ratio:.2f}x")
    name = "verify.json" if args.data == "images" else f"verify-{args.data}.json"
    write_result(
        HERE / "results" / name,
        {
            "data": args.data,
            "data_bytes": data,
            "cold_cache": cold,
            "verify_over_cat": ratio,
            **comparison.results(),
        },
    )


if __name__ == "__main__":
    main()
