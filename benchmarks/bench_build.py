"""Build throughput and peak memory, side by side with ``cp -r`` and the `datasets` route.

    python benchmarks/bench_build.py                # 1.1 GB of 10-150 MB images, 3 rounds
    python benchmarks/bench_build.py --size-gb 2.2  # more data: peak RSS must stay flat
    python benchmarks/bench_build.py --cold         # drop the page cache before every run (root)

Each round runs, in this order and each as its own process, until the data is on disk:
``cp -r SRC DST && sync`` (the I/O floor), the two sha256 passes a build makes and nothing else
(``hash_floor.py``: the floor under any build with hashes on), ``nifti2parquet build`` (shards
are fsynced; integrity hashes of every input and shard on) followed by ``sync``, and the
`datasets` route (``datasets_path.py``) followed by ``sync``. Results go to
``benchmarks/results/`` and are summarised in ``benchmarks/README.md``.

Targets (issue 2): build wall time <= 1.5x ``cp -r``; build peak RSS <= 2 x largest row + 200 MB,
flat as the data grows, and <= 1/5 of the `datasets` route's.

``--privacy`` adds two more contenders, the same build through the Python API with the privacy
scan on (as every build runs) and off (``BuildOptions(privacy_scan=False)``, only for measuring):
issue 14's target is that the scan adds at most 5% to the build.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from harness import (
    PYTHON,
    Comparison,
    api_build,
    drop_caches,
    fresh,
    image_dataset,
    interleave,
    measure,
    print_privacy,
    privacy_overhead,
    privacy_steps,
    session_table,
    write_result,
)

HERE = Path(__file__).parent
HASHES = "the two sha256 alone (no copy)"


def _largest_row(table: Path) -> int:
    """Bytes of the largest row: its T1w plus its BOLD runs (the memory target's unit)."""
    import csv
    import json

    largest = 0
    with open(table) as f:
        for row in csv.DictReader(f):
            paths = [row["t1w"]] + (json.loads(row["bold"]) if row.get("bold") else [])
            largest = max(largest, sum((table.parent / p).stat().st_size for p in paths))
    return largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--min-mb", type=float, default=10)
    parser.add_argument("--max-mb", type=float, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers", default="0", help="nifti2parquet --workers (0: the default, one per two cores)"
    )
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument("--no-datasets", action="store_true", help="skip the datasets route")
    parser.add_argument(
        "--privacy", action="store_true", help="also compare the build with its scan on and off"
    )
    parser.add_argument(
        "--shape",
        choices=["images", "sessions"],
        default="images",
        help="one image per row, or sessions (T1w + 1-3 BOLD runs per row)",
    )
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    args = parser.parse_args()

    suffix = "" if args.shape == "images" else "-sessions"
    source = args.work / f"source-{args.size_gb}gb{suffix}"
    if not (source / "participants.csv").exists():
        print(f"generating {args.size_gb} GB of {args.shape} in {source} ...")
        fresh(source)
        if args.shape == "images":
            image_dataset(source, args.size_gb, args.min_mb, args.max_mb)
        else:
            session_table(source, int(args.size_gb * 1e9))
    table = source / "participants.csv"
    sizes = [p.stat().st_size for p in (source / "images").iterdir()]
    data_bytes = sum(p.stat().st_size for p in (source / "images").iterdir())
    largest = _largest_row(table)

    def prepare() -> None:
        if args.cold and not drop_caches():
            raise SystemExit("--cold needs root (writing /proc/sys/vm/drop_caches)")

    def cp() -> object:
        target = fresh(args.work / "cp")
        prepare()
        return measure("cp -r + sync", ["sh", "-c", f"cp -r '{source}' '{target}' && sync"])

    def build() -> object:
        target = fresh(args.work / "n2p")
        prepare()
        command = (
            f"'{PYTHON}' -m nifti2parquet build '{table}' '{target}' --quiet "
            f"--workers {args.workers} && sync"
        )
        return measure(f"nifti2parquet build (w={args.workers})", ["sh", "-c", command])

    def hashes() -> object:
        prepare()
        script = HERE / "hash_floor.py"
        return measure(HASHES, [PYTHON, str(script), str(source / "images")])

    def datasets_route() -> object:
        target = fresh(args.work / "hf")
        prepare()
        script = HERE / "datasets_path.py"
        return measure(
            "datasets cast+embed+to_parquet",
            ["sh", "-c", f"'{PYTHON}' '{script}' '{table}' '{target}' && sync"],
        )

    def scan_build(scan: bool) -> object:
        prepare()
        return api_build(table, args.work / "n2p-api", args.workers, scan)

    steps = [("cp", cp), ("hashes", hashes), ("build", build)] + (
        [] if args.no_datasets else [("datasets", datasets_route)]
    )
    if args.privacy:
        steps += privacy_steps(scan_build)
    comparison = Comparison()
    interleave(args.rounds, steps, comparison)

    build_name = f"nifti2parquet build (w={args.workers})"
    n2p_shards = sorted((args.work / "n2p" / "data").iterdir())
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "cold_cache": args.cold,
        "data_bytes": data_bytes,
        "files": len(sizes),
        "shape": args.shape,
        "largest_row": largest,
        **comparison.results(),
        "build_over_cp": comparison.seconds(build_name) / comparison.seconds("cp -r + sync"),
        "hashes_over_cp": comparison.seconds(HASHES) / comparison.seconds("cp -r + sync"),
        "rss_bound": 2 * largest + 200_000_000,
        "n2p_shards": len(n2p_shards),
        "n2p_largest_shard": max(p.stat().st_size for p in n2p_shards),
    }
    print(
        f"\n{len(sizes)} images, {data_bytes / 1e9:.2f} GB, largest {largest / 1e6:.0f} MB, "
        f"{'cold' if args.cold else 'warm'} page cache, {args.rounds} rounds\n"
    )
    print(comparison.table(data_bytes))
    print(f"\nbuild / cp -r          {report['build_over_cp']:.2f}x   (target <= 1.5x)")
    print(f"hashes alone / cp -r   {report['hashes_over_cp']:.2f}x   (the floor with hashes on)")
    print(
        f"build peak RSS         {comparison.rss(build_name) / 1e6:.0f} MB   "
        f"(target <= 2 x largest row + 200 MB = {report['rss_bound'] / 1e6:.0f} MB)"
    )
    print(
        f"nifti2parquet shards   {len(n2p_shards)}, "
        f"largest {report['n2p_largest_shard'] / 1e6:.1f} MB"
    )
    if not args.no_datasets:
        hf_shards = sorted((args.work / "hf").iterdir())
        ratio = comparison.rss(build_name) / comparison.rss("datasets cast+embed+to_parquet")
        report.update(
            datasets_over_build=comparison.seconds("datasets cast+embed+to_parquet")
            / comparison.seconds(build_name),
            rss_over_datasets=ratio,
            datasets_shards=len(hf_shards),
            datasets_largest_shard=max(p.stat().st_size for p in hf_shards),
        )
        print(f"build RSS / datasets   {ratio:.2f}   (target <= 0.20)")
        print(
            f"datasets route shards  {len(hf_shards)}, "
            f"largest {report['datasets_largest_shard'] / 1e6:.1f} MB"
        )
    if args.privacy:
        report["privacy_scan"] = overhead = privacy_overhead(comparison)
        print_privacy(overhead)
    name = f"build-{args.size_gb}gb{suffix}-w{args.workers}{'-cold' if args.cold else ''}.json"
    write_result(HERE / "results" / name, report)


if __name__ == "__main__":
    main()
