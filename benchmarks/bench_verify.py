"""How long ``verify`` takes, and how much memory, compared with reading the shards once.

    python benchmarks/bench_verify.py                   # builds ~1.1 GB once, then 5 rounds
    python benchmarks/bench_verify.py --data large-nii  # one uncompressed 512 MiB .nii
    python benchmarks/bench_verify.py --cold            # drop the page cache before each run (root)
    python benchmarks/bench_verify.py --also OTHER/src  # and verify from another checkout, too

Side by side: ``cat shards > /dev/null`` (reading once), ``sha256sum`` of the shards (one hash
pass, one core), ``nifti2parquet verify`` (every shard's sha256, every image cell's header, the
card, the manifest) and ``nifti2parquet verify --deep`` (every image decoded as ``datasets``
would). The target: checking a dataset must not take much longer than reading it once, in memory
that does not grow with the images. ``--cold`` empties the page cache of the whole machine before
every run, so every contender reads from disk; on a machine shared with others, leave it off.
``--also`` runs the same two verifies with another checkout's ``src`` first on ``PYTHONPATH`` (the
commit before a change, say), so before and after are measured in the same rounds.

Data: ``images`` is the build table's data (10-150 MB ``.nii.gz``, one per row, ``--size-gb``);
``large-nii`` is a single uncompressed ``.nii`` of ``--image-mb`` MiB, the size at which reading
an image whole would show in the peak memory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from harness import (
    PYTHON,
    Comparison,
    built_by_this_code,
    drop_caches,
    fresh,
    image_dataset,
    interleave,
    mark_built,
    measure,
    tidy,
    write_result,
)
from tables import Table, megabytes, ratio, seconds

HERE = Path(__file__).parent
CAT, SHA = "cat shards > /dev/null", "sha256sum shards"
VERIFY, DEEP = "nifti2parquet verify", "nifti2parquet verify --deep"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["images", "large-nii"], default="images")
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--image-mb", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument("--also", type=Path, help="another checkout's src, verified side by side")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    return parser.parse_args(argv)


def large_nii(folder: Path, mebibytes: int) -> Path:
    """One row holding one uncompressed ``.nii`` of ``mebibytes`` MiB (random int16 voxels),
    made once and reused; the table naming it."""
    import nibabel as nib

    table = folder / "participants.csv"
    if table.exists():
        return table
    fresh(folder)
    image = folder / "images" / "sub-0000_T1w.nii"
    image.parent.mkdir(parents=True)
    slices = mebibytes * 2**20 // (2 * 256 * 256)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((256, 256, slices))
    header["vox_offset"] = 352
    rng = np.random.default_rng(0)
    with open(image, "wb") as f:
        f.write(header.binaryblock + bytes(4))
        for _ in range(slices):
            f.write(rng.bytes(2 * 256 * 256))
    table.write_text("subject_id,t1w\nsub-0000,images/sub-0000_T1w.nii\n")
    return table


def compare(args: argparse.Namespace) -> dict:
    if args.data == "images":
        table = image_dataset(args.work / f"source-{args.size_gb}gb", args.size_gb)
        built = args.work / f"verify-target-{args.size_gb}gb"
    else:
        table = large_nii(args.work / f"source-nii-{args.image_mb}mib", args.image_mb)
        built = args.work / f"verify-target-nii-{args.image_mb}mib"
    if not built_by_this_code(built):
        fresh(built)
        command = [PYTHON, "-m", "nifti2parquet", "build", str(table), str(built), "--quiet"]
        if measure("build", command).returncode:
            raise SystemExit("build failed")
        mark_built(built)
    shards = sorted(str(p) for p in (built / "data").iterdir())
    data = sum(os.path.getsize(p) for p in shards)
    if args.cold and not drop_caches():
        raise SystemExit("--cold needs root (writing /proc/sys/vm/drop_caches)")

    def step(name: str, command: list[str], env: dict[str, str] | None = None):
        def run() -> object:
            if args.cold:
                drop_caches()
            return measure(name, command, env)

        return name, run

    comparison = Comparison()
    verify = [PYTHON, "-m", "nifti2parquet", "verify", str(built), "-q"]
    steps = [
        step(CAT, ["sh", "-c", f"cat {' '.join(shards)} > /dev/null"]),
        step(SHA, ["sha256sum", *shards]),
        step(VERIFY, verify),
        step(DEEP, [*verify, "--deep"]),
    ]
    if args.also:
        other = {"PYTHONPATH": str(args.also.resolve())}
        steps += [
            step(f"{VERIFY} ({args.also})", verify, other),
            step(f"{DEEP} ({args.also})", [*verify, "--deep"], other),
        ]
    interleave(args.rounds, steps, comparison)
    print(f"\n{len(shards)} shards, {data / 1e9:.2f} GB, {'cold' if args.cold else 'warm'} cache\n")
    print(comparison.table(data))
    report = {
        "data": args.data,
        "data_bytes": data,
        "shards": len(shards),
        "cold_cache": args.cold,
        "rounds": args.rounds,
        "verify_over_cat": comparison.seconds(VERIFY) / comparison.seconds(CAT),
        "verify_over_sha256sum": comparison.seconds(VERIFY) / comparison.seconds(SHA),
        **comparison.results(),
    }
    name = "verify.json" if args.data == "images" else f"verify-{args.data}.json"
    write_result(HERE / "results" / name, report)
    return report


def verify_table(report: dict, table_id: str, title: str, data: str) -> Table:
    one_hash = report["seconds"][SHA]
    rows = tuple(
        (
            name,
            seconds(value),
            ratio(value / one_hash),
            seconds(report["cpu_seconds"][name]),
            megabytes(report["peak_rss"][name]),
        )
        for name, value in report["seconds"].items()
    )
    notes = (
        f"{data}: {report['shards']} shards, {report['data_bytes'] / 1e9:.2f} GB; "
        f"{'cold' if report['cold_cache'] else 'warm'} page cache; {report['rounds']} "
        "interleaved rounds, medians",
        f"verify / `sha256sum`: **{report['verify_over_sha256sum']:.2f}x**, / `cat`: "
        f"{report['verify_over_cat']:.2f}x; verify reads each shard once, hashing it (several "
        "shards on several threads; `sha256sum` on one) and checking every image cell's header "
        "on the way; `--deep` also decodes every image, one at a time",
    )
    columns = ("", "median", "× sha256sum", "CPU", "peak memory")
    return Table(table_id, title, columns, rows, notes)


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: the 1.1 GB build and a 512 MiB .nii, 5 rounds (0.5 GB, 256 MiB and 2 rounds,
    quick); warm page cache."""
    size = ["--size-gb", "0.5", "--image-mb", "256", "--rounds", "2"] if quick else []
    found = []
    for data, table_id, title, what in (
        ("images", "verify", "Verify, against reading the shards once", "the build table's data"),
        ("large-nii", "verify-large", "Verify of one large uncompressed image", "one .nii"),
    ):
        args = parse(["--data", data, *size])
        args.work = work
        found.append(verify_table(compare(args), table_id, title, what))
    tidy(work, ["source-*", "verify-target-*"])
    return found


def main() -> None:
    args = parse()
    report = compare(args)
    print(f"\nverify / cat: {report['verify_over_cat']:.2f}x")


if __name__ == "__main__":
    main()
